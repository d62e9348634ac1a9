"""Tune the fusion weights on the dev queries of the shared suites.

Caches every query's per-article evidence once (dense cosine, BM25 relative to the best,
term coverage, signature, verbatim phrase share, identifier share), then replays the fusion
of kb/fusion.py - first stage, phrase and identifier features for the best RERANK, score
normalization, signatures - over a grid of weights in pure Python. Prints MRR@10 / R@1 per
suite for the current weights and for the grid, best first by the worst-suite MRR change.

    .venv/bin/python bench/tune_fusion.py [--suites alerts,logs,...]
"""

from __future__ import annotations

import argparse
import hashlib
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
from kb.config import Settings  # noqa: E402
from kb.core import KnowledgeBase  # noqa: E402
from kb.evaluate import load_queries  # noqa: E402
from kb.normalize import NORMALIZER_VERSION, normalize_query  # noqa: E402
from kb.phrases import phrase_hashes  # noqa: E402
from kb.results import Filters  # noqa: E402

SUITES = ["alerts", "alerts-openshift", "logs", "postmortems"]
Features = tuple[str, float, float, float, bool, float, float]  # id, dense, rel, cover, sig, phrase, ident


def features(suite: str) -> list[tuple[list[Features], set[str]]]:
    cache = Path(tempfile.gettempdir()) / f"kb-tune-{suite}-n{NORMALIZER_VERSION}.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    key = hashlib.sha1(str((CORPORA / suite).resolve()).encode()).hexdigest()[:12]
    kb = KnowledgeBase(Settings(articles=CORPORA / suite, index=Path(tempfile.gettempdir()) / f"kb-eval-{key}"))
    kb.build(log=lambda m: None)
    idx = kb.index()
    allowed = idx._allowed(Filters())
    rows = []
    for q in load_queries(CORPORA / suite / "queries.dev.jsonl"):
        norm = normalize_query(q.query)  # the query text only: `meta` is never read
        cands = idx._candidates(norm, q.query, allowed)
        qhash = phrase_hashes(norm.dense)
        idents = list(dict.fromkeys(i.lower() for i in norm.identifiers))
        arts = np.array([c.article for c in cands], dtype=np.int64)
        has = idx.lexical.presence(idents, arts).mean(axis=0) if idents else np.zeros(len(cands))
        rows.append(
            (
                [
                    (
                        idx.ids[c.article],
                        c.dense,
                        c.lexical_rel,
                        c.coverage,
                        bool(c.signature),
                        idx.phrases.overlap(qhash, c.article),
                        float(h),
                    )
                    for c, h in zip(cands, has, strict=True)
                ],
                set(q.relevant),
            )
        )
    cache.write_bytes(pickle.dumps(rows))
    return rows


def measure(
    rows: list[tuple[list[Features], set[str]]], wd: float, wl: float, wp: float, wi: float
) -> tuple[float, float]:
    """MRR@10 and R@1 of the fusion with these weights (the rest as in kb/fusion.py)."""
    span = fusion.DENSE_CEIL - fusion.DENSE_FLOOR
    total = r1 = 0.0
    for feats, relevant in rows:
        base = [wd * min(1.0, max(0.0, (f[1] - fusion.DENSE_FLOOR) / span)) + wl * f[2] * f[3] for f in feats]
        order = sorted(range(len(feats)), key=lambda i: -base[i])
        scored = []
        for rank, i in enumerate(order[: fusion.RERANK + 20]):
            f = feats[i]
            s = (base[i] + (wp * f[5] + wi * f[6] if rank < fusion.RERANK else 0.0)) / (wd + wl + wp + wi)
            if f[4]:
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
    current = (fusion.W_DENSE, fusion.W_LEXICAL, fusion.W_PHRASE, fusion.W_IDENT)
    now = {s: measure(rows, *current) for s, rows in data.items()}

    def line(label: str, per: dict[str, tuple[float, float]]) -> str:
        return label + "  " + "  ".join(f"{s[:10]} {m:.3f}/{r1:.3f}" for s, (m, r1) in per.items())

    print(line(f"current {current}", now))
    results = []
    for params in itertools.product([0.5, 0.6, 0.7, 0.8], [0.3, 0.4, 0.5], [0.2, 0.3, 0.4], [0.2, 0.3, 0.4]):
        per = {s: measure(rows, *params) for s, rows in data.items()}
        results.append((min(per[s][0] - now[s][0] for s in per), params, per))
    results.sort(key=lambda r: -r[0])
    for worst, params, per in results[:15]:
        print(line(f"{worst:+.3f} {params}", per))


if __name__ == "__main__":
    main()
