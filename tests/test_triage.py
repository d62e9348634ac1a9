"""Log triage without the model: reading, record splitting on real formats, prefixes, the
masking that keeps error codes, mining, and bad input (tests/data/logs/, written for kb)."""

from __future__ import annotations

import gzip
import io

import pytest

from kb.errors import EmptyLog, KBError, LogTooLarge, NotALog, QueryTooComplex
from kb.triage.analysis import analyse
from kb.triage.levels import ERROR, FATAL, INFO, WARN, parse_levels
from kb.triage.masking import mask
from kb.triage.options import TriageOptions
from kb.triage.prefixes import Prefixes
from kb.triage.reading import decode, read_files
from kb.triage.records import split

from .conftest import DATA

LOGS = DATA / "logs"
ALL = TriageOptions.parse("all")


def records(name: str):
    return list(split(decode((LOGS / name).read_bytes()).lines))


def spans(name: str) -> list[tuple[int, int]]:
    return [(r.first + 1, r.last + 1) for r in records(name)]


def test_java_traces_and_caused_by_chains_are_one_record():
    recs = records("logback-java.log")
    assert [(r.first + 1, r.last + 1) for r in recs if r.last > r.first] == [(3, 8), (12, 21), (24, 30), (32, 35)]
    place = next(r for r in recs if r.first + 1 == 12)
    # the message, the first exception and the root cause - not the frames in between
    assert place.msg.startswith(
        "Failed to place order 88121 org.springframework.dao.DataAccessResourceFailureException"
    )
    assert place.msg.endswith(
        "Caused by: org.postgresql.util.PSQLException: FATAL: remaining connection slots are "
        "reserved for non-replication superuser connections"
    )
    assert "HibernateJpaDialect" not in place.msg and place.level == ERROR
    assert recs[0].msg.startswith("Started OrdersApplication") and recs[0].level == INFO  # Spring Boot prefix stripped


def test_python_tracebacks_fold_with_their_last_line_and_chained_exceptions():
    recs = records("python-logging.log")
    assert spans("python-logging.log") == [(1, 1), (2, 8), (9, 9), (10, 14), (15, 15), (16, 27), (28, 28), (29, 29)]
    chained = recs[5]
    assert "OSError: [Errno 28] No space left on device" in chained.msg
    assert chained.msg.endswith("notify.errors.SpoolError: /var/lib/notify/spool/5a1f.tmp")  # the last exception
    assert recs[1].msg == "delivery of message 55120 failed httpx.ReadTimeout: timed out"  # not an ...Error name
    assert recs[6].msg == "giving up after 3 attempts" and recs[6].level == ERROR  # ERROR:logger:msg
    assert recs[4].level == WARN


def test_json_lines_are_one_record_each_with_their_error_and_level():
    recs = records("json-lines.log")
    assert len(recs) == 9
    assert recs[1].msg == "upstream request failed dial tcp 10.4.7.19:8080: connect: connection refused"
    assert recs[1].level == ERROR and recs[0].level == INFO and recs[4].level == WARN
    bunyan = recs[5]  # level 50, err as an object with a stack
    assert bunyan.level == ERROR and "GatewayError: payment gateway declined charge" in bunyan.msg
    assert bunyan.text is not None and "at charge (/srv/billing/gateway.js:77:11)" in bunyan.text
    docker = recs[6]  # Docker json-file: the line it holds, with its own prefix
    assert docker.msg == "x509: certificate has expired or is not yet valid" and docker.level == ERROR


def test_a_go_panic_and_its_goroutine_dump_are_one_record():
    assert spans("go-panic.log") == [(1, 1), (2, 12)]
    assert records("go-panic.log")[1].level == ERROR


