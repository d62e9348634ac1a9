"""Calibrate the confidence words on the four shared suites.

For each suite, its own dev queries give (top score, lead over the second, right at rank 1);
queries of the *other* suites, asked of the same knowledge base, stand in for "never seen
before" pastes. Prints, for the thresholds in kb/fusion.py and for a grid around them, the
precision and share of `strong` per suite, the share of right answers that `match: none` hides,
and the share of foreign queries it catches. The eval indexes are the ones `make bench-quality`
builds (KnowledgeBase.scratch), built here when missing.

    .venv/bin/python bench/calibrate.py
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb import fusion  # noqa: E402
from kb.config import Settings  # noqa: E402
from kb.core import KnowledgeBase  # noqa: E402
from kb.evaluate import load_queries  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"
SUITES = ["alerts", "alerts-openshift", "logs", "postmortems"]
Point = tuple[float, float, bool, bool]  # top score, lead over the second, signature matched, right at rank 1


def collect() -> tuple[dict[str, list[Point]], dict[str, list[Point]]]:
    rng = random.Random(7)
    own: dict[str, list[Point]] = {}
    foreign: dict[str, list[Point]] = {}
    for s in SUITES:
        kb = KnowledgeBase.scratch(Settings(articles=(CORPORA / s).resolve()))
        kb.build(log=lambda m: None)
        idx = kb.index()

        def point(query: str, relevant: set[str], idx=idx) -> Point:  # noqa: ANN001 - bound per suite
            res = idx.search(query, k=2).results
            top = res[0].score if res else 0.0
            second = res[1].score if len(res) > 1 else 0.0
            return top, top - second, bool(res and res[0].signature), bool(res) and res[0].id in relevant

        own[s] = [point(q.query, q.relevant) for q in load_queries(CORPORA / s / "queries.dev.jsonl")]
        others = [
            q
            for o in SUITES
            if o != s and not (o.startswith("alerts") and s.startswith("alerts"))
            for q in load_queries(CORPORA / o / "queries.dev.jsonl")
        ]
        foreign[s] = [point(q.query, set()) for q in rng.sample(others, min(300, len(others)))]
        print(f"{s}: {len(own[s])} own, {len(foreign[s])} foreign queries", flush=True)
    return own, foreign


def strong(p: Point, score: float, lead_from: float, lead: float) -> bool:
    return p[2] or p[0] >= score or (p[0] >= lead_from and p[1] >= lead)


def report(own: dict[str, list[Point]], score: float, lead_from: float, lead: float) -> str:
    parts = []
    for s in SUITES:
        chosen = [p for p in own[s] if strong(p, score, lead_from, lead)]
        precision = sum(p[3] for p in chosen) / max(1, len(chosen))
        parts.append(f"{s[:10]} {precision:.3f}/{len(chosen) / len(own[s]):.2f}")
    return "  ".join(parts)


def main() -> None:
    own, foreign = collect()
    print("\nstrong (precision at rank 1 / share of queries), per suite:")
    current = (fusion.STRONG, fusion.POSSIBLE, fusion.STRONG_LEAD)
    print(f"  kb/fusion.py {current}: {report(own, *current)}")
    print(f"  score only ({fusion.STRONG}):     {report(own, fusion.STRONG, 2.0, 2.0)}")
    for score in (0.45, 0.5, 0.55, 0.6):
        for lead in (0.15, 0.2, 0.25, 0.3):
            print(
                f"  score {score:.2f} or lead {lead:.2f} from {fusion.POSSIBLE:.2f}: "
                f"{report(own, score, fusion.POSSIBLE, lead)}"
            )
    print("\nmatch none below T: right answers hidden (worst suite) / foreign queries caught (mean, worst):")
    for t in (0.2, 0.22, 0.24, 0.25, 0.28):
        hidden = max(sum(p[3] and p[0] < t and not p[2] for p in own[s]) / len(own[s]) for s in SUITES)
        caught = [sum(p[0] < t and not p[2] for p in foreign[s]) / len(foreign[s]) for s in SUITES]
        mark = "  <- kb/fusion.py" if abs(t - fusion.NONE_BELOW) < 1e-9 else ""
        print(f"  {t:.2f}: hidden {hidden:.3f}  caught {sum(caught) / len(caught):.3f} (worst {min(caught):.3f}){mark}")
    novel = [sum(p[0] < fusion.NOVEL_BELOW and not p[2] for p in foreign[s]) / len(foreign[s]) for s in SUITES]
    print(
        f"\nnovel (top under {fusion.NOVEL_BELOW}) on foreign queries: "
        + " ".join(f"{s}={v:.2f}" for s, v in zip(SUITES, novel, strict=True))
    )


if __name__ == "__main__":
    main()
