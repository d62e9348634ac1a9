"""One pass over a log: read it, split it into records, keep those at the chosen levels and in
the time window, mine their templates. No index, no model: it runs in a worker process on a
server (kb/triage/worker.py) as well as in `kb triage` itself."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kb.errors import QueryTooComplex
from kb.triage.levels import ALL_LEVELS, describe
from kb.triage.mining import Group, Miner
from kb.triage.options import TriageOptions
from kb.triage.reading import LogText, decode, decompress, too_large
from kb.triage.records import Record, split
from kb.triage.times import parse_time

Progress = Callable[[str, int, int], None]  # (phase, done, total)
EXAMPLE_LINES = 60
EXAMPLE_CHARS = 8000
PROGRESS_EVERY = 8192  # records


@dataclass
class MinedTemplate:
    """One template as mined, before kb matches it."""

    template: str
    count: int  # records
    level: int
    first_line: int  # 1-based input line where its first record starts
    last_line: int  # and where its last one starts
    first_seen: str | None
    last_seen: str | None
    example: str  # its first record, as logged (JSON records: message, error and stack)
    lines: int = 0  # input lines its records span
    line_numbers: list[int] | None = None


@dataclass
class Analysis:
    """A log mined: its counts, its templates (most severe, then most frequent, first) and notes."""

    lines: int
    records: int
    kept: int  # records at the chosen levels and in the time window
    templates: list[MinedTemplate]
    dropped: int = 0  # records that fit no template past the cap
    below_min: int = 0  # templates left out by min_count
    notes: list[str] = field(default_factory=list)
    read_s: float = 0.0
    mine_s: float = 0.0


def analyse(
    data: bytes | str,
    options: TriageOptions,
    limit: int,
    progress: Progress | None = None,
    deadline: float | None = None,
) -> Analysis:
    """Mine a log's templates; past `deadline` (time.monotonic()) QueryTooComplex."""
    started = time.perf_counter()
    if len(data) > limit:
        raise too_large(limit)
    log = decode(decompress(data, limit) if isinstance(data, bytes) else data)
    read_s = time.perf_counter() - started
    miner = Miner(options.max_templates, keep_lines=options.line_numbers)
    window = options.since is not None or options.until is not None
    records = kept = untimed = 0
    when: dt.datetime | None = None
    total = len(log.lines)
    for rec in split(log.lines):
        records += 1
        if records % PROGRESS_EVERY == 0:
            if deadline is not None and time.monotonic() > deadline:
                raise QueryTooComplex(
                    f"the triage took too long and stopped at line {log.number(rec.last):,} of {log.input_lines:,}"
                    " - triage a part of the log (--since/--until, or its end)"
                )
            if progress:
                progress("mining", rec.last + 1, total)
        if rec.level not in options.levels:
            continue
        if window:
            seen = parse_time(rec.ts) if rec.ts is not None else None
            when = seen or when
            if when is None:
                untimed += 1
            elif (options.since and when < options.since) or (options.until and when > options.until):
                continue
        kept += 1
        miner.add(rec)
    if progress:
        progress("mining", total, total)
    result = Analysis(log.input_lines, records, kept, [], miner.dropped, notes=log.notes, read_s=read_s)
    for g in miner.templates():
        if g.count < options.min_count:
            result.below_min += 1
            continue
        result.templates.append(_template(g, log, options.line_numbers))
    result.templates.sort(key=lambda t: (-t.level, -t.count, t.first_line))
    _notes(result, miner, options, untimed)
    result.mine_s = time.perf_counter() - started - read_s
    return result


def _template(g: Group, log: LogText, line_numbers: bool) -> MinedTemplate:
    numbers = None
    if line_numbers:
        seen: set[int] = set()
        for first, last in zip(g.starts, g.ends, strict=True):
            seen.update(log.number(i) for i in range(first, last + 1))
        numbers = sorted(seen)
    return MinedTemplate(
        template=g.template,
        count=g.count,
        level=g.level,
        first_line=log.number(g.example.first),
        last_line=log.number(g.last.first),
        first_seen=_when(g.example),
        last_seen=_when(g.last),
        example=example_text(g.example, log),
        lines=g.lines,
        line_numbers=numbers,
    )


def example_text(rec: Record, log: LogText) -> str:
    """A record as logged, at most EXAMPLE_LINES lines and EXAMPLE_CHARS characters."""
    if rec.text is not None:
        text = rec.text
    else:
        text = "\n".join(log.lines[rec.first : min(rec.last, rec.first + EXAMPLE_LINES - 1) + 1])
    return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS] + "…"


def _when(rec: Record) -> str | None:
    if rec.ts is None:
        return None
    parsed = parse_time(rec.ts)
    return parsed.isoformat(timespec="milliseconds") + "Z" if parsed else str(rec.ts)


def _notes(result: Analysis, miner: Miner, options: TriageOptions, untimed: int) -> None:
    if miner.dropped:
        result.notes.append(
            f"the template cap ({options.max_templates:,}) was reached: {miner.dropped:,} records "
            f"({miner.dropped_lines:,} lines) like none of those templates were dropped"
        )
    if result.below_min:
        result.notes.append(f"{result.below_min:,} templates seen fewer than {options.min_count:,} times are not shown")
    if untimed:
        result.notes.append(f"{untimed:,} records have no timestamp kb can read: kept whatever the time window")
    if not result.kept:
        window = " in that time window" if options.since or options.until else ""
        result.notes.append(
            f"no records at the chosen levels ({describe(options.levels)}){window} among {result.records:,} records"
            + (" - choose all levels to see them (--levels all, levels=all)" if options.levels != ALL_LEVELS else "")
        )
