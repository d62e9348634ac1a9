"""Log triage end to end with the real model and index: `kb triage`, POST /api/v1/triage (checked
against the OpenAPI document), the /triage page's jobs, the matching and the query log."""

from __future__ import annotations

import gzip
import json
import time

import jsonschema
import pytest

from kb.cli import cli
from kb.config import Settings
from kb.core import KnowledgeBase
from kb.journal import Origin, open_journal
from kb.triage.options import TriageOptions
from kb.web.openapi import spec

from .conftest import DATA, FIXTURE_KB

LOGS = DATA / "logs"
SPEC = spec()


@pytest.fixture(scope="module")
def api_app(built_index, tmp_path_factory):
    """One app for the module's requests (an app loads the index and two encoders: ~1 s)."""
    from kb.web import create_app

    data = tmp_path_factory.mktemp("triage-var")
    return create_app(
        Settings(articles=FIXTURE_KB, index=built_index, data=data, reload_interval=0.0), {"TESTING": True}
    )


@pytest.fixture
def api(api_app):
    return api_app.test_client()


def assert_schema(data, name):
    schema = {"$ref": f"#/components/schemas/{name}", "components": SPEC["components"]}
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)


def by_answer(templates):
    return {t["results"][0]["id"]: t for t in templates if t["match"] != "none"}


def test_cli_prints_one_row_per_problem_with_its_known_issue(runner, built_index):
    r = runner.invoke(cli, ["--index", str(built_index), "triage", str(LOGS / "logback-java.log")])
    assert r.exit_code == 0, r.output
    head, _, table = r.output.partition("\n\n")
    assert head.startswith("36 lines, 13 records, 8 at error,warn: 4 templates in ")
    assert "(read " in head and "mine " in head and "match " in head
    rows = table.splitlines()
    assert rows[0].split() == ["LEVEL", "COUNT", "LINES", "ANSWER", "TEMPLATE"]
    kafka = next(row for row in rows if "CommitFailedException" in row)
    assert kafka.split()[:4] == ["ERROR", "2", "3-32", "strong"] and "known-issues/kafka-commit-failed" in kafka
    assert any("strong known-issues/postgres-too-many-connections" in row for row in rows)


def test_cli_json_lines_carry_every_field_and_line_numbers(runner, built_index):
    r = runner.invoke(
        cli,
        ["triage", "--index", str(built_index), "--json", "--line-numbers", "--levels", "all", "-"],
        input=(LOGS / "logback-java.log").read_text(),
    )
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in r.output.splitlines()]
    assert len(lines) == 6 and all(
        set(SPEC["components"]["schemas"]["TriageTemplate"]["required"]) <= set(t) for t in lines
    )
    for t in lines:
        assert_schema(t, "TriageTemplate")
    kafka = by_answer(lines)["known-issues/kafka-commit-failed"]
    assert kafka["line_numbers"] == [3, 4, 5, 6, 7, 8, 32, 33, 34, 35]
    assert kafka["first_seen"] == "2026-03-10T04:12:52.004Z" and kafka["last_seen"] == "2026-03-10T04:12:58.004Z"
    assert kafka["example"].splitlines()[1].startswith("org.apache.kafka.clients.consumer.CommitFailedException")
    assert len(kafka["results"]) == 3
    assert [t["level"] for t in lines] == ["error"] * 3 + ["warn"] + ["info"] * 2  # most severe first


def test_signatures_are_tried_on_the_raw_example(kb_session):
    r = kb_session.triage((LOGS / "json-lines.log").read_bytes())
    charge = next(t for t in r.templates if "PGW-E4012" in t.template)
    assert charge.best is not None and charge.best.id == "known-issues/payments-gateway-e4012"
    assert charge.best.signature == "PGW-E40\\d\\d" and charge.match == "strong"
    x509 = next(t for t in r.templates if "certificate has expired" in t.template)  # a Docker json-file line
    assert x509.best is not None and x509.best.id == "runbooks/tls-cert-expired"


