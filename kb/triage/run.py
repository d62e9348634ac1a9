"""A triage end to end over a loaded index: mine the log (in a worker process when asked and
the log is big), then match every template - their texts embedded in one batch, signatures
tried on each raw example - and say which ones kb has no answer for."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from kb.triage.analysis import Analysis, Progress, analyse
from kb.triage.levels import NAMES, describe
from kb.triage.options import RESULTS, TriageOptions
from kb.triage.result import Triage, TriageTemplate

if TYPE_CHECKING:
    from kb.search import Index

ISOLATE_CHARS = 256 * 1024  # smaller logs are mined in the calling process: a worker costs ~0.1 s to start


def run_triage(
    index: Index,
    data: bytes | str,
    options: TriageOptions,
    *,
    limit: int,
    isolate: bool = False,
    progress: Progress | None = None,
    budget: float | None = None,
) -> Triage:
    """Triage a log against `index`. With `isolate`, a big log is mined in a worker process
    (killed past `budget` seconds); otherwise in this one (QueryTooComplex past the budget)."""
    started = time.perf_counter()
    if isolate and len(data) > ISOLATE_CHARS:
        from kb.triage.worker import analyse_isolated

        analysis: Analysis = analyse_isolated(data, options, limit, progress, budget or 3600.0)
    else:
        deadline = time.monotonic() + budget if budget else None
        analysis = analyse(data, options, limit, progress, deadline)
    mined = time.perf_counter()
    total = len(analysis.templates)

    def each(done: int) -> None:
        if progress:
            progress("matching", done, total)

    responses = index.search_many([t.example for t in analysis.templates], k=RESULTS, progress=each)
    templates = []
    for t, r in zip(analysis.templates, responses, strict=True):
        templates.append(
            TriageTemplate(
                template=t.template,
                count=t.count,
                level=NAMES.get(t.level, "info"),
                first_line=t.first_line,
                last_line=t.last_line,
                first_seen=t.first_seen,
                last_seen=t.last_seen,
                example=t.example,
                match=r.match,
                novel=r.novel,
                results=r.results,
                lines=t.lines,
                line_numbers=t.line_numbers,
                response=r,
            )
        )
    done = time.perf_counter()
    mine_ms = (mined - started) * 1000
    return Triage(
        lines=analysis.lines,
        records=analysis.records,
        kept=analysis.kept,
        levels=describe(options.levels),
        templates=templates,
        took_ms=round((done - started) * 1000, 1),
        read_ms=round(analysis.read_s * 1000, 1),
        mine_ms=round(max(0.0, mine_ms - analysis.read_s * 1000), 1),
        match_ms=round((done - mined) * 1000, 1),
        dropped=analysis.dropped,
        notes=analysis.notes,
    )
