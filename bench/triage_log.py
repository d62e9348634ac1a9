"""A synthetic log for the triage benchmarks: INFO noise with ~40 distinct error and warning
templates among it (some with Java stack traces, some Python tracebacks, some JSON lines), in
the formats kb recognises; deterministic for a seed. Written for this project.

    python bench/triage_log.py 100000 > big.log
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys

SERVICES = ["orders", "payments", "checkout", "inventory", "search", "auth", "notifications"]
NOISE = [
    "request served method=GET path=/api/v1/orders/{n} status=200 duration_ms={ms}",
    "request served method=POST path=/api/v1/cart/{n}/items status=201 duration_ms={ms}",
    "cache hit key=product:{n} ttl={ms}s",
    "scheduled job reconcile-{n} finished in {ms} ms",
    "consumer group orders-v2 committed offset {n} on partition {p}",
    "health check passed for upstream pod-{h} in {ms} ms",
    "user {n} logged in from 10.{p}.{p}.{q}",
    "flushed {n} metrics to the collector",
    "connection pool stats active={p} idle={q} waiting=0",
    "feature flag checkout_v{p} evaluated for account {n}: on",
    "opened session {h} for tenant t-{n}",
    "GC pause young generation {ms} ms, heap {n} MB",
    "rendered template invoice-{p}.html in {ms} ms",
    "uploaded object s3://reports/{n}/{h}.csv ({n} bytes)",
    "retrying idempotent read of order {n}: attempt 1 succeeded",
    "shard {p} rebalanced: {q} replicas in sync",
    "token refreshed for client svc-{p}, expires in 3600 s",
    "webhook delivered to https://hooks.example.com/{h} status=204",
]
ERRORS = [
    "FATAL:  remaining connection slots are reserved for non-replication superuser connections",
    "psycopg2.errors.SerializationFailure: could not serialize access due to concurrent update (SQLSTATE 40001)",
    "ERROR:  deadlock detected (SQLSTATE 40P01) while updating order {n}",
    "OOM command not allowed when used memory > 'maxmemory'.",
    "write /var/lib/app/spool/{h}.tmp: No space left on device",
    "dial tcp 10.{p}.{q}.{p}:5432: connect: connection refused",
    "dial tcp: lookup orders-db.internal on 10.0.0.10:53: no such host",
    "x509: certificate has expired or is not yet valid: current time 2026-03-10T04:{p}:00Z is after 2026-03-01",
    "upstream returned HTTP 503 for GET /api/v1/inventory/{n} after {ms} ms",
    "upstream returned HTTP 502 for GET /api/v1/inventory/{n} after {ms} ms",
    "ORA-00942: table or view does not exist (statement {n})",
    "Table 'shop.orders_archive' doesn't exist while archiving batch {n}",
    "payment gateway declined charge {h}: PGW-E4012 merchant descriptor rejected",
    "org.apache.kafka.clients.consumer.CommitFailedException: Commit cannot be completed since the group "
    "has already rebalanced (offset {n})",
    "Back-off restarting failed container orders in pod orders-7d9f8b-{h}",
    "jwt verification failed for request {h}: token used before issued",
    "rate limit exceeded for client svc-{p}: 429 Too Many Requests",
    "the flux reactor on shard {p} lost quorum after {ms} ms",
    "license server unreachable, running in grace mode for {p} more days",
    "botocore.exceptions.ClientError: An error occurred (ExpiredToken) when calling the GetObject operation: "
    "The security token included in the request is expired",
    "worker {p} exited with exit code 137 (OOMKilled)",
    "failed to render PDF for invoice {n}: font cache corrupt",
]
WARNINGS = [
    "slow query took {ms} ms: SELECT * FROM orders WHERE customer_id = {n}",
    "retrying request to payments-gateway (attempt {p} of 5) after timeout",
    "disk usage on /var/lib/app at 9{p}%",
    "deprecated API version v1 called by client svc-{p}",
    "connection pool nearly exhausted: {q} of 20 in use",
    "message {h} redelivered {p} times to consumer orders-v2",
    "clock skew of {ms} ms detected against ntp.internal",
    "certificate for api.example.com expires in {p} days",
    "queue depth for notifications is {n}, above the 10000 threshold",
    "cache stampede on key product:{n}: {q} concurrent misses",
    "circuit breaker half-open for inventory after {ms} ms",
]
JAVA_TRACE = [
    "java.lang.IllegalStateException: inventory lock timeout after {ms} ms",
    "\tat com.example.inventory.LockService.acquire(LockService.java:{p}2)",
    "\tat com.example.orders.PlaceOrder.run(PlaceOrder.java:8{q})",
    "\tat java.base/java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1136)",
    "Caused by: java.util.concurrent.TimeoutException: lock wait {ms} ms",
    "\tat com.example.inventory.Redis.lock(Redis.java:4{q})",
    "\t... 12 more",
]
PY_TRACE = [
    "Traceback (most recent call last):",
    '  File "/app/notify/send.py", line 4{p}, in deliver',
    "    resp = client.post(url, json=payload, timeout=5)",
    '  File "/app/.venv/lib/python3.11/site-packages/httpx/_client.py", line 1{q}45, in post',
    "    raise ReadTimeout(message) from exc",
    "httpx.ReadTimeout: timed out after 5.0 s",
]


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        n=rng.randint(1000, 999999),
        ms=rng.randint(1, 9000),
        p=rng.randint(1, 9),
        q=rng.randint(0, 9),
        h=f"{rng.getrandbits(40):010x}",
    )


def synthetic_log(lines: int, seed: int = 16, error_share: float = 0.15) -> str:
    """About `lines` lines of ~100 bytes: logback-style text, some JSON lines, traces."""
    rng = random.Random(seed)
    t = dt.datetime(2026, 3, 10, 4, 0, 0)
    out: list[str] = []
    problems = [("ERROR", e) for e in ERRORS] + [("WARN", w) for w in WARNINGS]
    weights = [rng.choice((1, 2, 5, 20, 60)) for _ in problems]
    while len(out) < lines:
        t += dt.timedelta(milliseconds=rng.randint(1, 40))
        ts = t.isoformat(timespec="milliseconds") + "Z"
        svc = rng.choice(SERVICES)
        r = rng.random()
        if r < error_share * 0.08:  # a Java exception with its trace
            out.append(
                f"{ts} ERROR [{svc}] [pool-{rng.randint(1, 8)}-thread-{rng.randint(1, 64)}] Failed to place order"
            )
            out += [_fill(x, rng) for x in JAVA_TRACE]
        elif r < error_share * 0.12:  # a Python traceback
            out.append(f"{ts} ERROR [notifications] delivery of message {rng.randint(1, 10**6)} failed")
            out += [_fill(x, rng) for x in PY_TRACE]
        elif r < error_share * 0.2:  # JSON lines (zap style), from a few Go services
            level, text = rng.choice(problems[:5])
            record = {"level": level.lower(), "ts": t.timestamp(), "caller": f"{svc}/main.go:{rng.randint(10, 999)}"}
            record["msg"] = "request failed"
            record["error"] = _fill(text, rng)
            out.append(json.dumps(record))
        elif r < error_share:
            level, text = rng.choices(problems, weights)[0]
            out.append(f"{ts} {level:<5} [{svc}] {_fill(text, rng)}")
        else:
            out.append(f"{ts} INFO  [{svc}] {_fill(rng.choice(NOISE), rng)}")
    return "\n".join(out[:lines]) + "\n"


if __name__ == "__main__":
    sys.stdout.write(synthetic_log(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
