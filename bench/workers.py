"""`make bench-workers`: `kb serve` with 1 worker against 2 (`--workers 2`), 16 clients.

For each index (the demo KB, and the synthetic 10k and 100k KBs of `make bench` when they are in
bench/out) and each server shape, a real `kb serve` is started, warmed, and loaded by wrk (2
threads, 16 connections, distinct short queries, no query cache) for BENCH_SECONDS (default
20); the shapes alternate for BENCH_ROUNDS rounds (default 2) so a noisy minute hits each. After
each load: req/s, latency p50/p99 (wrk's own), one client's p50 before it, and the memory of the master and its workers,
RSS summed and PSS summed (a page shared by two workers counts half in each PSS; summed, it
counts once). Printed, and written to bench/out/workers.json.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "bench"))

from run import free_port, post, short_queries  # noqa: E402

# (label, --workers, --threads per worker)
SHAPES = [("1 worker x 3 threads", 1, 3), ("2 workers x 3 threads", 2, 3), ("2 workers x 2 threads", 2, 2)]


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


def wrk(base: str, seconds: int, queries: list[str]) -> dict[str, float]:
    script = OUT / "queries.lua"
    bodies = ",\n".join(json.dumps(json.dumps({"query": q, "k": 10})) for q in queries)
    script.write_text(
        "local bodies = {\n" + bodies + "\n}\nlocal i = 0\n"
        "wrk.method = 'POST'\nwrk.headers['Content-Type'] = 'application/json'\n"
        "request = function()\n  i = i % #bodies + 1\n  return wrk.format(nil, nil, nil, bodies[i])\nend\n"
    )
    cmd = ["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", "--timeout", "30s", "-s", str(script)]
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


def measure(articles: Path, index: Path, workers: int, threads: int, seconds: int) -> dict[str, float]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [str(BIN / "kb"), "--articles", str(articles), "--index", str(index), "serve", "--port", str(port)]
    env = {**os.environ, "KB_DATA": str(OUT / "var-workers"), "KB_ACCESS_LOG": "0"}
    proc = subprocess.Popen(
        [*cmd, "--workers", str(workers), "--threads", str(threads)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        seen: set[int] = set()
        deadline = time.monotonic() + 300
        while len(seen) < workers:
            assert proc.poll() is None and time.monotonic() < deadline, "kb serve did not start"
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=5) as r:
                    seen.add(json.loads(r.read())["pid"])
            except OSError:
                time.sleep(0.2)
        queries = short_queries()
        for q in queries[:60]:  # every worker warm (pages of the index touched, sessions run)
            post(base, q)
        alone = statistics.median(post(base, q) for q in queries[60:260])  # one client, one at a time
        figures = {"alone_p50_ms": alone, **wrk(base, seconds, queries)}
        figures["rss_mb"], figures["pss_mb"] = memory(processes(proc.pid))
        return figures
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    seconds = int(os.environ.get("BENCH_SECONDS", "20"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "2"))
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    for name, articles, index in indexes():
        for r in range(rounds):
            for label, workers, threads in SHAPES if r % 2 == 0 else SHAPES[::-1]:
                fig = measure(articles, index, workers, threads, seconds)
                results.setdefault(name, {}).setdefault(label, []).append(fig)
                print(f"{name:20} {label:22} round {r + 1}: " + ", ".join(f"{k} {v:.1f}" for k, v in fig.items()))
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
