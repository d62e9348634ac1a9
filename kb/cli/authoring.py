"""`kb new` and `kb check`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kb.articles import TYPE_ALIASES, TYPES
from kb.cli.base import cli, read_stdin, settings_of, shared_options
from kb.core import KnowledgeBase


@cli.command("new")
@shared_options
@click.argument("kind", metavar="TYPE", type=click.Choice([*TYPES, *TYPE_ALIASES]))
@click.argument("title")
@click.option("--service", "services", multiple=True, help="A service it is about (repeatable).")
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable).")
@click.option(
    "--from-query",
    "query",
    metavar="TEXT|-",
    default=None,
    help="A pasted error ('-' reads stdin): pre-fills the error section and a signature.",
)
@click.pass_context
def new_cmd(
    ctx: click.Context,
    articles: Path | None,
    index_dir: Path | None,
    kind: str,
    title: str,
    services: tuple[str, ...],
    tags: tuple[str, ...],
    query: str | None,
) -> None:
    """Write a new TYPE article titled TITLE from its template and print its path.

    The file is articles/<type folder>/<today>-<slug>.md; an existing file is never overwritten.
    A template in articles/.templates/<type>.md replaces the built-in one.

    Example: kb new postmortem "Checkout 502s after LB cert rotation" --service checkout
    """
    text = read_stdin() if query == "-" else query
    kind = TYPE_ALIASES.get(kind, kind)
    path = KnowledgeBase(settings_of(ctx)).new_article(kind, title, services, tags, text)
    click.echo(str(path))
    click.echo(f"a draft, hidden from search: write it, `kb check {path}`, then set `status: published`", err=True)


@cli.command("check")
@shared_options
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: `path:line: code message` lines; json: one object for tools.",
)
@click.option(
    "--similar/--no-similar",
    default=True,
    show_default=True,
    help="Warn about near-duplicate articles (uses the index's vectors, else the model).",
)
@click.option(
    "--stale",
    "stale_days",
    type=click.IntRange(min=0),
    metavar="DAYS",
    default=None,
    help="Instead of checking, list published articles not updated in DAYS days, with owners.",
)
@click.pass_context
def check_cmd(
    ctx: click.Context,
    articles: Path | None,
    index_dir: Path | None,
    paths: tuple[Path, ...],
    fmt: str,
    similar: bool,
    stale_days: int | None,
) -> None:
    """Validate articles (all, or only PATHs against the whole KB); exit 1 on errors.

    Prints one `path:line: code message` line per problem; codes starting with E are errors,
    with W warnings (exit 0 when there are only warnings).

    Example: kb check articles/postmortems/2025-03-14-checkout-502-lb-cert-rotation.md
    """
    kb = KnowledgeBase(settings_of(ctx))
    report = kb.stale(stale_days) if stale_days is not None else kb.check(list(paths), similar=similar)
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        for p in report.problems:
            click.echo(str(p))
        click.echo(f"{report.errors} error(s), {report.warnings} warning(s)", err=True)
    ctx.exit(1 if report.errors else 0)
