"""`kb stats`, `kb gaps` and `kb data`: what the journal (votes, the query log) shows, and its
export and purge."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from kb.cli.base import cli, settings_of, shared_options
from kb.core import KnowledgeBase

F = TypeVar("F", bound=Callable[..., Any])


def data_option(f: F) -> F:
    return click.option(
        "--data",
        "data_dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="KB_DATA",
        show_envvar=True,
        help="Where votes and the query log are kept [default ./var].",
    )(f)


def _kb(ctx: click.Context, data_dir: Path | None) -> KnowledgeBase:
    return KnowledgeBase(settings_of(ctx, data=data_dir))


def _ago(iso: str | None, now: dt.datetime | None = None) -> str:
    if not iso:
        return "never"
    days = ((now or dt.datetime.now(dt.UTC)) - dt.datetime.fromisoformat(iso)).days
    return "today" if days <= 0 else "yesterday" if days == 1 else f"{days} days ago"


@cli.command("stats")
@shared_options
@data_option
@click.option("--days", type=click.IntRange(1, 3650), default=30, show_default=True, help="The window, in days.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON (/api/v1/insights/summary).")
@click.pass_context
def stats_cmd(
    ctx: click.Context,
    articles: Path | None,
    index_dir: Path | None,
    data_dir: Path | None,
    days: int,
    as_json: bool,
) -> None:
    """Searches, matches, top articles, repeat issues and gaps of the last DAYS days.

    Example: kb stats --days 7
    """
    s = _kb(ctx, data_dir).insights(days).summary()
    if as_json:
        click.echo(json.dumps(s, ensure_ascii=False, indent=2))
        return
    t = s["totals"]
    click.echo(f"last {s['window']['days']} days: {_n(t['searches'], 'search')} in {_n(t['sessions'], 'session')}")
    click.echo(
        f"  no match {t['no_match_rate']:.0%}, failed (none, weak or searched again) {t['failed_rate']:.0%}, "
        f"{t['solved']} solved, {t['not_relevant']} not relevant"
    )
    if t["median_took_ms"] is not None:
        click.echo(f"  median answer in {t['median_took_ms']} ms")
    if s["top_articles"]:
        click.echo("\ntop articles (answered / solved, last seen):")
        for a in s["top_articles"]:
            click.echo(f"  {a['answered']:>5} / {a['solved']:<4} {a['id']}  ({_ago(a['last_seen'])})")
    if s["repeat_issues"]:
        click.echo("\nrepeat issues (sessions, searches):")
        for r in s["repeat_issues"]:
            answer = f" -> {r['answer']}" if r["answer"] else " -> no answer"
            click.echo(f"  {r['sessions']:>5} {r['searches']:>5}  {_short(r['example'])}{answer}")
    if s["gaps"]:
        click.echo("\ntop gaps (`kb gaps` for all):")
        for g in s["gaps"]:
            click.echo(
                f"  {g['sessions']:>5} {'session ' if g['sessions'] == 1 else 'sessions'}  {_short(g['examples'][0])}"
            )
    if s["stale_used"]:
        click.echo("\nstale articles still answering (review them first):")
        for a in s["stale_used"]:
            click.echo(f"  {a['answered']:>5}  {a['id']} (updated {a['updated'] or 'never'})")


def _short(text: str, n: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


@cli.command("gaps")
@shared_options
@data_option
@click.option("--days", type=click.IntRange(1, 3650), default=30, show_default=True, help="The window, in days.")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True, help="Gaps to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON (/api/v1/insights/gaps).")
@click.pass_context
def gaps_cmd(
    ctx: click.Context,
    articles: Path | None,
    index_dir: Path | None,
    data_dir: Path | None,
    days: int,
    limit: int,
    as_json: bool,
) -> None:
    """Problems people searched for that kb could not answer, most sessions first, each with
    the `kb new` command that turns it into a draft; then stale articles still answering.

    Example: kb gaps --days 7
    """
    analysis = _kb(ctx, data_dir).insights(days)
    gaps = [g.to_dict() for g in analysis.gaps(limit)]
    stale = analysis.stale_used()
    if as_json:
        click.echo(json.dumps({"days": days, "gaps": gaps, "stale_used": stale}, ensure_ascii=False, indent=2))
        return
    if not gaps:
        click.echo(f"no gaps in the last {days} days: every search found an answer")
    for n, g in enumerate(gaps, 1):
        reasons = ", ".join(f"{v} {k}" for k, v in sorted(g["reasons"].items()))
        click.echo(
            f"{n}. {g['title']}  ({_n(g['sessions'], 'session')}, {_n(g['searches'], 'search')}: {reasons}; "
            f"last {_ago(g['last_seen'])})"
        )
        for e in g["examples"]:
            click.echo(f"     {_short(e)}")
        if g["nearest"]:
            click.echo(f"   kb answered: {g['nearest']}")
        click.echo(f"   $ {g['command']}")
    if stale:
        click.echo("\nstale articles still answering (review them first):")
        for a in stale:
            click.echo(f"  {a['answered']:>5}  {a['id']} (updated {a['updated'] or 'never'})")


@cli.group("data")
def data_group() -> None:
    """Export or purge what the journal keeps (votes, the query log).

    Example: kb data export --out kb-journal.jsonl
    """


@data_group.command("export")
@data_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="A file instead of stdout.")
@click.pass_context
def export_cmd(ctx: click.Context, data_dir: Path | None, out: Path | None) -> None:
    """Every logged search and vote as JSON lines (`"kind": "search"|"vote"`), oldest first.

    Example: kb data export --out kb-journal.jsonl
    """
    rows = _kb(ctx, data_dir).export_data()
    n = 0
    if out is None:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
            n += 1
        return
    with out.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    click.echo(f"wrote {n} rows to {out}", err=True)


@data_group.command("purge")
@data_option
@click.option(
    "--before",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Delete searches and votes from before this day (YYYY-MM-DD, UTC).",
)
@click.pass_context
def purge_cmd(ctx: click.Context, data_dir: Path | None, before: dt.datetime) -> None:
    """Delete logged searches and votes older than a day.

    Example: kb data purge --before 2026-01-01
    """
    searches, votes = _kb(ctx, data_dir).purge_data(before.date())
    click.echo(f"deleted {searches} searches and {votes} votes from before {before.date().isoformat()}")


def _n(count: int, noun: str) -> str:
    """'1 search', '3 searches'."""
    plural = noun + ("es" if noun.endswith(("s", "sh", "ch")) else "s")
    return f"{count:,} {noun if count == 1 else plural}"