@pytest.mark.parametrize(
    "line, level, message",
    [
        ("2026-03-10 04:12:55.123 [main] ERROR c.e.orders.Orders - payment failed", ERROR, "payment failed"),
        ("2026-03-10T04:12:55.123Z  WARN 1 --- [main] c.e.Orders : pool low", WARN, "pool low"),
        ("2026-03-10 04:12:55,123 - orders.db - ERROR - deadlock detected", ERROR, "deadlock detected"),
        ("2026-03-10 04:12:55 UTC [4411] FATAL:  too many clients already", FATAL, "too many clients already"),
        ("E0310 04:12:55.123456   12345 kubelet.go:1294] Error syncing pod", ERROR, "Error syncing pod"),
        (
            "Mar 10 04:12:55 web-3 sshd[811]: error: PAM: Authentication failure",
            None,
            "error: PAM: Authentication failure",
        ),
        ("<11>1 2026-03-10T04:12:55.003Z web-3 app 512 - - disk full", ERROR, "disk full"),
        ("2026/03/10 04:12:55 [warn] 22#22: *5 upstream response is buffered", WARN, "upstream response is buffered"),
        ("[Tue Mar 10 04:12:55.1 2026] [core:error] [pid 9] AH00124: loop", ERROR, "AH00124: loop"),
        (
            '10.1.2.3 - - [10/Mar/2026:04:12:55 +0000] "GET /x HTTP/1.1" 503 157 "-" "curl"',
            ERROR,
            '"GET /x HTTP/1.1" 503',
        ),
        ("03-17 16:13:46.765  2227  2794 W Keyguard: battery low", WARN, "battery low"),
        ("04:12:55.123 [main] INFO  c.e.Orders - started", INFO, "started"),
        ("WARNING:orders.cache:stale entry", WARN, "stale entry"),
        ('ts=2026-03-10T04:12:55Z level=error msg="upstream timeout"', ERROR, "upstream timeout"),
        ("[ERROR] build failed", ERROR, "build failed"),
    ],
)
def test_prefixes_of_the_common_formats(line, level, message):
    parsed = Prefixes().parse(line)
    assert parsed is not None
    assert (parsed.level, parsed.msg) == (level, message)


@pytest.mark.parametrize(
    "message, key, template",
    [
        (
            "ORA-00942: table or view does not exist (stmt 991)",
            ("ORA-00942",),
            "ORA-00942: table or view does not exist (stmt <*>)",
        ),
        (
            "charge ch_7 declined: PGW-E4012 descriptor rejected",
            ("PGW-E4012",),
            "charge <*> declined: PGW-E4012 descriptor rejected",
        ),
        (
            "could not serialize (SQLSTATE 40001) order 7781",
            ("40001",),
            "could not serialize (SQLSTATE 40001) order <*>",
        ),
        (
            "ERROR: 40P01: deadlock detected on relation 16384",
            ("40P01",),
            "ERROR: 40P01: deadlock detected on relation <*>",
        ),
        ("upstream returned HTTP 503 after 1200 ms", ("503",), "upstream returned HTTP 503 after <*> ms"),
        ('"GET /api/cart HTTP/1.1" 502', ("502",), '"GET /api/cart <*>" 502'),
        (
            "java.lang.OutOfMemoryError: Java heap space in thread 42",
            ("java.lang.OutOfMemoryError",),
            "java.lang.OutOfMemoryError: Java heap space in thread <*>",
        ),
        ("connect ECONNREFUSED 10.0.0.7:5432", ("ECONNREFUSED",), "connect ECONNREFUSED <*>:<*>"),
        (
            "pod orders-7d9f8b-x2kq9 exited with exit code 137: OOMKilled",
            ("137", "OOMKilled"),
            "pod <*> exited with exit code 137: OOMKilled",
        ),
        (
            "OSError: [Errno 28] No space left on device",
            ("OSError", "28"),
            "OSError: [Errno 28] No space left on device",
        ),
        ("picked up batch 7781 (120 messages)", (), "picked up batch <*> (<*> messages)"),
    ],
)
def test_masking_keeps_the_codes_that_name_the_problem(message, key, template):
    assert mask(message) == (key, template)


