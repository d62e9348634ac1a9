"""`make bench`: build, reindex, query and load figures for synthetic KBs of several sizes.

Sizes come from BENCH_SIZES (default "1000,10000,100000"). The index is built with the real
model up to 10k articles; embedding is the cost (~65 chunks/s on this 2-core machine), so a
100k KB would take ~2 hours to embed: for sizes in BENCH_STANDIN_SIZES (default "100000") the
bench builds the index with the real indexer and stand-in vectors shaped like the model's
(bench/standin.py), which exercises every serving path at that size; queries still use the real
ONNX model. Everything is printed and written to bench/out/bench.json.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

SHORT = "FATAL: remaining connection slots are reserved for non-replication superuser connections"
TRACE = (
    "2026-03-10T04:12:55.120Z ERROR 1 --- [http-nio-8080-exec-4] c.t.p.PaymentService : charge failed\n"
    "org.springframework.dao.DataAccessResourceFailureException: Unable to acquire JDBC Connection\n"
    + "".join(
        f"\tat com.tidewater.payments.service.PaymentService.charge{i}(PaymentService.java:{100 + i})\n"
        for i in range(24)
    )
    + "Caused by: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, "
    "request timed out after 30000ms.\n\t... 31 more\n"
)[:2048]


def sh(*args: str, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(
        list(args), check=True, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def generate(n: int) -> Path:
    kb = OUT / f"kb-{n}"
    if not (kb / ".complete").exists():
        shutil.rmtree(kb, ignore_errors=True)
        subprocess.run([str(BIN / "python"), str(ROOT / "bench" / "generate.py"), str(kb), str(n)], check=True)
        (kb / ".complete").write_text("")
    return kb


def standin_build(articles: Path, index: Path) -> None:
    """Build with the real indexer and stand-in vectors shaped like the model's (bench/standin.py)."""
    import kb.indexer as indexer
    from kb.config import Settings

    sys.path.insert(0, str(ROOT / "bench"))
    from standin import StandInEncoder

    indexer.index_encoder = StandInEncoder  # type: ignore[assignment]
    indexer.build(Settings(articles=articles, index=index), log=lambda m: None, progress=False)


