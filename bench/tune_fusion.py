"""Tune the fusion weights on the dev queries of the shared suites.

Caches every query's per-article channel evidence once (the expensive part), then scores
fusion variants over a small grid in pure Python. Prints MRR@10 and R@1 per suite for each
variant, best first by the worst-suite margin over the better single channel.

    .venv/bin/python bench/tune_fusion.py [--suites alerts,logs,...]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import pickle
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ROOT.parent / "shared" / "corpora"
sys.path.insert(0, str(ROOT))

from kb import fusion  # noqa: E402
from kb.config import Settings  # noqa: E402
from kb.core import KnowledgeBase  # noqa: E402
from kb.evaluate import load_queries  # noqa: E402
from kb.normalize import normalize_query  # noqa: E402
from kb.search import Filters  # noqa: E402

SUITES = ["alerts", "alerts-openshift", "logs", "postmortems"]


def features(suite: str) -> list[tuple[list, set, str]]:
    cache = Path(tempfile.gettempdir()) / f"kb-tune-{suite}.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    key = hashlib.sha1(str((CORPORA / suite).resolve()).encode()).hexdigest()[:12]
    settings = Settings(articles=CORPORA / suite, index=Path(tempfile.gettempdir()) / f"kb-eval-{key}")
    kb = KnowledgeBase(settings)
    try:
        idx = kb.index()
    except Exception:
        kb.build(log=lambda m: None)
        idx = kb.index()
    rows = []
    allowed = idx._allowed(Filters())
    for q in load_queries(CORPORA / suite / "queries.dev.jsonl"):
        norm = normalize_query(q.query)
        cands = idx._candidates(norm, q.query, allowed)
        rows.append(([(idx.ids[c.article], c.dense, c.lexical, c.lexical_rel, c.coverage, bool(c.signature),
                       len(norm.identifiers)) for c in cands], q.relevant, q.variant))
    cache.write_bytes(pickle.dumps(rows))
    return rows


def mrr(rows, score) -> tuple[float, float]:
    total = r1 = 0.0
    for cands, rel, _ in rows:
        ranked = sorted(cands, key=lambda c: -score(c))[:10]
        for i, c in enumerate(ranked):
            if c[0] in rel:
                total += 1 / (i + 1)
                r1 += i == 0
                break
    return total / len(rows), r1 / len(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--suites", default=",".join(SUITES))
    args = ap.parse_args()
    data = {s: features(s) for s in args.suites.split(",")}
    base = {}
    for s, rows in data.items():
        lex = mrr(rows, lambda c: c[2])
        dense = mrr(rows, lambda c: c[1] if c[1] > -1 else -9)
        base[s] = max(lex[0], dense[0])
        print(f"{s:<18} lexical MRR {lex[0]:.3f} R@1 {lex[1]:.3f}   dense MRR {dense[0]:.3f} R@1 {dense[1]:.3f}")

    def make(w, floor, ceil, lex_pow, cov_pow):
        def score(c):
            d = min(1.0, max(0.0, (c[1] - floor) / (ceil - floor)))
            lx = (c[3] ** lex_pow) * (c[4] ** cov_pow)
            return w * d + (1 - w) * lx + (1.0 if c[5] else 0.0)
        return score

    results = []
    grid = itertools.product([0.3, 0.4, 0.5, 0.6], [0.0, 0.15, 0.3], [0.85, 1.0], [0.5, 1.0, 2.0], [0.0, 0.5, 1.0])
    for params in grid:
        f = make(*params)
        per = {s: mrr(rows, f) for s, rows in data.items()}
        worst = min(per[s][0] - base[s] for s in per)
        results.append((worst, params, per))
    results.sort(key=lambda r: -r[0])
    cur = (fusion.W_DENSE, fusion.DENSE_FLOOR, fusion.DENSE_CEIL, 1.0, 1.0)
    for worst, params, per in results[:12] + [(None, cur, {s: mrr(rows, make(*cur)) for s, rows in data.items()})]:
        cells = "  ".join(f"{s[:10]} {m:.3f}/{r1:.3f}" for s, (m, r1) in per.items())
        print(f"{'current' if worst is None else f'{worst:+.3f}'}  w={params[0]} floor={params[1]} ceil={params[2]} "
              f"lexpow={params[3]} covpow={params[4]}  {cells}")
    json.dump([[w, p] for w, p, _ in results[:5]], sys.stdout)
    print()


if __name__ == "__main__":
    main()