def _mined(lines: list[str], options: TriageOptions = ALL):
    return analyse("\n".join(lines), options, 10**7)


def test_templates_merge_what_varies_and_never_merge_different_codes():
    lines = []
    for i in range(30):
        lines.append(
            f"2026-03-10T04:00:{i:02d}Z ERROR upstream returned HTTP {502 if i % 3 else 503} for order {9000 + i}"
        )
        lines.append(
            f"2026-03-10T04:00:{i:02d}Z ERROR {'ORA-00942' if i % 2 else 'ORA-01017'}: query {i} failed on node-{i % 4}"
        )
        lines.append(f"2026-03-10T04:00:{i:02d}Z INFO  served request {i} in {i * 3} ms")
    a = _mined(lines, TriageOptions.parse("error,warn"))
    got = {t.template: t.count for t in a.templates}
    assert got == {
        "upstream returned HTTP 502 for order <*>": 20,
        "upstream returned HTTP 503 for order <*>": 10,
        "ORA-00942: query <*> failed on <*>": 15,
        "ORA-01017: query <*> failed on <*>": 15,
    }
    assert a.records == 90 and a.kept == 60
    assert a.templates[0].count == 20  # most frequent first among equal levels
    assert a.templates[0].first_line == 4 and a.templates[0].last_line == 88


def test_a_different_word_is_a_different_template_a_quoted_one_a_value():
    lines = []
    for i in range(12):
        lines.append(f"2026-03-10T04:00:{i:02d}Z ERROR [instance: {i}] VM {('Started', 'Paused', 'Resumed')[i % 3]}")
        lines.append(f'2026-03-10T04:00:{i:02d}Z ERROR relation "{("orders", "users")[i % 2]}" does not exist')
    got = {t.template: t.count for t in _mined(lines).templates}
    assert got == {"relation <*> does not exist": 12, "VM Started": 4, "VM Paused": 4, "VM Resumed": 4}


def test_levels_default_to_errors_and_warnings_and_an_exception_is_an_error():
    a = _mined(
        [
            "2026-03-10 04:00:01,001 - app - INFO - cache warmed",
            "2026-03-10 04:00:02,001 - app - INFO - retry failed with psycopg2.OperationalError: server closed",
            "2026-03-10 04:00:03,001 - app - DEBUG - tick",
            "2026-03-10 04:00:04,001 - app - WARNING - slow response",
        ],
        TriageOptions(),
    )
    assert [(t.level, t.template) for t in a.templates] == [
        (ERROR, "retry failed with psycopg2.OperationalError: server closed"),
        (WARN, "slow response"),
    ]
    assert parse_levels("error") == {ERROR, FATAL} and parse_levels("all") == {1, 2, 3, 4, 5}
    with pytest.raises(Exception, match="did you mean error"):
        parse_levels("eror")


def test_min_count_time_window_and_line_numbers():
    lines = [f"2026-03-10T04:0{i % 10}:00Z ERROR job {i} failed" for i in range(10)] + [
        "2026-03-10T05:00:00Z ERROR lone"
    ]
    a = _mined(lines, TriageOptions.parse("all", min_count=2, since="2026-03-10T04:05:00Z", line_numbers=True))
    assert [(t.template, t.count, t.line_numbers) for t in a.templates] == [("job <*> failed", 5, [6, 7, 8, 9, 10])]
    assert a.below_min == 1 and any("fewer than 2" in n for n in a.notes)
    assert a.templates[0].first_seen == "2026-03-10T04:05:00.000Z"


def test_nothing_at_the_chosen_levels_says_so():
    a = _mined(["2026-03-10T04:00:00Z INFO all good", "2026-03-10T04:00:01Z DEBUG tick"], TriageOptions())
    assert a.templates == [] and a.records == 2
    assert a.notes == [
        "no records at the chosen levels (error,warn) among 2 records - choose all levels to see them "
        "(--levels all, levels=all)"
    ]


