"""Soak: RSS of a real `kb serve` over 10,000 varied normal and hostile requests.

Starts `kb serve` on an index (default: the demo KB, indexed into bench/out/soak-index), warms
it up with 200 requests, then sends N requests (default 10,000) from 4 client threads: short
pastes, stack traces, 250 KB logs, article and similar lookups, 404s, malformed and hostile
bodies (adversarial regex inputs at 20k characters, lone surrogates, deep nesting, unknown
fields). Prints the server's RSS after the warm-up and every 2,000 requests. Target: the end
RSS within 50 MB of the warm-up RSS.

    .venv/bin/python bench/soak.py [--index DIR] [--articles DIR] [-n 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from run import TRACE, short_queries  # noqa: E402

KB = Path(sys.executable).with_name("kb")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def requests(n: int, seed: int = 11) -> list[tuple[str, str, bytes | None]]:
    rng = random.Random(seed)
    shorts = short_queries(2000)
    log = (
        "".join(
            f"2026-03-10T04:00:{i % 60:02d}Z INFO worker {i} processed order {rng.randint(1, 10**6)}\n"
            for i in range(3000)
        )
        + "ERROR write failed: No space left on device\n"
    )
    hostile = ["a" * 20_000, "a-" * 10_000, "a." * 10_000, "aA" * 10_000, "\x1b]" * 10_000, "[" * 20_000]
    out: list[tuple[str, str, bytes | None]] = []
    for i in range(n):
        r = rng.random()
        if r < 0.45:
            q = f"{rng.choice(shorts)} {rng.randint(0, 10**9)}"  # distinct: no cache can flatter this
            out.append(("POST", "/api/v1/search", json.dumps({"query": q, "k": 10}).encode()))
        elif r < 0.55:
            out.append(("POST", "/api/v1/search", json.dumps({"query": TRACE.replace("8080", str(i))}).encode()))
        elif r < 0.58:
            out.append(("POST", "/api/v1/search", json.dumps({"query": log + f"request {i}\n"}).encode()))
        elif r < 0.68:
            out.append(("POST", "/api/v1/search", json.dumps({"query": rng.choice(hostile) + str(i)}).encode()))
        elif r < 0.74:
            out.append(("GET", "/api/v1/articles/runbooks/kube-pod-oomkilled", None))
        elif r < 0.78:
            out.append(("GET", "/api/v1/articles/runbooks/kube-pod-oomkilled/similar?k=5", None))
        elif r < 0.82:
            out.append(("GET", f"/api/v1/articles/no/such/{i}", None))
        elif r < 0.86:
            out.append(("GET", f"/search?q=disk+full+{i}", None))
        elif r < 0.90:
            out.append(("POST", "/api/v1/search", b'{"query": "\\ud800 %d"}' % i))
        elif r < 0.94:
            out.append(("POST", "/api/v1/search", b'{"query": "x", "filters": ' + b"[" * 3000 + b"]" * 3000 + b"}"))
        else:
            out.append(("POST", "/api/v1/search", json.dumps({"query": f"disk {i}", f"k{i}": 1}).encode()))
    return out


def send(base: str, req: tuple[str, str, bytes | None]) -> int:
    method, path, body = req
    r = urllib.request.Request(base + path, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(r, timeout=60) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as e:
        e.read()
        return e.code


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=Path, default=ROOT / "articles")
    ap.add_argument("--index", type=Path, default=ROOT / "bench" / "out" / "soak-index")
    ap.add_argument("-n", type=int, default=10_000)
    args = ap.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "KB_DATA": str(ROOT / "bench" / "out" / "soak-var")}
    subprocess.run(
        [str(KB), "index", "--articles", str(args.articles), "--index", str(args.index)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (ROOT / "bench" / "out" / "soak-serve.log").open("wb")
    proc = subprocess.Popen(
        [str(KB), "--articles", str(args.articles), "--index", str(args.index), "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda r: send(base, r), requests(200, seed=1)))
            start = rss_mb(proc.pid)
            print(f"after warm-up: RSS {start:.0f} MB", flush=True)
            todo = requests(args.n)
            statuses: dict[int, int] = {}
            t0 = time.monotonic()
            for i in range(0, len(todo), 2000):
                for status in pool.map(lambda r: send(base, r), todo[i : i + 2000]):
                    statuses[status] = statuses.get(status, 0) + 1
                print(
                    f"{i + 2000:>6} requests: RSS {rss_mb(proc.pid):.0f} MB ({time.monotonic() - t0:.0f} s)", flush=True
                )
        end = rss_mb(proc.pid)
        print(f"statuses {dict(sorted(statuses.items()))}")
        print(f"RSS {start:.0f} -> {end:.0f} MB: {end - start:+.0f} MB (target <= +50 MB)")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