def raw_encode_rate(index: Path, sample: int = 1500) -> float:
    """Chunks/s of the bare model on a sample of the index's own chunk texts."""

    from kb.embedding import index_encoder
    from kb.normalize import normalize_document
    from kb.store import Generation

    gen = Generation.current(index)
    texts = [normalize_document(r[0]) for r in gen.metadata().conn.execute("SELECT text FROM chunks")]
    random.Random(3).shuffle(texts)
    texts = texts[:sample]
    enc = index_encoder(gen.model_file("onnx"))  # the very encoder `kb index` uses
    enc.encode(texts[:64])
    started = time.perf_counter()
    enc.encode(texts)
    return len(texts) / (time.perf_counter() - started)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(base: str, query: str) -> float:
    body = json.dumps({"query": query, "k": 10}).encode()
    req = urllib.request.Request(base + "/api/v1/search", data=body, headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as r:
        r.read()
    return (time.perf_counter() - started) * 1000


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def short_queries(n: int = 400) -> list[str]:
    """Distinct short pastes (distinct after normalization too), so no cache flatters the load."""
    rng = random.Random(5)
    services = ["orders", "billing", "ledger", "search", "auth", "cart", "media", "geo", "pricing", "fraud"]
    errors = [
        "connection refused",
        "remaining connection slots are reserved",
        "certificate has expired",
        "OOM command not allowed",
        "upstream timed out",
        "CommitFailedException",
        "DEADLINE_EXCEEDED",
        "No space left on device",
        "too many clients already",
        "read ECONNRESET",
        "CrashLoopBackOff",
        "token used before issued",
        "password authentication failed",
        "429 Too Many Requests",
    ]
    words = ["while", "during", "after", "on", "from", "calling", "reading", "writing", "syncing", "polling"]
    out = set()
    while len(out) < n:
        out.add(
            f"{rng.choice(services)}-api {rng.choice(words)} {rng.choice(services)}: {rng.choice(errors)} "
            f"{rng.choice(words)} {rng.choice(services)} {rng.choice(errors).lower()}"
        )
    return sorted(out)


def load(base: str, seconds: float, queries: list[str], clients: int = 16) -> tuple[float, int, int]:
    """Requests/s, successes and failures with `clients` concurrent clients for `seconds`."""
    ok = [0]
    bad: list[str] = []
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def worker(i: int) -> None:
        n = i * 7919
        while time.monotonic() < stop:
            try:
                post(base, queries[n % len(queries)])
                with lock:
                    ok[0] += 1
            except Exception as e:  # noqa: BLE001 - counted
                with lock:
                    bad.append(repr(e))
            n += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ok[0] / (time.perf_counter() - started), ok[0], len(bad)


def wrk_script(queries: list[str]) -> Path:
    """A wrk script that posts the queries in turn as searches."""
    script = OUT / "queries.lua"
    bodies = ",\n".join(json.dumps(json.dumps({"query": q, "k": 10})) for q in queries)
    script.write_text(
        "local bodies = {\n" + bodies + "\n}\nlocal i = 0\n"
        "wrk.method = 'POST'\nwrk.headers['Content-Type'] = 'application/json'\n"
        "request = function()\n  i = i % #bodies + 1\n  return wrk.format(nil, nil, nil, bodies[i])\nend\n"
    )
    return script


def wrk(base: str, seconds: int, queries: list[str], clients: int = 16) -> dict[str, float] | None:
    """Load with wrk (a C load generator: its own CPU use stays small), distinct short queries."""
    if not shutil.which("wrk"):
        return None
    script = wrk_script(queries)
    # Two wrk threads drive 16 connections easily; more would only take CPU from the server on
    # this 2-core machine, since the load generator runs beside it.
    cmd = [
        "wrk",
        f"-t{min(2, clients)}",
        f"-c{clients}",
        f"-d{seconds}s",
        "--timeout",
        "30s",
        "-s",
        str(script),
        base + "/api/v1/search",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(next(ln.split()[1] for ln in out.splitlines() if ln.startswith("Requests/sec")))
    total = int(next(ln.split()[0] for ln in out.splitlines() if "requests in" in ln))
    non2xx = int(next((ln.split()[-1] for ln in out.splitlines() if "Non-2xx" in ln), 0))
    errors = sum(int(x) for ln in out.splitlines() if "Socket errors" in ln for x in ln.replace(",", "").split()[3::2])
    return {"rps": rps, "requests": total, "failed": non2xx + errors}


def serve_figures(articles: Path, index: Path, reindex_during_load: bool) -> dict[str, object]:
    from kb.config import Settings
    from kb.core import KnowledgeBase

    port = free_port()
    env = {**os.environ, "KB_RELOAD_INTERVAL": "1", "KB_DATA": str(OUT / "var")}
    proc = subprocess.Popen(
        [str(BIN / "kb"), "--articles", str(articles), "--index", str(index), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=1)
                break
            except Exception:  # noqa: BLE001
                time.sleep(0.2)
        for _ in range(20):
            post(base, SHORT)
        short = [post(base, SHORT) for _ in range(300)]
        trace = [post(base, TRACE) for _ in range(150)]
        enc = KnowledgeBase(Settings(index=index)).index().encoder
        enc.encode([SHORT])
        raw_short, raw_trace = [], []
        for _ in range(100):
            t = time.perf_counter()
            enc.encode([SHORT])
            raw_short.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            enc.encode([TRACE])
            raw_trace.append((time.perf_counter() - t) * 1000)
        queries = short_queries()
        w = wrk(base, 15, queries)
        if w:
            rps, ok, failed = w["rps"], int(w["requests"]), int(w["failed"])
        else:
            rps, ok, failed = load(base, 15, queries)
        rss = (
            int(
                next(
                    ln for ln in Path(f"/proc/{proc.pid}/status").read_text().splitlines() if ln.startswith("VmRSS")
                ).split()[1]
            )
            / 1024
        )
        figures: dict[str, object] = {
            "api_short_p50_ms": statistics.median(short),
            "api_short_p99_ms": pct(short, 0.99),
            "api_trace_p50_ms": statistics.median(trace),
            "api_trace_p99_ms": pct(trace, 0.99),
            "raw_encode_short_ms": statistics.median(raw_short),
            "raw_encode_trace_ms": statistics.median(raw_trace),
            "rps_16_clients_short_distinct": rps,
            "load_tool": "wrk" if w else "python threads",
            "load_ok": ok,
            "load_failed": failed,
            "server_rss_mb": rss,
        }
        if reindex_during_load:
            target = next(articles.glob("kb/*.md"))
            result: dict[str, object] = {}

            def reindex() -> None:
                time.sleep(2)
                target.write_text(target.read_text() + "\n\nEdited during a load run.\n")
                result["seconds"] = sh(str(BIN / "kb"), "index", "--articles", str(articles), "--index", str(index))

            t = threading.Thread(target=reindex)
            t.start()
            w2 = wrk(base, 25, queries)
            ok2, failed2 = (int(w2["requests"]), int(w2["failed"])) if w2 else load(base, 25, queries)[1:]
            t.join()
            figures.update(
                reindex_during_load_ok=ok2,
                reindex_during_load_failed=failed2,
                reindex_during_load_s=result.get("seconds"),
            )
        return figures
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


BUILD_KEYS = (
    "standin_build_s",
    "full_build_s",
    "build_chunks_per_s",
    "raw_encode_chunks_per_s",
    "build_over_raw_encode",
)


def build_figures(articles: Path, index: Path, standin: bool) -> dict[str, float]:
    """A full build from nothing; with the real model, beside the bare encode rate of its chunks."""
    shutil.rmtree(index, ignore_errors=True)
    if standin:
        started = time.perf_counter()
        subprocess.run([str(BIN / "python"), __file__, "--standin-build", str(articles), str(index)], check=True)
        return {"standin_build_s": time.perf_counter() - started}
    seconds = sh(str(BIN / "kb"), "index", "--articles", str(articles), "--index", str(index))
    from kb.store import Generation

    chunks = Generation.current(index).manifest["counts"]["chunks"]
    rate = raw_encode_rate(index)
    return {
        "full_build_s": seconds,
        "build_chunks_per_s": chunks / seconds,
        "raw_encode_chunks_per_s": rate,
        "build_over_raw_encode": seconds / (chunks / rate),
    }


def bench_size(n: int, standin: bool) -> dict[str, object]:
    articles = generate(n)
    index = OUT / f"index-{n}"
    fig: dict[str, object] = {"articles": n, "standin_encoder": standin}
    earlier = (
        json.loads((OUT / "bench.json").read_text())["sizes"].get(str(n)) if (OUT / "bench.json").exists() else None
    )
    if os.environ.get("BENCH_REUSE") and earlier and (index / "CURRENT").exists():
        fig.update({k: v for k, v in earlier.items() if k in BUILD_KEYS})  # re-measure the rest only
    else:
        fig.update(build_figures(articles, index, standin))
    from kb.store import Generation

    manifest = Generation.current(index).manifest
    fig.update(chunks=manifest["counts"]["chunks"], faiss=manifest["faiss"])
    fig["noop_reindex_s"] = sh(str(BIN / "kb"), "index", "--articles", str(articles), "--index", str(index))
    one = next(articles.glob("runbooks/*.md"))
    one.write_text(one.read_text() + "\n\n## Note\n\nOne more line of diagnosis.\n")
    fig["one_changed_reindex_s"] = sh(str(BIN / "kb"), "index", "--articles", str(articles), "--index", str(index))
    fig.update(serve_figures(articles, index, reindex_during_load=not standin))
    return fig


def cold_search() -> dict[str, float]:
    demo_index = OUT / "index-demo"
    sh(str(BIN / "kb"), "index", "--articles", str(ROOT / "articles"), "--index", str(demo_index))
    times = [sh(str(BIN / "kb"), "--index", str(demo_index), "search", SHORT) for _ in range(7)]
    return {"cold_kb_search_median_s": statistics.median(times), "cold_kb_search_max_s": max(times)}


def main() -> None:
    if sys.argv[1:2] == ["--standin-build"]:
        standin_build(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in os.environ.get("BENCH_SIZES", "1000,10000,100000").split(",") if s]
    standin = {int(s) for s in os.environ.get("BENCH_STANDIN_SIZES", "100000").split(",") if s}
    memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)
    results: dict[str, object] = {
        "machine": f"{os.cpu_count()} cores, {os.uname().machine}, {memory} GiB",
        "cold": cold_search(),
        "sizes": {},
    }
    print(json.dumps(results["cold"]), flush=True)
    if (OUT / "bench.json").exists():  # keep figures of sizes not run this time
        results["sizes"] = json.loads((OUT / "bench.json").read_text()).get("sizes", {})
    for n in sizes:
        fig = bench_size(n, n in standin)
        results["sizes"][str(n)] = fig  # type: ignore[index]
        print(json.dumps(fig, default=str), flush=True)
        (OUT / "bench.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {OUT / 'bench.json'}")


if __name__ == "__main__":
    main()
