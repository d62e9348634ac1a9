"""`make bench-workers`: `kb serve` with 1 worker, 2 workers, and 2 replicas; 16 clients.

For each index (the demo KB, and the synthetic 10k and 100k KBs of `make bench` when they are in
bench/out) and each server shape (1 worker; 2 workers; 2 replicas of 1 worker on two ports
sharing one PostgreSQL journal, started as the tests start it), real `kb serve` processes are
started, warmed, timed for one client alone, then loaded by wrk (2 threads and 16 connections;
for the replicas one wrk each with 1 thread and 8 connections) with distinct short queries (kb
keeps no query cache) for BENCH_SECONDS (default 20). The shapes alternate for BENCH_ROUNDS
rounds (default 2) so a noisy minute hits each. After each load: req/s, latency p50/p99 (wrk's
own), and memory: RSS and PSS summed over every process (a page shared by two processes counts
half in each PSS, so summed it counts once; the RSS sum counts it twice). Printed, and written
to bench/out/workers.json.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "bench"))

from run import free_port, post, short_queries, wrk_script  # noqa: E402

# (label, processes, --workers each, --threads per worker); two processes are two replicas on
# their own ports sharing a PostgreSQL journal, each loaded by half the clients.
SHAPES = [
    ("1 worker x 3 threads", 1, 1, 3),
    ("2 workers x 2 threads", 1, 2, 2),
    ("2 replicas x 1 worker x 3 threads", 2, 1, 3),
]
if os.environ.get("BENCH_THREADS_3"):  # the shape that lost to 2 x 2 threads (bench/README "Workers")
    SHAPES.insert(1, ("2 workers x 3 threads", 1, 2, 3))


def demo_index() -> Path:
    index = OUT / "index-demo"
    if not (index / "CURRENT").exists():
        subprocess.run(
            [str(BIN / "kb"), "--articles", str(ROOT / "articles"), "--index", str(index), "index"], check=True
        )
    return index


def indexes() -> list[tuple[str, Path, Path]]:
    out = [("demo (44 articles)", ROOT / "articles", demo_index())]
    for n in (10_000, 100_000):
        index, articles = OUT / f"index-{n}", OUT / f"kb-{n}"
        if (index / "CURRENT").exists():
            out.append((f"{n // 1000}k articles", articles, index))
        else:
            print(f"skipped {n}: no {index} (build it with `make bench`)")
    return out


def processes(master: int) -> list[int]:
    kids = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [master, *map(int, kids)]


def memory(pids: list[int]) -> tuple[float, float]:
    """Summed RSS and PSS of the processes, MB."""
    rss = pss = 0
    for pid in pids:
        for ln in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if ln.startswith("Rss:"):
                rss += int(ln.split()[1])
            elif ln.startswith("Pss:"):
                pss += int(ln.split()[1])
    return rss / 1024, pss / 1024


def wrk(base: str, seconds: int, queries: list[str], clients: int = 16) -> dict[str, float]:
    script = wrk_script(queries)
    cmd = [
        "wrk",
        f"-t{max(1, clients // 8)}",
        f"-c{clients}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "30s",
        "-s",
        str(script),
    ]
    out = subprocess.run([*cmd, base + "/api/v1/search"], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()

    def ms(text: str) -> float:
        for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60_000.0)):
            if text.endswith(unit):
                return float(text[: -len(unit)]) * factor
        raise ValueError(f"wrk printed a latency without a unit: {text}")

    pcts = {ln.split()[0]: ms(ln.split()[1]) for ln in lines if ln.strip().startswith(("50%", "99%"))}
    non2xx = int(next((ln.split()[-1] for ln in lines if "Non-2xx" in ln), 0))
    errors = sum(int(x) for ln in lines if "Socket errors" in ln for x in ln.replace(",", "").split()[3::2])
    return {
        "rps": float(next(ln.split()[1] for ln in lines if ln.startswith("Requests/sec"))),
        "p50_ms": pcts["50%"],
        "p99_ms": pcts["99%"],
        "failed": non2xx + errors,
    }


def start(articles: Path, index: Path, workers: int, threads: int, env: dict[str, str]) -> tuple[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [str(BIN / "kb"), "--articles", str(articles), "--index", str(index), "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--workers", str(workers), "--threads", str(threads)],
        env={**os.environ, "KB_ACCESS_LOG": "0", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seen: set[int] = set()
    deadline = time.monotonic() + 300
    while len(seen) < workers:
        assert proc.poll() is None and time.monotonic() < deadline, "kb serve did not start"
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=5) as r:
                seen.add(json.loads(r.read())["pid"])
        except OSError:
            time.sleep(0.2)
    return base, proc


def measure(
    articles: Path, index: Path, replicas: int, workers: int, threads: int, seconds: int, database: str | None
) -> dict[str, float]:
    servers = []
    try:
        for r in range(replicas):
            env = {"KB_DATA": str(OUT / f"var-workers-{r}")}
            if database:
                env["KB_DATABASE_URL"] = database
            servers.append(start(articles, index, workers, threads, env))
        queries = short_queries()
        for base, _ in servers:
            for q in queries[:60]:  # every worker warm (pages of the index touched, sessions run)
                post(base, q)
        alone = statistics.median(post(servers[0][0], q) for q in queries[60:260])  # one client at a time
        with ThreadPoolExecutor(len(servers)) as pool:  # the clients split between the replicas
            loads = list(pool.map(lambda s: wrk(s[0], seconds, queries, 16 // len(servers)), servers))
        figures = {
            "alone_p50_ms": alone,
            "rps": sum(w["rps"] for w in loads),
            "p50_ms": statistics.mean(w["p50_ms"] for w in loads),
            "p99_ms": max(w["p99_ms"] for w in loads),
            "failed": sum(w["failed"] for w in loads),
        }
        pids = [pid for _, proc in servers for pid in processes(proc.pid)]
        figures["rss_mb"], figures["pss_mb"] = memory(pids)
        return figures
    finally:
        for _, proc in servers:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit(
            "bench/workers.py needs wrk, the load generator (Debian: apt-get install wrk; `make bench-workers` does)"
        )
    seconds = int(os.environ.get("BENCH_SECONDS", "20"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "2"))
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    with contextlib.ExitStack() as stack:
        database = stack.enter_context(postgres()) if any(shape[1] > 1 for shape in SHAPES) else None
        run_all(results, seconds, rounds, database)
    report(results, seconds, rounds)


def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL for the replicas' journal (the test suite's own starter)."""
    sys.path.insert(0, str(ROOT))
    from tests.postgres import fresh_database, postgres_server

    @contextlib.contextmanager
    def server() -> Iterator[str]:
        with postgres_server() as pg:
            yield fresh_database(pg.url, "bench_workers")

    return server()


