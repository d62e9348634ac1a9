"""The knowledge loop through the Flask app and the CLI (real model, real index, real SQLite):
the site logs with a session cookie, results say how often they were the answer and solved,
/insights draws its charts and never shows a client, KB_QUERY_LOG=off logs nothing, and the
CLI's stats, gaps, export, purge, `search --log` and `eval --history`."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

from kb.cli import cli
from kb.core import KnowledgeBase
from kb.insights import Analysis
from kb.journal import Origin, SearchRecord
from kb.journal.sqlite import SQLiteJournal
from kb.web import create_app
from tests.conftest import DATA, FIXTURE_KB


def _csrf(client):
    html = client.get("/").get_data(as_text=True)
    return html.split('data-csrf="', 1)[1].split('"', 1)[0]


def test_the_site_logs_its_searches_and_shows_votes_and_recurrence(app, client):
    kb: KnowledgeBase = app.extensions["kb"]
    q = "write failed: No space left on device"
    assert client.get("/search", query_string={"q": q}).status_code == 200
    sid = client.get_cookie("kb_sid")
    assert sid is not None and sid.http_only
    client.post(
        "/feedback",
        data={"query": q, "article_id": "runbooks/disk-full", "vote": "solved", "csrf_token": _csrf(client)},
    )
    assert kb.flush()
    kb._recurrence.refresh(force=True)
    html = client.get("/search", query_string={"q": q}).get_data(as_text=True)
    card = html.split('id="r1"', 1)[1].split("</li>", 1)[0]
    assert "solved this 1 time, last just now" in card and "seen 1 time, last" in card
    rows = list(SQLiteJournal(kb.settings.data).searches(0))
    assert [r.channel for r in rows][:1] == ["site"] and rows[0].session == sid.value
    page = client.get("/a/runbooks/disk-full").get_data(as_text=True)
    assert "seen 2 times" in page or "seen 1 time" in page
    assert "1 solved · 0 not relevant" in page


def test_insights_page_draws_charts_and_never_shows_a_client(app, client):
    kb: KnowledgeBase = app.extensions["kb"]
    for n, q in enumerate(
        [
            "No space left on device",
            "x509: certificate has expired or is not yet valid",
            "the espresso machine is leaking",
            "the coffee machine on floor 2 is leaking",
        ]
    ):
        kb.search(q, origin=Origin("api", f"client-{n}", f"session-{n}"))
    assert kb.flush()
    html = client.get("/insights?days=7").get_data(as_text=True)
    assert html.count("<svg") == 2 and 'class="bar-strong"' in html and 'class="bar-none"' in html
    assert "espresso" in html and "kb new known-issue" in html  # a gap, with its command
    clients = {r.client for r in SQLiteJournal(kb.settings.data).searches(0)}
    assert clients and not any(c in html for c in clients)
    assert "<title>Insights · kb</title>" in html
    assert client.get("/insights?days=abc").status_code == 200  # a bad window is the default one


def test_query_log_off_logs_nothing_but_votes_still_count(settings):
    app = create_app(replace(settings, query_log=False), {"TESTING": True})
    c = app.test_client()
    c.post("/api/v1/search", json={"query": "No space left on device"})
    vote = {"query": "No space left on device", "article_id": "runbooks/disk-full", "vote": "solved"}
    assert c.post("/api/v1/feedback", json=vote).status_code == 201
    app.extensions["kb"].flush()
    journal = SQLiteJournal(settings.data)
    assert list(journal.searches(0)) == [] and len(journal.votes()) == 1


def test_api_results_carry_feedback_and_seen_in_the_documented_shape(client, app):
    from tests.test_api import assert_schema

    q = {"query": "No space left on device"}
    client.post("/api/v1/search", json=q)
    client.post("/api/v1/feedback", json={**q, "article_id": "runbooks/disk-full", "vote": "solved"})
    app.extensions["kb"].flush()
    app.extensions["kb"]._recurrence.refresh(force=True)
    body = client.post("/api/v1/search", json=q).json
    assert_schema(body, "SearchResponse")
    top = body["results"][0]
    assert top["feedback"]["solved"] == 1 and top["seen"]["count"] == 1
    assert_schema(client.get("/api/v1/insights/summary").json, "Summary")
    assert_schema(client.get("/api/v1/insights/gaps").json, "Gaps")
    withdrawn = client.post("/api/v1/feedback/withdraw", json={**q, "article_id": "runbooks/disk-full"})
    assert withdrawn.status_code == 200 and withdrawn.json == {"ok": True, "withdrawn": 1}
    assert client.post("/api/v1/feedback/withdraw", json={**q, "article_id": "nope/x"}).status_code == 404


def test_cli_search_log_stats_gaps_export_and_purge(runner, built_index, tmp_path):
    data = tmp_path / "var"
    base = ["--articles", str(FIXTURE_KB), "--index", str(built_index)]
    r = runner.invoke(cli, ["search", *base, "No space left on device"])
    assert r.exit_code == 0 and not (data / "journal.sqlite").exists()  # a local search logs nothing
    for q in ("No space left on device", "the espresso machine is leaking", "the espresso machine leaks again"):
        assert runner.invoke(cli, ["search", *base, "--log", q]).exit_code == 0
    (rec, *_) = list(SQLiteJournal(data).searches(0))
    assert rec.channel == "cli" and rec.session.startswith("cli:")
    r = runner.invoke(cli, ["stats", *base, "--days", "7"])
    assert r.exit_code == 0 and "3 searches in 1 session" in r.output and "runbooks/disk-full" in r.output
    js = json.loads(runner.invoke(cli, ["stats", *base, "--json"]).stdout)
    assert js["totals"]["searches"] == 3
    r = runner.invoke(cli, ["gaps", *base])
    assert r.exit_code == 0 and "espresso" in r.output and "$ kb new known-issue" in r.output
    gaps = json.loads(runner.invoke(cli, ["gaps", *base, "--json"]).stdout)["gaps"]
    assert len(gaps) == 1 and gaps[0]["searches"] == 2  # one problem, said twice
    out = tmp_path / "export.jsonl"
    assert runner.invoke(cli, ["data", "export", "--out", str(out)]).exit_code == 0
    kinds = [json.loads(x)["kind"] for x in out.read_text().splitlines()]
    assert kinds == ["search"] * 3
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    r = runner.invoke(cli, ["data", "purge", "--before", tomorrow])
    assert r.exit_code == 0 and "deleted 3 searches and 0 votes" in r.output
    r = runner.invoke(cli, ["data", "purge", "--before", "yesterday"])
    assert r.exit_code != 0 and "YYYY-MM-DD" in r.output.replace("%Y-%m-%d", "YYYY-MM-DD")


def test_eval_history_replays_votes_and_leaves_unrelated_queries_alone(runner, built_index, tmp_path):
    lines = [json.loads(x) for x in (DATA / "kb_queries.jsonl").read_text().splitlines() if x.strip()]
    by_article: dict[str, list[dict]] = {}
    for q in lines:
        by_article.setdefault(q["relevant"][0], []).append(q)
    history = [qs[0] for qs in by_article.values() if len(qs) > 1]
    test = [q for q in lines if q not in history]
    h, t = tmp_path / "h.jsonl", tmp_path / "t.jsonl"
    h.write_text("".join(json.dumps(q) + "\n" for q in history))
    t.write_text("".join(json.dumps(q) + "\n" for q in test))
    base = ["--articles", str(FIXTURE_KB), "--index", str(built_index)]
    r = runner.invoke(cli, ["eval", *base, str(t), "--no-channels", "--history", str(h), "--json", "-"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["history"]["all"]["R@1"] >= res["fused"]["all"]["R@1"]
    unrelated = tmp_path / "u.jsonl"
    unrelated.write_text(
        "".join(json.dumps(q) + "\n" for q in test if q["relevant"][0] not in {x["relevant"][0] for x in history})
    )
    r = runner.invoke(cli, ["eval", *base, str(unrelated), "--no-channels", "--history", str(h), "--json", "-"])
    res = json.loads(r.stdout)
    assert res["history"]["all"] == res["fused"]["all"]  # no related history: identical


def _rec(at, session, query, match, top="a", vector=b""):
    return SearchRecord(at, "api", session, session, query, query.lower(), match, [top], [0.5], 5.0, vector)


def test_a_re_search_counts_as_a_failed_first_search():
    import numpy as np

    from kb.journal.keys import pack

    v = pack(np.ones(8) / np.sqrt(8))
    w = pack(-np.ones(8) / np.sqrt(8))
    t = 1_000_000.0
    searches = [
        _rec(t, "s1", "disk full on node", "strong", vector=v),
        _rec(t + 60, "s1", "no space left on device", "strong", vector=v),  # the same problem again: the first failed
        _rec(t + 100, "s1", "checkout 502", "strong", vector=w),  # another problem: not a re-search
        _rec(t + 1000, "s2", "disk full on node", "strong", vector=v),  # long after, another session
    ]
    a = Analysis(searches, [], t - 10, t + 2000, {})
    reasons = {f.record.query: f.reason for f in a.failed.values()}
    assert reasons == {"disk full on node": "re-searched"}
    assert a.summary()["totals"]["re_searched"] == 1


def test_repeat_issues_need_distinct_sessions():
    t = 1_000_000.0
    searches = [_rec(t + n, f"s{n % 4}", "OOMKilled", "strong") for n in range(8)]
    searches += [_rec(t + n, "s9", "rare thing", "strong") for n in range(8)]
    s = Analysis(searches, [], t - 10, t + 100, {}).summary()
    assert [(r["example"], r["sessions"], r["searches"]) for r in s["repeat_issues"]] == [("OOMKilled", 4, 8)]


@pytest.mark.parametrize("days", [0, -1, 4000, "7", True])
def test_a_bad_window_is_refused(settings, days):
    from kb.errors import BadQuery

    with pytest.raises(BadQuery, match="days"):
        KnowledgeBase(settings).insights(days)
