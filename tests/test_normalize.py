"""Normalization of pasted text, on real-looking inputs."""

from __future__ import annotations

import pytest

from kb.normalize import identifiers, lexical_terms, mask_volatile, normalize_query, strip_prefix

JAVA = """2025-11-03 08:14:22.481 ERROR 12345 --- [nio-8080-exec-7] o.h.e.j.s.SqlExceptionHelper : ORA-00942: table or view does not exist
java.sql.SQLSyntaxErrorException: ORA-00942: table or view does not exist
\tat oracle.jdbc.driver.T4CTTIoer11.processError(T4CTTIoer11.java:630)
\tat oracle.jdbc.driver.T4CTTIoer11.processError(T4CTTIoer11.java:564)
\tat oracle.jdbc.driver.T4C8Oall.processError(T4C8Oall.java:1231)
\tat oracle.jdbc.driver.T4CTTIfun.receive(T4CTTIfun.java:772)
\tat oracle.jdbc.driver.T4CTTIfun.doRPC(T4CTTIfun.java:299)
\t... 42 more"""

PYTHON = """Traceback (most recent call last):
  File "/app/venv/lib/python3.11/site-packages/redis/connection.py", line 707, in connect
    sock = self.retry.call_with_retry(
  File "/app/worker.py", line 88, in run
    r.set(key, value)
redis.exceptions.ConnectionError: Error 111 connecting to 10.4.2.19:6379. Connection refused."""


@pytest.mark.parametrize(
    "line, expected",
    [
        ("2025-11-03T08:14:22.481Z ERROR something broke", "something broke"),
        ("Nov  3 08:14:22 web-01 kubelet[2231]: Liveness probe failed", "Liveness probe failed"),
        (
            '10.1.2.3 - - [03/Nov/2025:08:14:22 +0000] "GET / HTTP/1.1" 502',
            '10.1.2.3 - - [03/Nov/2025:08:14:22 +0000] "GET / HTTP/1.1" 502',
        ),
        ("[2025-11-03 08:14:22,118] WARN [main] pool exhausted", "pool exhausted"),
        ("E1103 08:14:22.123456    2231 pod_workers.go:1298] Error syncing pod", "Error syncing pod"),
        ('level=error ts=2025-11-03T08:14:22Z msg="rule evaluation failed"', 'msg="rule evaluation failed"'),
    ],
)
def test_log_prefixes_are_stripped(line, expected):
    assert strip_prefix(line) == expected


@pytest.mark.parametrize(
    "text, gone, kept",
    [
        ("request 3f2a9c1e-1111-2222-3333-444455556666 failed", "3f2a9c1e", "failed"),
        ("connect to 10.20.4.11:5432 refused", "10.20.4.11", "refused"),
        ("pod orders-api-7d9f8b6c5-x2k4p OOMKilled", "7d9f8b6c5", "orders-api"),
        ("took 1532ms before timeout", "1532ms", "timeout"),
        ("trace 9f86d081884c7d659a2feaa0c55ad015 lost", "9f86d081884c", "lost"),
        ("offset 1234567890 lag", "1234567890", "lag"),
        ("at 0x7f3a2b1c4d5e segfault", "0x7f3a", "segfault"),
    ],
)
def test_volatile_tokens_are_masked(text, gone, kept):
    out = mask_volatile(text)
    assert gone not in out
    assert kept in out


@pytest.mark.parametrize(
    "text",
    [
        "ORA-00942: table or view does not exist",
        "Error: read ECONNRESET",
        "ERROR: too many connections SQLSTATE 53300",
        "Last State: Terminated Reason: OOMKilled Exit Code: 137",
        "java.lang.OutOfMemoryError: Java heap space",
        "HTTP/1.1 503 Service Unavailable",
        "redis.exceptions.ConnectionError",
    ],
)
def test_error_codes_and_identifiers_survive(text):
    out = normalize_query(text).dense
    for token in ("ORA-00942", "ECONNRESET", "53300", "OOMKilled", "137", "OutOfMemoryError", "503", "ConnectionError"):
        if token in text:
            assert token in out


def test_java_trace_collapses_to_exception_and_top_frames():
    n = normalize_query(JAVA)
    assert "java.sql.SQLSyntaxErrorException: ORA-00942" in n.dense
    assert n.dense.count(" at ") + n.dense.count("\nat ") <= 3
    assert "doRPC" not in n.dense and "42 more" not in n.dense
    assert n.dense.count("ORA-00942: table or view does not exist") == 2  # different lines, both kept


def test_python_traceback_keeps_the_exception_and_innermost_frames():
    n = normalize_query(PYTHON)
    assert "redis.exceptions.ConnectionError" in n.dense
    assert "Connection refused" in n.dense
    assert "10.4.2.19" not in n.dense
    assert "Traceback" not in n.dense


def test_repeated_lines_are_dropped():
    line = "2025-11-03T08:14:{:02d}Z ERROR consumer lag 120000 on orders-events\n"
    n = normalize_query("".join(line.format(s) for s in range(30)))
    assert n.dense.count("consumer lag") == 1


def test_long_pastes_keep_the_salient_lines():
    noise = "".join(
        f"2025-11-03T08:14:{i % 60:02d}Z INFO request served path=/api/v1/items/{i} status=200\n" for i in range(400)
    )
    text = (
        noise[: 20000 // 2]
        + "2025-11-03T08:15:00Z ERROR FATAL: remaining connection slots are reserved\n"
        + noise[20000 // 2 :]
    )
    n = normalize_query(text)
    assert "remaining connection slots are reserved" in n.dense
    assert len(n.dense) <= 1100
    assert n.dropped_lines > 0


def test_kubernetes_event_and_alert():
    event = (
        "Warning  BackOff  3m (x42 over 12m)  kubelet  Back-off restarting failed container "
        "api in pod checkout-api-5c7d9b8f4-qz7lm_prod(1b2c3d4e-aaaa-bbbb-cccc-111122223333)"
    )
    n = normalize_query(event)
    assert "Back-off restarting failed container" in n.dense
    assert "1b2c3d4e" not in n.dense
    alert = (
        "[FIRING:1] KubePodCrashLooping (api checkout prod critical)\nPod prod/checkout-api-5c7d9b8f4-qz7lm "
        '(api) is in waiting state (reason: "CrashLoopBackOff").'
    )
    assert "KubePodCrashLooping" in identifiers(normalize_query(alert).dense)


def test_nginx_postgres_redis_lines():
    nginx = (
        "2025/11/03 08:14:22 [error] 31#31: *1849 upstream timed out (110: Connection timed out) while "
        "reading response header from upstream, client: 10.0.0.7, server: api.example.com"
    )
    assert "upstream timed out" in normalize_query(nginx).dense
    pg = "2025-11-03 08:14:22.104 UTC [48213] FATAL:  sorry, too many clients already"
    assert normalize_query(pg).dense.startswith("FATAL:")
    redis = "1:M 03 Nov 2025 08:14:22.123 # OOM command not allowed when used memory > 'maxmemory'."
    assert "OOM command not allowed" in normalize_query(redis).dense


def test_lexical_terms_keep_identifiers_whole_and_split():
    terms = lexical_terms("ORA-00942 at java.lang.OutOfMemoryError")
    assert "ora-00942" in terms and "ora" in terms and "00942" in terms
    assert "java.lang.outofmemoryerror" in terms and "outofmemoryerror" in terms
    assert "at" not in terms  # stopword