def test_all_templates_are_embedded_in_one_batch_and_match_as_searches_do(kb_session, monkeypatch):
    idx = kb_session.index()
    batches = []
    encode = idx.dense.encoder.encode
    monkeypatch.setattr(
        idx.dense.encoder, "encode", lambda texts, **kw: batches.append(len(texts)) or encode(texts, **kw)
    )
    r = kb_session.triage((LOGS / "system.log").read_bytes())
    assert batches == [len(r.templates)] and len(r.templates) >= 5
    monkeypatch.undo()
    for t in r.templates:
        alone = kb_session.search(t.example, k=3)
        assert [x.id for x in t.results] == [x.id for x in alone.results], t.template
        assert t.match == alone.match and t.novel == alone.novel


def test_novel_templates_go_to_the_query_log_with_channel_triage(built_index, tmp_path):
    log = (LOGS / "logback-java.log").read_text() + (
        "2026-03-10 04:13:00.000 ERROR 1 --- [main] c.e.Flux : the flux capacitor on rack 7 is misaligned by 3 degrees\n"
    )
    data = tmp_path / "data"
    kb = KnowledgeBase(Settings(articles=FIXTURE_KB, index=built_index, data=data))
    kb.triage(log, origin=Origin("triage", "alice", "s1"))
    assert not (data / "journal.sqlite").exists()  # no query log yet: none is made
    open_journal(data).close()
    kb = KnowledgeBase(Settings(articles=FIXTURE_KB, index=built_index, data=data))
    r = kb.triage(log, origin=Origin("triage", "alice", "s1"))
    assert kb.flush()
    novel = [t.template for t in r.templates if t.novel]
    assert novel and any("flux capacitor" in t for t in novel)
    logged = list(open_journal(data).searches(0.0))
    assert len(logged) == len(novel) and {s.channel for s in logged} == {"triage"}
    assert any("flux capacitor" in s.query for s in logged) and all(s.match == "none" for s in logged)


def test_cli_bad_input_is_an_error_that_says_what_to_do(runner, built_index, tmp_path):
    binary = tmp_path / "core.bin"
    binary.write_bytes(bytes(range(256)) * 40)
    cases = [
        ([str(binary)], "this looks like binary data, not a log"),
        (["-"], "the log is empty"),
        (["--levels", "everything", "-"], "unknown level 'everything'"),
        (["--since", "yesterday", "-"], "`since` must be a date"),
        ([str(tmp_path / "missing.log")], "cannot read"),
    ]
    for args, message in cases:
        r = runner.invoke(cli, ["--index", str(built_index), "triage", *args], input="")
        assert r.exit_code != 0 and message in r.output, (args, r.output)
        assert "Traceback" not in r.output
    r = runner.invoke(cli, ["--index", str(tmp_path), "triage", str(LOGS / "system.log")])
    assert r.exit_code == 1 and "run `kb index` first" in r.output


def test_cli_says_when_nothing_is_at_the_chosen_levels(runner, built_index):
    r = runner.invoke(cli, ["--index", str(built_index), "triage", "--levels", "debug", str(LOGS / "system.log")])
    assert r.exit_code == 0
    assert "no records at the chosen levels (debug) among 16 records" in r.output


def test_api_triage_plain_json_and_gzip(api):
    log = (LOGS / "system.log").read_bytes()
    plain = api.post("/api/v1/triage", data=log, content_type="text/plain")
    assert plain.status_code == 200, plain.json
    assert_schema(plain.json, "TriageResponse")
    assert (plain.json["lines"], plain.json["records"]) == (16, 16)
    answers = by_answer(plain.json["templates"])
    assert {"runbooks/disk-full", "runbooks/dns-resolution-failure", "runbooks/kube-crashloopbackoff"} <= set(answers)
    statuses = [t["template"] for t in plain.json["templates"] if t["template"].startswith('"GET /api/cart')]
    assert statuses == ['"GET /api/cart <*>" 502', '"GET /api/cart <*>" 503']  # statuses never merge
    as_json = api.post("/api/v1/triage", json={"log": log.decode(), "levels": ["all"], "line_numbers": True})
    assert as_json.status_code == 200 and as_json.json["kept"] == 16
    assert all("line_numbers" in t for t in as_json.json["templates"])
    zipped = api.post(
        "/api/v1/triage?levels=all",
        data=gzip.compress(log),
        content_type="text/plain",
        headers={"Content-Encoding": "gzip"},
    )
    assert zipped.status_code == 200 and zipped.json["kept"] == 16


