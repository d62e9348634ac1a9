"""A/B two source trees of kb on one knowledge base, in one run: search latency in-process.

Each tree builds its own index of ARTICLES (once, kept in bench/out/ab-*), then the trees take
turns: every round starts a fresh process per tree that warms up and times the same distinct
short queries and 2 KB stack traces, with KnowledgeBase(..., lone_threads=cores) as `kb serve`
runs it. Alternating rounds cancel most of this machine's minute-to-minute drift; compare the
medians of the rounds. Uses only the public library API, so any two revisions can be compared:

    git worktree add /tmp/kb-old <commit>
    .venv/bin/python bench/ab.py /tmp/kb-old . ARTICLES [--rounds 4]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT / "bench"))

from run import TRACE, short_queries  # noqa: E402

CHILD = r"""
import json, os, statistics, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from kb.config import Settings
from kb.core import KnowledgeBase
articles, index, mode = Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
settings = Settings(articles=articles, index=index, reload_interval=3600.0)
if mode == "build":
    KnowledgeBase(settings).build(log=lambda m: None, progress=False)
    raise SystemExit(0)
queries = json.loads(sys.stdin.read())
kb = KnowledgeBase(settings, lone_threads=os.cpu_count() or 1)
for q in queries["short"][:30] + queries["trace"][:3]:
    kb.search(q, k=10)
out = {}
for name, qs in queries.items():
    times = []
    for q in qs:
        t = time.perf_counter()
        kb.search(q, k=10)
        times.append((time.perf_counter() - t) * 1000)
    out[name] = times
print(json.dumps(out))
"""


def run(tree: Path, articles: Path, index: Path, mode: str, payload: str = "") -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(tree), str(articles), str(index), mode],
        input=payload,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode:
        raise SystemExit(f"{tree} {mode} failed:\n{out.stderr}")
    return out.stdout


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("articles", type=Path)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--queries", type=int, default=300)
    args = ap.parse_args()
    trees = [args.a.resolve(), args.b.resolve()]
    key = hashlib.sha1(str(args.articles.resolve()).encode()).hexdigest()[:8]
    indexes = [OUT / f"ab-{key}-{hashlib.sha1(str(t).encode()).hexdigest()[:8]}" for t in trees]
    for tree, index in zip(trees, indexes, strict=True):
        run(tree, args.articles.resolve(), index, "build")
    payload = json.dumps({"short": short_queries(args.queries), "trace": [TRACE] * 40})
    medians: dict[int, dict[str, list[float]]] = {0: {}, 1: {}}
    for r in range(args.rounds):
        for i in (0, 1) if r % 2 == 0 else (1, 0):
            times = json.loads(run(trees[i], args.articles.resolve(), indexes[i], "time", payload))
            for name, vals in times.items():
                medians[i].setdefault(f"{name} p50", []).append(statistics.median(vals))
                medians[i].setdefault(f"{name} p99", []).append(pct(vals, 0.99))
            print(
                f"round {r + 1} {trees[i].name or trees[i]}: "
                + ", ".join(f"{n} p50 {statistics.median(v):.2f} ms" for n, v in times.items()),
                flush=True,
            )
    print(f"\n{args.articles}: median over {args.rounds} rounds (ms)")
    for metric in medians[0]:
        a, b = statistics.median(medians[0][metric]), statistics.median(medians[1][metric])
        print(f"  {metric:10s}  A {a:7.2f}   B {b:7.2f}   B/A {b / a:.3f}")


if __name__ == "__main__":
    main()
