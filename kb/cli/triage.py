"""`kb triage`."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import click

from kb.cli.base import cli, settings_of, shared_options
from kb.core import KnowledgeBase
from kb.journal import Origin
from kb.triage.options import TriageOptions
from kb.triage.reading import MAX_CLI_BYTES, read_files
from kb.triage.result import Triage

BAR_FROM = 1_000_000  # bytes: smaller logs are triaged before a bar would show


@cli.command("triage")
@shared_options
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="JSON lines, one per template.")
@click.option(
    "--levels",
    default="error,warn",
    show_default=True,
    help="Levels to keep: a list of fatal, error, warn, info, debug, or all (error keeps fatal too).",
)
@click.option("--min-count", type=click.IntRange(min=1), default=1, show_default=True, help="Hide rarer templates.")
@click.option("--since", help="Only records from then on (ISO date or time, UTC unless it says).")
@click.option("--until", help="Only records until then (ISO date or time).")
@click.option("--line-numbers", is_flag=True, help="With --json: every input line of each template.")
@click.pass_context
def triage_cmd(
    ctx: click.Context,
    articles: Path | None,
    index_dir: Path | None,
    files: tuple[str, ...],
    as_json: bool,
    levels: str,
    min_count: int,
    since: str | None,
    until: str | None,
    line_numbers: bool,
) -> None:
    """Triage a whole log: one line per distinct problem, each with its known issue.

    Reads FILE... (gzip too; several are one log, in order) or stdin (`-`, or no FILE), up to
    50 MB. Templates are sorted by severity, then count; novel ones are kb's gaps.

    Example: kubectl logs orders-api-7d9f | kb triage -
    """
    options = TriageOptions.parse(levels, min_count, since, until, line_numbers)
    kb = KnowledgeBase(settings_of(ctx))
    kb.index()  # no index: say so before reading the log
    started = time.perf_counter()
    data = read_files(list(files), sys.stdin.buffer if hasattr(sys.stdin, "buffer") else _BytesIn(), MAX_CLI_BYTES)
    read_s = time.perf_counter() - started
    user = getpass.getuser()
    origin = Origin("triage", user, f"cli:{user}:{os.getppid()}")
    with _Bar(len(data) >= BAR_FROM) as bar:
        result = kb.triage(data, options, origin=origin, progress=bar.update)
    result.read_ms = round(result.read_ms + read_s * 1000, 1)
    result.took_ms = round(result.took_ms + read_s * 1000, 1)
    kb.flush()
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if as_json:
        for t in result.templates:
            click.echo(json.dumps(t.to_dict(), ensure_ascii=False))
        return
    width = shutil.get_terminal_size((120, 24)).columns if sys.stdout.isatty() else 100_000  # a file: whole templates
    click.echo(format_triage(result, width=width))


class _BytesIn:
    """stdin for a test runner without a binary buffer."""

    def read(self, n: int) -> bytes:
        return sys.stdin.read(n).encode()


class _Bar:
    """A progress bar on stderr (a terminal only) for mining, then for matching."""

    def __init__(self, wanted: bool) -> None:
        self.on = wanted and sys.stderr.isatty()
        self.bar: Any = None
        self.phase = ""

    def __enter__(self) -> _Bar:
        return self

    def update(self, phase: str, done: int, total: int) -> None:
        if not self.on:
            return
        from tqdm import tqdm

        if phase != self.phase:
            if self.bar is not None:
                self.bar.close()
            unit = "lines" if phase == "mining" else "templates"
            self.bar = tqdm(total=total, desc=phase, unit=unit, file=sys.stderr, leave=False, unit_scale=True)
            self.phase = phase
        self.bar.update(done - self.bar.n)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def format_triage(r: Triage, width: int = 120) -> str:
    """A header, then one row per template: level, count, lines, kb's answer, the template."""
    split = f"read {r.read_ms / 1000:.2f} s, mine {r.mine_ms / 1000:.2f} s, match {r.match_ms / 1000:.2f} s"
    head = (
        f"{_n(r.lines, 'line')}, {_n(r.records, 'record')}, {r.kept:,} at {r.levels}: "
        f"{_n(len(r.templates), 'template')} in {r.took_ms / 1000:.1f} s ({split})"
    )
    if not r.templates:
        return head
    rows = [("LEVEL", "COUNT", "LINES", "ANSWER", "TEMPLATE")]
    for t in r.templates:
        best = t.best
        if t.novel or best is None:
            answer = "NEW - no known issue"
        elif t.match in ("none", "weak"):
            answer = f"{t.match} (nearest {best.id})"
        else:
            answer = f"{best.confidence} {best.id}"
        span = f"{t.first_line:,}" if t.first_line == t.last_line else f"{t.first_line:,}-{t.last_line:,}"
        rows.append((t.level.upper(), f"{t.count:,}", span, answer, " ".join(t.template.split())))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    widths[3] = min(widths[3], 60)
    out = [head, ""]
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].ljust(widths[2]), _cut(row[3], widths[3])]
        line = "  ".join(cells)
        room = max(20, width - len(line) - 2)
        out.append(f"{line}  {_cut(row[4], room)}".rstrip())
    novel = len(r.novel)
    if novel:
        out += [
            "",
            f"{novel} template{'s' if novel != 1 else ''} kb has no answer for: write one up with "
            "`kb new known-issue TITLE --from-query -` (the example is in `kb triage --json`)",
        ]
    return "\n".join(out)


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'s' if count != 1 else ''}"


def _cut(text: str, width: int) -> str:
    return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"