def test_binary_empty_and_damaged_input_are_clear_errors():
    with pytest.raises(NotALog, match="binary data, not a log"):
        decode(bytes(range(256)) * 64)
    with pytest.raises(EmptyLog, match="the log is empty"):
        decode(b"\n \n\t\n")
    with pytest.raises(NotALog, match="truncated gzip"):
        analyse(gzip.compress(b"ERROR x\n" * 1000)[:-20], ALL, 10**6)


def test_over_the_cap_stops_reading_there(tmp_path):
    huge = tmp_path / "huge.log"
    with huge.open("wb") as f:  # 5 GB, sparse: nothing to read past the cap
        f.truncate(5 * 1024**3)
    with pytest.raises(LogTooLarge, match="over 1 MB"):
        read_files([str(huge)], io.BytesIO(), limit=1_000_000)
    bomb = gzip.compress(b"ERROR the same line again\n" * 2_000_000)  # 52 MB in 100 KB
    with pytest.raises(LogTooLarge, match="decompressed"):
        analyse(bomb, ALL, 1_000_000)


def test_files_are_read_in_order_gzip_opened(tmp_path):
    (tmp_path / "a.log").write_bytes(b"ERROR first")  # no final newline: the next file starts a line
    (tmp_path / "b.log.gz").write_bytes(gzip.compress(b"ERROR second\n"))
    data = read_files([str(tmp_path / "a.log"), str(tmp_path / "b.log.gz"), "-"], io.BytesIO(b"ERROR third\n"))
    assert data == b"ERROR first\nERROR second\nERROR third\n"


def test_a_log_without_line_breaks_is_split_at_its_timestamps():
    one_line = " ".join(f"2026-03-10T04:{i // 60:02d}:{i % 60:02d}Z ERROR disk {i % 3} full" for i in range(600))
    a = analyse(one_line, ALL, 10**7)
    assert a.lines == 1 and a.records == 600
    assert [(t.template, t.count) for t in a.templates] == [("disk <*> full", 600)]
    assert any("no line breaks" in n for n in a.notes)


def test_mixed_encodings_are_decoded_with_replacement_and_counted():
    data = "ERROR café au lait spilled\n".encode() + "ERROR café au lait spilled\n".encode("latin-1") * 3
    a = analyse(data, ALL, 10**6)
    assert a.notes == [
        "3 lines were not UTF-8 (another encoding, or damage): the bytes that do not decode were replaced with \ufffd"
    ]
    assert a.records == 4


def test_distinct_lines_past_the_template_cap_are_dropped_and_counted():
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
    lines = [f"ERROR {words[i % 10]}{words[i // 10 % 10]} {words[i // 100 % 10]} broke" for i in range(1000)]
    a = analyse("\n".join(lines), TriageOptions(max_templates=50), 10**7)
    assert len(a.templates) == 50  # words are never <*>: 1,000 distinct lines, 1,000 templates but for the cap
    assert a.dropped == 950 and sum(t.count for t in a.templates) == 50
    assert any("template cap (50) was reached" in n for n in a.notes)


def test_the_worker_process_mines_the_same_and_is_stopped_past_its_budget():
    from kb.triage.worker import analyse_isolated

    data = (LOGS / "logback-java.log").read_bytes()
    here, there = analyse(data, ALL, 10**6), analyse_isolated(data, ALL, 10**6, None, 60.0)
    assert [(t.template, t.count, t.first_line) for t in there.templates] == [
        (t.template, t.count, t.first_line) for t in here.templates
    ]
    with pytest.raises(QueryTooComplex, match="budget"):
        analyse_isolated(data, ALL, 10**6, None, 0.01)
    with pytest.raises(KBError) as e:  # the worker's errors come back with their code and status
        analyse_isolated(b"\x00\x01" * 500, ALL, 10**6, None, 60.0)
    assert (e.value.code, e.value.status) == ("not_a_log", 400) and "binary data" in str(e.value)
