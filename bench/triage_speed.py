"""`make bench-triage` (speed): `kb triage` end to end on synthetic logs, and searches against a
real `kb serve` while it triages a 10 MB log.

1. The CLI on 10,000 and 100,000 lines (bench/triage_log.py: ~40 templates among INFO noise,
   ~9.4 MB for 100k): wall time of the whole command (a fresh process: imports, index load,
   reading, mining, matching), its own split into read / mine / match, and peak RSS; the best
   of 3 runs. Targets: 100k <= 10 s, 10k <= 3 s.
2. `kb serve` on the same index: the p50 of searches (1 and 2 client threads, distinct short
   pastes) alone, then while POST /api/v1/triage triages the 100k log back to back; and the
   same with the log mined on a server thread instead of the worker process, for comparison.

    .venv/bin/python bench/triage_speed.py [--articles DIR] [--seconds 8]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "triage"
KB = Path(sys.executable).with_name("kb")
sys.path.insert(0, str(ROOT / "bench"))
from run import short_queries  # noqa: E402
from triage_log import synthetic_log  # noqa: E402

_HEAD = re.compile(r"in ([\d.]+) s \(read ([\d.]+) s, mine ([\d.]+) s, match ([\d.]+) s\)")
# Peak RSS of a child, measured by a wrapper process around it (the child's own ru_maxrss).
_WRAP = "import resource, subprocess, sys; p = subprocess.run(sys.argv[1:]); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(p.returncode)"  # noqa: E501


def env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "KB_DATA": str(OUT / "var")}


def log_file(lines: int) -> Path:
    path = OUT / f"synthetic-{lines}.log"
    if not path.exists():
        path.write_text(synthetic_log(lines))
    return path


def cli_run(index: Path, log: Path, levels: str = "error,warn") -> dict[str, float]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _WRAP, str(KB), "--index", str(index), "triage", "--levels", levels, str(log)],
        capture_output=True,
        text=True,
        env=env(),
        check=True,
    )
    wall = time.perf_counter() - started
    m = _HEAD.search(out.stdout.split("\n", 1)[0])
    assert m, out.stdout[:500]
    count = re.search(r"([\d,]+) templates", out.stdout)
    templates = int(count.group(1).replace(",", "")) if count else -1
    rss_kb = int(out.stderr.strip().splitlines()[-1])
    triage, read, mine, match = (float(x) for x in m.groups())
    return {
        "wall_s": wall,
        "triage_s": triage,
        "read_s": read,
        "mine_s": mine,
        "match_s": match,
        "rss_mb": rss_kb / 1024,
        "templates": templates,
    }


def best_of(n: int, fn: Callable[..., dict[str, float]], *args: object) -> dict[str, float]:
    runs = [fn(*args) for _ in range(n)]
    return min(runs, key=lambda r: r["wall_s"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(index: Path, articles: Path, in_thread: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    args = ["--articles", str(articles), "--index", str(index), "serve", "--port", str(port), "--no-access-log"]
    if in_thread:  # the comparison: mining on a server thread (no worker process)
        code = "import sys, kb.triage.run as r; r.ISOLATE_CHARS = 10**12; from kb.cli import cli; cli(sys.argv[1:])"
        cmd = [sys.executable, "-c", code, *args]
    else:
        cmd = [str(KB), *args]
    proc = subprocess.Popen(cmd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(base + "/readyz", timeout=1).read()
            return proc, base
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("kb serve did not start")


def search(base: str, q: str) -> float:
    body = json.dumps({"query": q, "k": 5}).encode()
    req = urllib.request.Request(base + "/api/v1/search", body, {"Content-Type": "application/json"})
    t = time.perf_counter()
    urllib.request.urlopen(req, timeout=60).read()
    return (time.perf_counter() - t) * 1000


def searches_during(base: str, clients: int, stop: threading.Event, queries: list[str]) -> list[float]:
    """Latencies (ms) of searches sent back to back by `clients` threads until `stop`."""
    out: list[float] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        i = k
        while not stop.is_set():
            ms = search(base, queries[i % len(queries)])
            i += clients
            with lock:
                out.append(ms)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def concurrent(index: Path, articles: Path, log: Path, seconds: float, in_thread: bool) -> dict[str, object]:
    proc, base = serve(index, articles, in_thread)
    data = log.read_bytes()
    queries = short_queries(400)
    result: dict[str, object] = {}
    try:
        for q in queries[:50]:  # warm up
            search(base, q)
        for clients in (1, 2):
            stop = threading.Event()
            timer = threading.Timer(seconds, stop.set)
            timer.start()
            alone = searches_during(base, clients, stop, queries)
            triages: list[float] = []
            stop = threading.Event()

            def triage_loop(triages: list[float] = triages, stop: threading.Event = stop) -> None:
                for _ in range(3):
                    req = urllib.request.Request(base + "/api/v1/triage", data, {"Content-Type": "text/plain"})
                    t = time.perf_counter()
                    body = json.loads(urllib.request.urlopen(req, timeout=300).read())
                    triages.append(time.perf_counter() - t)
                    assert body["templates"], body
                stop.set()

            runner = threading.Thread(target=triage_loop)
            runner.start()
            during = searches_during(base, clients, stop, queries)
            runner.join()
            result[f"{clients}_clients"] = {
                "alone_p50_ms": statistics.median(alone),
                "alone_p95_ms": statistics.quantiles(alone, n=20)[-1],
                "during_p50_ms": statistics.median(during),
                "during_p95_ms": statistics.quantiles(during, n=20)[-1],
                "searches_during": len(during),
                "triage_s": statistics.median(triages),
            }
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return result


def bad_input(index: Path) -> dict[str, object]:
    """`kb triage` on what it must refuse or cap: time, peak RSS and what it said."""
    import random
    import string

    rng = random.Random(7)
    word = lambda n: "".join(rng.choices(string.ascii_lowercase, k=n))  # noqa: E731
    distinct = OUT / "distinct-1000000.log"
    if not distinct.exists():
        with distinct.open("w") as f:
            for _ in range(1_000_000):
                f.write(f"ERROR {word(8)} {word(6)} failed on {word(5)}\n")
    huge = OUT / "sparse-5GB.log"
    if not huge.exists():
        with huge.open("wb") as f:
            f.truncate(5 * 1024**3)
    one_line = OUT / "no-newlines-10MB.log"
    if not one_line.exists():
        t = synthetic_log(100_000).replace("\n", " ")
        one_line.write_text(t)
    out: dict[str, object] = {}
    for name, path in (("1M distinct lines", distinct), ("5 GB file", huge), ("10 MB, no line breaks", one_line)):
        started = time.perf_counter()
        p = subprocess.run(
            [sys.executable, "-c", _WRAP, str(KB), "--index", str(index), "triage", str(path)],
            capture_output=True,
            text=True,
            env=env(),
        )
        wall = time.perf_counter() - started
        rss = int(p.stderr.strip().splitlines()[-1]) / 1024
        said = [
            ln for ln in (p.stdout + p.stderr).splitlines() if ln.startswith(("note:", "Error:")) or " lines, " in ln
        ]
        out[name] = {"wall_s": wall, "rss_mb": rss, "exit": p.returncode, "said": said}
        print(
            f"{name}: exit {p.returncode} in {wall:.1f} s, peak RSS {rss:.0f} MB: {' | '.join(said)[:400]}", flush=True
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=Path, default=ROOT / "articles")
    ap.add_argument("--seconds", type=float, default=8.0, help="of searches alone, per client count")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    index = OUT / "index"
    subprocess.run(
        [str(KB), "index", "--articles", str(args.articles), "--index", str(index)],
        check=True,
        env=env(),
        stdout=subprocess.DEVNULL,
    )
    report: dict[str, object] = {}
    for lines, target in ((10_000, 3.0), (100_000, 10.0)):
        log = log_file(lines)
        r = best_of(3, cli_run, index, log)
        r["bytes"] = log.stat().st_size
        report[f"cli_{lines}"] = r
        verdict = "ok" if r["wall_s"] <= target else "OVER"
        split = f"read {r['read_s']:.2f}, mine {r['mine_s']:.2f}, match {r['match_s']:.2f}"
        print(
            f"kb triage {lines:,} lines ({r['bytes'] / 1e6:.1f} MB): {r['wall_s']:.2f} s wall "
            f"[{verdict} <= {target:g} s] - triage {r['triage_s']:.1f} s ({split}), "
            f"{r['templates']:.0f} templates, peak RSS {r['rss_mb']:.0f} MB",
            flush=True,
        )
    r = best_of(1, cli_run, index, log_file(100_000), "all")
    report["cli_100000_all_levels"] = r
    print(
        f"kb triage 100,000 lines --levels all: {r['wall_s']:.2f} s wall, {r['templates']:.0f} templates, "
        f"peak RSS {r['rss_mb']:.0f} MB",
        flush=True,
    )
    report["bad_input"] = bad_input(index)
    for label, in_thread in (("worker process", False), ("server thread", True)):
        c = concurrent(index, args.articles, log_file(100_000), args.seconds, in_thread)
        report[f"serve_{label.replace(' ', '_')}"] = c
        for clients in (1, 2):
            s = c[f"{clients}_clients"]
            assert isinstance(s, dict)
            print(
                f"kb serve, mining on a {label}, {clients} search client(s): p50 {s['alone_p50_ms']:.1f} ms alone, "
                f"{s['during_p50_ms']:.1f} ms during a triage (p95 {s['alone_p95_ms']:.1f} -> {s['during_p95_ms']:.1f};"
                f" {s['searches_during']} searches; the 9.4 MB triage took {s['triage_s']:.1f} s)",
                flush=True,
            )
    (OUT / "speed.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
