"""Tune the fusion weights on the dev queries of the shared suites.

Caches every query's per-article evidence once (every channel's 0..1 score and whether a
signature matched), then replays the fusion of kb/fusion.py - first stage, the re-ranking
channels for the best RERANK, score normalization, signatures - over a grid of the channel
weights in pure Python. Prints MRR@10 / R@1 per
suite for the current weights and for the grid, best first by the worst-suite MRR change.

    .venv/bin/python bench/tune_fusion.py [--suites alerts,logs,...]
"""

from __future__ import annotations

import argparse
import itertools
import pickle
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ROOT.parent / "shared" / "corpora"
sys.path.insert(0, str(ROOT))

from kb import fusion  # noqa: E402
from kb.channels import Query  # noqa: E402
from kb.config import Settings  # noqa: E402
from kb.core import KnowledgeBase  # noqa: E402
from kb.evaluate import load_queries  # noqa: E402
from kb.normalize import NORMALIZER_VERSION, normalize_query  # noqa: E402
from kb.results import Filters  # noqa: E402
from kb.search import CHANNELS  # noqa: E402

SUITES = ["alerts", "alerts-openshift", "logs", "postmortems"]
TUNED = ("dense", "lexical", "phrases", "identifiers")  # the weights the grid moves
Features = tuple[str, dict[str, float], bool]  # article id, each channel's 0..1 score, signature matched


def features(suite: str) -> list[tuple[list[Features], set[str]]]:
    """Every candidate of every dev query with every channel's score (re-ranking ones included)."""
    cache = Path(tempfile.gettempdir()) / f"kb-tune-{suite}-n{NORMALIZER_VERSION}-c.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    kb = KnowledgeBase.scratch(Settings(articles=CORPORA / suite))
    kb.build(log=lambda m: None)
    idx = kb.index()
    allowed = idx._allowed(Filters())
    first = [ch.name for ch in idx.channels if not ch.rerank]
    rows = []
    for q in load_queries(CORPORA / suite / "queries.dev.jsonl"):
        norm = normalize_query(q.query)  # the query text only: `meta` is never read
        hits = {ch.name: ch.candidates(Query(q.query, norm), allowed) for ch in idx.channels}
        arts = np.unique(np.concatenate([hits[n].proposed for n in first]))
        scores = {name: h.scores(arts).tolist() for name, h in hits.items()}
        signed = set(hits["signatures"].proposed.tolist())
        feats = [
            (idx.ids[a], {name: float(v[i]) for name, v in scores.items()}, a in signed)
            for i, a in enumerate(arts.tolist())
        ]
        rows.append((feats, set(q.relevant)))
    cache.write_bytes(pickle.dumps(rows))
    return rows


def measure(rows: list[tuple[list[Features], set[str]]], weights: dict[str, float]) -> tuple[float, float]:
    """MRR@10 and R@1 of the fusion with these weights (the rest as in kb/fusion.py)."""
    rerank = {c.name for c in CHANNELS if c.rerank}
    total_w = sum(weights.values())
    total = r1 = 0.0
    for feats, relevant in rows:
        base = [sum(w * f[1][n] for n, w in weights.items() if n not in rerank) for f in feats]
        order = sorted(range(len(feats)), key=lambda i: -base[i])
        scored = []
        for rank, i in enumerate(order[: fusion.RERANK + 20]):
            f = feats[i]
            extra = sum(weights[n] * f[1][n] for n in rerank) if rank < fusion.RERANK else 0.0
            s = (base[i] + extra) / total_w
            if f[2]:
                s = max(s, fusion.SIGNATURE_SCORE) + 0.01 * s
            scored.append((-s, f[0]))
        scored.sort()
        for k, (_, art) in enumerate(scored[:10]):
            if art in relevant:
                total += 1 / (k + 1)
                r1 += k == 0
                break
    return total / len(rows), r1 / len(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--suites", default=",".join(SUITES))
    args = ap.parse_args()
    data = {s: features(s) for s in args.suites.split(",")}
    current = tuple(fusion.WEIGHTS[n] for n in TUNED)
    now = {s: measure(rows, dict(zip(TUNED, current, strict=True))) for s, rows in data.items()}

    def line(label: str, per: dict[str, tuple[float, float]]) -> str:
        return label + "  " + "  ".join(f"{s[:10]} {m:.3f}/{r1:.3f}" for s, (m, r1) in per.items())

    print(line(f"current {current}", now))
    results = []
    for params in itertools.product([0.5, 0.6, 0.7, 0.8], [0.3, 0.4, 0.5], [0.2, 0.3, 0.4], [0.2, 0.3, 0.4]):
        per = {s: measure(rows, dict(zip(TUNED, params, strict=True))) for s, rows in data.items()}
        results.append((min(per[s][0] - now[s][0] for s in per), params, per))
    results.sort(key=lambda r: -r[0])
    for worst, params, per in results[:15]:
        print(line(f"{worst:+.3f} {params}", per))


if __name__ == "__main__":
    main()
