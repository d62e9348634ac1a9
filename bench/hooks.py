"""`make bench-hooks`: how long the alert hook takes to answer a notification, over HTTP, from a
real `kb serve` over the repository's articles (what Alertmanager waits for).

Payloads: one alert; a group of 10 alerts of one alert rule (10 pods: one problem); a group of 10
different alerts (10 problems); 1,000 alerts of one rule in one payload; 1,000 different alerts
in one payload (the worst case: kb searches the first 100 distinct ones and acknowledges the rest).
Each request has alerts never seen before (new pod names and fingerprints), so nothing is
answered from memory. The index is kept in bench/out/hooks-index between runs.

    .venv/bin/python bench/hooks.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RULES = [
    ("PostgresqlTooManyConnections", "PostgreSQL too many connections (> 80%)", "pg-orders-01 has 341 of 400 in use"),
    ("KubePodCrashLooping", "Pod {pod} is crash looping", "Pod {pod} ({n}) is restarting 3 times / 10 minutes"),
    ("KubePodOOMKilled", "Container in {pod} was OOMKilled", "exit code 137, memory limit 1Gi reached"),
    ("NodeFilesystemAlmostOutOfSpace", "Filesystem has {n}% available space left", "pg_wal on /var/lib/postgresql"),
    ("TLSCertificateExpiringSoon", "Certificate for api.example.com expires in {n} days", "x509 certificate expiry"),
    ("KafkaConsumerGroupLag", "Consumer group orders-v2 lag is {n} messages", "partition lag keeps growing"),
    ("RedisMemoryHigh", "Redis memory usage at {n}% of maxmemory", "evictions rising on cache-redis-0"),
    ("ElasticsearchDiskWatermark", "Disk watermark exceeded on es-data-{n}", "flood stage: indices read-only"),
    ("KubeNodeNotReady", "Node ip-10-0-{n}-7 is NotReady", "kubelet stopped posting node status"),
    ("HPAMaxedOut", "HPA orders-api has been at max replicas for 15m", "scaling limited by maxReplicas"),
]


ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what Kubernetes names pods and replica sets with


def _word(n: int, width: int) -> str:
    out = ""
    for _ in range(width):
        n, r = divmod(n, len(ALPHABET))
        out += ALPHABET[r]
    return out


def _alert(i: int, rule: int, run: int) -> dict:
    name, summary, description = RULES[rule % len(RULES)]
    pod = f"prod/orders-api-7d{_word(run * 7919 + 11, 7)}-{_word(i * 104729 + run, 5)}"  # a real pod's name
    if rule >= len(RULES):  # another rule: a name of its own, in letters (a problem's template drops digits)
        name += "".join("abcdefghijklmnopqrstuvwxyz"[int(d)] for d in str(rule)).title()
    return {
        "status": "firing",
        "labels": {"alertname": name, "namespace": "prod", "pod": pod},
        "annotations": {"summary": summary.format(pod=pod, n=i % 90), "description": description.format(pod=pod, n=i)},
        "startsAt": "2026-12-02T01:00:00Z",
        "fingerprint": f"{run:04x}{rule:04x}{i:06x}",
    }


def _payload(alerts: list[dict]) -> bytes:
    body = {"version": "4", "status": "firing", "receiver": "kb", "groupKey": "bench", "alerts": alerts}
    return json.dumps(body).encode()


def _post(url: str, data: bytes) -> tuple[float, dict]:
    req = urllib.request.Request(url, data, {"Content-Type": "application/json"}, method="POST")
    started = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as resp:
        body = json.loads(resp.read())
    return (time.perf_counter() - started) * 1000, body


def _serve(index: Path, data: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kb = Path(sys.executable).with_name("kb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    log = (data / "serve.log").open("wb")
    proc = subprocess.Popen(
        [str(kb), "--articles", str(ROOT / "articles"), "--index", str(index), "serve", "--port", str(port)],
        env={**env, "KB_DATA": str(data), "KB_ACCESS_LOG": "0"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(base + "/readyz", timeout=1)
            return proc, base
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("kb serve did not become ready")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=20, help="requests per small payload (the big ones: 3)")
    a = p.parse_args()
    from kb.config import Settings
    from kb.core import KnowledgeBase

    index = ROOT / "bench" / "out" / "hooks-index"
    KnowledgeBase(Settings(articles=ROOT / "articles", index=index)).build(log=lambda m: None, progress=False)
    data = Path(tempfile.mkdtemp(prefix="kb-bench-hooks-"))
    proc, base = _serve(index, data)
    url = base + "/api/v1/hooks/alertmanager"
    cases = [
        ("1 alert", lambda run: [_alert(0, 0, run)], a.rounds),
        ("10 alerts, one rule (10 pods)", lambda run: [_alert(i, 1, run) for i in range(10)], a.rounds),
        ("10 alerts, 10 rules", lambda run: [_alert(i, i, run) for i in range(10)], a.rounds),
        ("1,000 alerts, one rule", lambda run: [_alert(i, 1, run) for i in range(1000)], 3),
        ("1,000 alerts, 1,000 rules", lambda run: [_alert(i, i, run) for i in range(1000)], 3),
    ]
    try:
        _post(url, _payload([_alert(0, r, 9999) for r in range(10)]))  # warm up
        print(f"kb serve over {ROOT / 'articles'}; alert hook over HTTP, new alerts every request")
        print("| payload | body | searches | p50 ms | p95 ms | max ms |")
        print("|---|---|---|---|---|---|")
        run = 0
        for name, make, rounds in cases:
            times, searches, size = [], 0, 0
            for _ in range(rounds):
                run += 1
                data_bytes = _payload(make(run))
                size = len(data_bytes)
                took, body = _post(url, data_bytes)
                times.append(took)
                searches = body["searches"]
            p95 = f"{statistics.quantiles(times, n=20)[18]:.0f}" if len(times) >= 20 else "-"  # too few for one
            print(
                f"| {name} | {size / 1024:,.0f} KiB | {searches} | {statistics.median(times):.0f} | {p95} | "
                f"{max(times):.0f} |"
            )
    finally:
        proc.terminate()
        proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