@pytest.mark.parametrize(
    "kwargs, status, code",
    [
        ({"data": b"\x00\x01\x02\x03" * 400, "content_type": "text/plain"}, 400, "not_a_log"),
        ({"data": b"", "content_type": "text/plain"}, 400, "empty_log"),
        ({"data": b"ERROR x\n", "content_type": "text/plain", "query_string": {"levels": "eror"}}, 400, "bad_query"),
        ({"data": b"ERROR x\n" * 1_400_000, "content_type": "text/plain"}, 413, None),
        ({"data": b"log=ERROR", "content_type": "application/x-www-form-urlencoded"}, 415, None),
        ({"json": {"log": "ERROR x", "lvls": "all"}}, 400, "bad_query"),
        ({"data": b"ERROR x", "content_type": "text/plain", "headers": {"Content-Encoding": "gzip"}}, 400, "not_a_log"),
    ],
)
def test_api_triage_bad_requests(api, kwargs, status, code):
    resp = api.post("/api/v1/triage", **kwargs)
    assert resp.status_code == status, resp.json
    assert resp.is_json and "message" in resp.json["error"]
    assert_schema(resp.json, "Error")
    if code:
        assert resp.json["error"]["code"] == code
    if status == 413:
        assert "over 10 MB" in resp.json["error"]["message"] and "kb triage" in resp.json["error"]["message"]


def test_api_triage_runs_a_big_log_in_a_worker_and_one_at_a_time(api, api_app):
    big = ((LOGS / "logback-java.log").read_text() * 80).encode()  # > 256 KB: mined in a worker process
    resp = api.post("/api/v1/triage", data=big, content_type="text/plain")
    assert resp.status_code == 200 and resp.json["lines"] == 36 * 80
    kafka = by_answer(resp.json["templates"])["known-issues/kafka-commit-failed"]
    assert kafka["count"] == 160
    kb = api_app.extensions["kb"]
    assert kb._triage_slot.acquire(1)  # another triage holds the slot
    try:
        busy = api.post("/api/v1/triage", data=b"ERROR x\n", content_type="text/plain")
    finally:
        kb._triage_slot.release()
    assert busy.status_code == 503 and busy.json["error"]["code"] == "triage_busy"


def test_the_triage_page_runs_an_upload_as_a_job(api):
    page = api.get("/triage")
    assert page.status_code == 200 and b'id="triage-form"' in page.data
    csrf = api.get_cookie("kb_csrf").value
    with (LOGS / "python-logging.log").open("rb") as f:
        resp = api.post("/triage", data={"csrf_token": csrf, "levels": "all", "file": (f, "notify.log")})
    assert resp.status_code == 303
    url = resp.headers["Location"]
    deadline = time.monotonic() + 30
    while api.get(url + "/status").json["state"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    done = api.get(url)
    html = done.data.decode()
    assert done.status_code == 200 and 'id="triage-results"' in html
    assert "notify.log: 5 distinct problems" in html and "Disk full" in html
    assert api.get(url.replace("/triage/", "/triage/x")).status_code == 404
    empty = api.post("/triage", data={"csrf_token": csrf, "log": "  "})
    assert empty.status_code == 400 and b"paste a log, or choose a file" in empty.data


def test_options_are_checked_before_anything_is_read():
    with pytest.raises(Exception, match="min_count"):
        TriageOptions.parse(min_count="0")
    with pytest.raises(Exception, match="after `until`"):
        TriageOptions.parse(since="2026-03-11", until="2026-03-10")
