"""`make bench-journal`: what logging a search costs the search (target: p50 +0.2 ms at most).

In one process over the repository's articles: blocks of searches with the query log on (an
origin given: the search is handed to the writer thread, which masks, hashes and writes it to
a real journal.sqlite) and off, alternated so both see the same machine, the writer's work of
one block free to spill into the next as it would in a server. Then what logging adds to the
search's own thread (`KnowledgeBase._log`), and the writer's throughput.

    .venv/bin/python bench/journal.py [ARTICLES] [--rounds 20] [--block 100]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUERIES = [
    "FATAL: remaining connection slots are reserved for non-replication superuser connections",
    "dial tcp: lookup orders-db.internal: no such host",
    "x509: certificate has expired or is not yet valid",
    "OOMKilled exit code 137 in checkout pod",
    "ERROR write failed: No space left on device while writing /var/lib/app/cache/12.tmp",
    "kafka consumer group rebalancing, CommitFailedException",
    "upstream timed out (110: Connection timed out) while reading response header from upstream",
    "redis OOM command not allowed when used memory > 'maxmemory' token=abcd1234efgh5678",
]


def main() -> int:
    from kb.config import Settings
    from kb.core import KnowledgeBase
    from kb.journal import Origin

    p = argparse.ArgumentParser()
    p.add_argument("articles", nargs="?", default=str(ROOT / "articles"))
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--block", type=int, default=100)
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kb-bench-journal-"))
    kb = KnowledgeBase(Settings(articles=Path(a.articles), index=tmp / "index", data=tmp / "var"))
    kb.build(log=lambda m: None, progress=False)
    kb.journal()
    for q in QUERIES:  # warm up both paths
        kb.search(q)
        kb.search(q, origin=Origin("api", "warm", "warm"))
    kb.flush()
    on: list[float] = []
    off: list[float] = []
    paired: list[float] = []  # per round, p50 on minus p50 off: the machine's drift cancels out
    n = 0
    for r in range(a.rounds):
        mark_on, mark_off = len(on), len(off)
        for logged in (True, False) if r % 2 == 0 else (False, True):
            for i in range(a.block):
                q = QUERIES[i % len(QUERIES)] + f" #{n}"
                n += 1
                origin = Origin("api", f"10.0.0.{i % 50}", f"s{i % 20}") if logged else None
                t = time.perf_counter()
                kb.search(q, origin=origin)
                (on if logged else off).append((time.perf_counter() - t) * 1000)
        paired.append(statistics.median(on[mark_on:]) - statistics.median(off[mark_off:]))
    kb.flush()
    p50_on, p50_off = statistics.median(on), statistics.median(off)
    q = statistics.quantiles
    print(f"articles: {a.articles} ({kb.status().articles}), {a.rounds} rounds of {a.block} searches a condition")
    print("| query log | searches | p50 ms | p90 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for name, xs in (("off", off), ("on", on)):
        cuts = q(xs, n=100)
        print(f"| {name} | {len(xs)} | {statistics.median(xs):.3f} | {cuts[89]:.3f} | {cuts[98]:.3f} |")
    print(f"added p50: {p50_on - p50_off:+.3f} ms (ratio {p50_on / p50_off:.3f})")
    cuts = q(paired, n=4)
    print(
        f"added p50, median of {len(paired)} paired rounds: {statistics.median(paired):+.3f} ms "
        f"(quartiles {cuts[0]:+.3f} .. {cuts[2]:+.3f})"
    )
    writer = kb._writer
    assert writer is not None
    response = kb.search(QUERIES[0])
    origin = Origin("api", "10.0.0.1", "s")
    log_us = []
    for _ in range(5):  # bursts shorter than the writer's linger, so its own work is not in the timing
        kb.flush(60)
        time.sleep(0.1)
        t = time.perf_counter()
        for _ in range(1000):
            kb._log(response, origin)  # all that logging adds to a search's own thread
        log_us.append((time.perf_counter() - t) / 1000 * 1e6)
    log_us_best = min(log_us)
    for _ in range(4000):
        kb._log(response, origin)
    t = time.perf_counter()
    kb.flush(60)
    rate = 5000 / (time.perf_counter() - t)
    print(
        f"on the search's thread (KnowledgeBase._log): {log_us_best:.1f} us; the writer thread: {rate:,.0f} searches/s "
        f"({1000 / rate:.3f} ms of CPU a search, in one batch every {writer.linger} s); dropped {writer.dropped}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
