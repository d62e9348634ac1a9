"""Normalization of long and hostile pastes: time per MB in-process, and /healthz latency of a
real `kb serve` while 1 MB hostile pastes are searched.

Realistic: a `kubectl logs`-like log (INFO noise, a few warnings, a Java stack trace at the end)
at 250 KB, 1 MB and 5 MB. Adversarial: each input shape that made a pattern of the normalizer
backtrack (a long word, `a-a-a-`, `a.a.a.`, `aAaA`, unterminated escapes, ...) at 1 MB.

    .venv/bin/python bench/normalize.py [--index DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from kb.normalize import normalize_query  # noqa: E402

KB = Path(sys.executable).with_name("kb")


def realistic(size: int) -> str:
    rng = random.Random(3)
    lines = []
    total = 0
    i = 0
    while total < size - 4000:
        if i % 400 == 17:
            line = f"2026-03-10T04:{i // 60 % 60:02d}:{i % 60:02d}.000Z WARN  [pool-2] c.t.orders.Http : retrying call"
        else:
            line = (
                f"2026-03-10T04:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z INFO  [main] c.t.orders.Worker : "
                f"processed order {100000 + i} in {rng.randint(3, 90)} ms"
            )
        lines.append(line)
        total += len(line) + 1
        i += 1
    lines.append("2026-03-10T04:59:58.120Z ERROR [main] c.t.orders.Db : query failed")
    lines.append("org.postgresql.util.PSQLException: FATAL: remaining connection slots are reserved")
    lines += [f"\tat com.zaxxer.hikari.pool.HikariPool.createPoolEntry(HikariPool.java:{470 + k})" for k in range(30)]
    return "\n".join(lines) + "\n"


ADVERSARIAL = {
    "a" * 8: "word",
    "a-": "hyphens",
    "a.": "dots",
    "aA": "camel",
    "1.": "digits",
    "\x1b]": "escapes",
    "[": "brackets",
    "error a-a-a-a-a\n": "salient lines",
}


def timed(text: str, rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        normalize_query(text)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def in_process() -> None:
    print("in-process normalize_query (best of 3):")
    for size in (250_000, 1_000_000, 5_000_000):
        text = realistic(size)
        ms = timed(text)
        print(f"  realistic log {len(text) / 1e6:5.2f} MB: {ms:7.1f} ms  ({ms / (len(text) / 1e6):6.1f} ms/MB)")
    for unit, name in ADVERSARIAL.items():
        text = unit * (1_000_000 // len(unit))
        ms = timed(text)
        print(f"  adversarial {name:14s} 1 MB: {ms:7.1f} ms")


def healthz_during(index: Path, articles: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "KB_DATA": str(ROOT / "bench" / "out" / "normalize-var")}
    proc = subprocess.Popen(
        [str(KB), "--articles", str(articles), "--index", str(index), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        idle = [_get_ms(base + "/healthz") for _ in range(50)]
        stop = threading.Event()
        bodies = [json.dumps({"query": unit * (1_000_000 // len(unit))}).encode() for unit in ADVERSARIAL]
        searched = [0]

        def hammer() -> None:
            i = 0
            while not stop.is_set():
                req = urllib.request.Request(
                    base + "/api/v1/search", data=bodies[i % len(bodies)], headers={"Content-Type": "application/json"}
                )
                try:
                    urllib.request.urlopen(req, timeout=60).read()
                except OSError:
                    pass
                searched[0] += 1
                i += 1

        workers = [threading.Thread(target=hammer) for _ in range(2)]
        for w in workers:
            w.start()
        time.sleep(1)
        busy = []
        for _ in range(60):
            busy.append(_get_ms(base + "/healthz"))
            time.sleep(0.05)
        stop.set()
        for w in workers:
            w.join()
        print(f"/healthz idle: p50 {statistics.median(idle):.1f} ms, max {max(idle):.1f} ms")
        print(
            f"/healthz while 2 clients post 1 MB hostile pastes ({searched[0]} searched): "
            f"p50 {statistics.median(busy):.1f} ms, max {max(busy):.1f} ms"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _get_ms(url: str) -> float:
    started = time.perf_counter()
    urllib.request.urlopen(url, timeout=30).read()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=Path, default=ROOT / "articles")
    ap.add_argument("--index", type=Path, default=ROOT / "bench" / "out" / "soak-index")
    args = ap.parse_args()
    in_process()
    subprocess.run(
        [str(KB), "index", "--articles", str(args.articles), "--index", str(args.index)],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    healthz_during(args.index, args.articles)


if __name__ == "__main__":
    main()
