"""Calibrate the confidence thresholds from `kb eval --json` outputs.

In-suite dev queries give (top score, right at rank 1) pairs; queries of the *other* suites,
asked of each knowledge base, stand in for "never seen before" pastes. Prints, for candidate
thresholds, the precision of `strong`, the share of right answers that `none` would hide and
the share of foreign queries that `none` catches.

    .venv/bin/python bench/calibrate.py /tmp/eval-alerts.json ...   (after bench/quality.py)
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb.config import Settings  # noqa: E402
from kb.core import KnowledgeBase  # noqa: E402
from kb.evaluate import load_queries  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"
SUITES = ["alerts", "alerts-openshift", "logs", "postmortems"]


def index_of(suite: str) -> Path:
    for m in Path("/tmp").glob("kb-eval-*/gen-*/manifest.json"):
        if json.loads(m.read_text())["articles_dir"].endswith("/" + suite):
            return m.parent.parent
    raise SystemExit(f"no index for {suite}: run bench/quality.py first")


def main() -> None:
    out = ROOT / "bench" / "out"
    points = {s: json.loads((out / f"quality-{s}.json").read_text())["calibration"]["points"] for s in SUITES}
    rng = random.Random(7)
    foreign: dict[str, list[tuple[float, bool]]] = {}
    for s in SUITES:
        idx = KnowledgeBase(Settings(index=index_of(s))).index()
        others = [
            q
            for o in SUITES
            if o != s and not (o.startswith("alerts") and s.startswith("alerts"))
            for q in load_queries(CORPORA / o / "queries.dev.jsonl")
        ]
        sample = rng.sample(others, min(150, len(others)))
        foreign[s] = []
        for q in sample:
            r = idx.search(q.query, k=1)
            foreign[s].append((r.results[0].score if r.results else 0.0, r.novel))
    allp = [p for s in SUITES for p in points[s]]
    print("strong threshold: pooled precision / per-suite precision / pooled share")
    for t in [0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75]:
        sel = [c for sc, c in allp if sc >= t]
        per = " ".join(
            f"{s[:8]}={sum(c for sc, c in points[s] if sc >= t) / max(1, sum(sc >= t for sc, _ in points[s])):.2f}"
            for s in SUITES
        )
        print(f"  {t:.2f}: {sum(sel) / max(1, len(sel)):.3f}  {per}  share={len(sel) / len(allp):.2f}")
    print("none threshold: right answers hidden (pooled, worst suite) / foreign queries caught (mean)")
    for t in [0.1, 0.15, 0.2, 0.25, 0.3, 0.35]:
        hidden = [sum(c and sc < t for sc, c in points[s]) / len(points[s]) for s in SUITES]
        pooled = sum(c and sc < t for sc, c in allp) / len(allp)
        caught = sum(sum(sc < t for sc, _ in foreign[s]) / len(foreign[s]) for s in SUITES) / len(SUITES)
        print(f"  {t:.2f}: hidden pooled={pooled:.3f} worst={max(hidden):.3f}  foreign caught={caught:.3f}")
    print(
        "novel flag on foreign queries:",
        " ".join(f"{s}={sum(n for _, n in foreign[s]) / len(foreign[s]):.2f}" for s in SUITES),
    )
    print(
        "foreign top scores p50/p90:",
        " ".join(
            f"{s}={sorted(x for x, _ in foreign[s])[len(foreign[s]) // 2]:.2f}/"
            f"{sorted(x for x, _ in foreign[s])[int(len(foreign[s]) * 0.9)]:.2f}"
            for s in SUITES
        ),
    )


if __name__ == "__main__":
    main()