def run_all(
    results: dict[str, dict[str, list[dict[str, float]]]], seconds: int, rounds: int, database: str | None
) -> None:
    for name, articles, index in indexes():
        for r in range(rounds):
            for label, replicas, workers, threads in SHAPES if r % 2 == 0 else SHAPES[::-1]:
                fig = measure(articles, index, replicas, workers, threads, seconds, database)
                results.setdefault(name, {}).setdefault(label, []).append(fig)
                print(f"{name:20} {label:34} round {r + 1}: " + ", ".join(f"{k} {v:.1f}" for k, v in fig.items()))


def report(results: dict[str, dict[str, list[dict[str, float]]]], seconds: int, rounds: int) -> None:
    print(f"\nmedians of {rounds} rounds, {seconds} s each, 16 clients (wrk -t2 -c16), distinct short queries")
    print("| index | server | req/s | p50 ms | p99 ms | failed | one client p50 ms | RSS sum MB | PSS sum MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    table = {}
    for name, shapes in results.items():
        for label, runs in shapes.items():
            med = {k: statistics.median(run[k] for run in runs) for k in runs[0]}
            table[f"{name} / {label}"] = med
            print(
                f"| {name} | {label} | {med['rps']:.0f} | {med['p50_ms']:.1f} | {med['p99_ms']:.1f} | "
                f"{sum(run['failed'] for run in runs):.0f} | {med['alone_p50_ms']:.1f} | {med['rss_mb']:.0f} | "
                f"{med['pss_mb']:.0f} |"
            )
    (OUT / "workers.json").write_text(json.dumps({"runs": results, "medians": table}, indent=1))


if __name__ == "__main__":
    main()
