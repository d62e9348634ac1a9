"""The alert hook (`POST /api/v1/hooks/alertmanager`) through Flask's test client with the real
model: answers in the OpenAPI shape, exact runbook matches first, resolved alerts acknowledged
and not searched, Alertmanager's retry contract (400/401/413 dropped, 503 only without an index,
never 429), one batch per notification, and the forward to chat (once per firing, failures
counted, never a 5xx)."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import jsonschema
import pytest

from kb import alert_answers
from kb.config import Settings
from kb.web import create_app
from kb.web.openapi import spec

from .alerting import ALERT_RUNBOOK_ID, alert, notification, receiver

HOOK = "/api/v1/hooks/alertmanager"
SPEC = spec()
DISK = {
    "summary": "Filesystem has 0.8% available space left on /var/lib/postgresql",
    "description": "pg_wal is 188G; writes will fail with No space left on device",
}
CRASH = {"summary": "Pod prod/orders-api-7d9f8b-x2kqp is in CrashLoopBackOff (OOMKilled, exit code 137)"}


def assert_schema(data, name):
    schema = {"$ref": f"#/components/schemas/{name}", "components": SPEC["components"]}
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)


def assert_error(resp, status, code=None):
    assert resp.status_code == status, resp.data[:300]
    assert resp.is_json
    assert_schema(resp.json, "Error")
    if code:
        assert resp.json["error"]["code"] == code


@pytest.fixture(scope="module")
def hook_settings(alert_kb, tmp_path_factory) -> Settings:
    articles, index = alert_kb
    return Settings(articles=articles, index=index, data=tmp_path_factory.mktemp("hooks-var"), reload_interval=0.0)


def _client(settings, **changes):
    app = create_app(replace(settings, **changes), {"TESTING": True})
    return app, app.test_client()


@pytest.fixture(scope="module")
def app_client(hook_settings):
    """One app for the tests that need no setting of their own (loading an index costs ~1 s)."""
    return _client(hook_settings)


def _logged(app, text: str) -> list:
    """The searches the query log holds whose text starts with `text`."""
    kb = app.extensions["kb"]
    assert kb.flush()
    return [s for s in kb.journal().searches(0.0) if s.query.startswith(text)]


def _by_name(resp):
    return {a["alertname"]: a for a in resp.json["alerts"]}


def test_each_firing_alert_gets_its_best_articles_in_the_documented_shape(app_client):
    app, client = app_client
    resp = client.post(
        HOOK, json=notification(alert("NodeFilesystemAlmostOutOfSpace", **DISK), alert("KubePodCrashLooping", **CRASH))
    )
    assert resp.status_code == 200
    assert_schema(resp.json, "AlertHookResponse")
    got = _by_name(resp)
    disk, crash = got["NodeFilesystemAlmostOutOfSpace"], got["KubePodCrashLooping"]
    assert disk["results"][0]["id"] == "runbooks/disk-full"
    assert crash["results"][0]["id"] == "runbooks/kube-crashloopbackoff"
    assert crash["match"] == "strong" and crash["searched"] is True and crash["fingerprint"] == "fp-kubepodcrashlooping"
    assert crash["query"].splitlines()[0] == "KubePodCrashLooping"
    assert "namespace: prod" in crash["query"] and "service: orders" in crash["query"]
    first = crash["results"][0]
    assert first["url"] == "http://localhost/a/runbooks/kube-crashloopbackoff"
    assert first["root_cause"].startswith("The container exceeds its memory limit")
    assert first["resolution"] and len(crash["results"]) <= 3
    assert resp.json["searches"] == 2


def test_an_article_the_alert_names_or_that_names_the_alert_ranks_first(app_client):
    _, client = app_client
    tls = {"summary": "x509: certificate has expired or is not yet valid for ledger.internal"}
    resp = client.post(
        HOOK,
        json=notification(
            alert("OrdersApiHighErrorRate", summary="orders API 5xx ratio above 5%"),  # the article's `alert` key
            alert("CheckoutErrors", runbook_url="https://wiki.example.com/runbooks/orders-5xx/"),  # its `runbook_url`
            alert("LedgerCertExpiry", runbook_url="https://kb.internal/a/runbooks/disk-full", **tls),  # a kb link
            alert("LedgerCertExpiring", **tls),
        ),
    )
    got = _by_name(resp)
    for name in ("OrdersApiHighErrorRate", "CheckoutErrors"):
        assert got[name]["match"] == "exact"
        assert got[name]["results"][0] == {**got[name]["results"][0], "id": ALERT_RUNBOOK_ID, "exact": True}
    linked = got["LedgerCertExpiry"]
    assert linked["match"] == "exact" and linked["results"][0]["id"] == "runbooks/disk-full"
    assert linked["results"][1]["id"] == "runbooks/tls-cert-expired"  # what the search found comes next
    assert "exact" not in linked["results"][1]
    assert got["LedgerCertExpiring"]["match"] == "strong"
    assert got["LedgerCertExpiring"]["results"][0]["id"] == "runbooks/tls-cert-expired"


def test_resolved_alerts_are_acknowledged_not_searched_and_a_firing_is_logged_once(app_client):
    app, client = app_client
    unsearched = 'kb_hook_alerts_total{match="unsearched",source="alertmanager",status="resolved"}'
    before = _metric(client, unsearched), len(_logged(app, "KubePodCrashLooping")), len(_logged(app, "NodeFilesystem"))
    firing = alert("KubePodCrashLooping", fingerprint="fp-crash-resolved-test", **CRASH)
    gone = alert("NodeFilesystemAlmostOutOfSpace", "resolved", fingerprint="fp-disk-resolved-test", **DISK)
    resp = client.post(HOOK, json=notification(firing, gone))
    resolved = _by_name(resp)["NodeFilesystemAlmostOutOfSpace"]
    assert resolved == {**resolved, "status": "resolved", "searched": False, "match": "none", "results": []}
    assert "not searched" in resolved["note"]
    assert resp.json["searches"] == 1
    assert _metric(client, unsearched) == before[0] + 1
    crash = _logged(app, "KubePodCrashLooping")
    assert len(crash) == before[1] + 1 and crash[-1].channel == "alertmanager"
    assert len(_logged(app, "NodeFilesystem")) == before[2]  # the resolve was not searched
    again = client.post(HOOK, json=notification(firing))  # a repeat notification of the same firing
    assert again.json["alerts"][0]["searched"] is True  # answered again,
    assert len(_logged(app, "KubePodCrashLooping")) == before[1] + 1  # not logged again


def test_an_alert_with_no_text_is_acknowledged_with_match_none(app_client):
    _, client = app_client
    bare = {"status": "pending-ish", "labels": {"severity": "page", "namespace": "prod"}, "annotations": {}}
    resp = client.post(HOOK, json={"alerts": [bare]})  # no version, no receiver: still read
    assert resp.status_code == 200
    (answer,) = resp.json["alerts"]
    assert answer["match"] == "none" and answer["searched"] is False and answer["results"] == []
    assert answer["query"] == "" and resp.json["searches"] == 0
    metrics = client.get("/metrics").data.decode()  # a status nobody sends is no series of its own
    assert 'status="other"' in metrics and "pending-ish" not in metrics


def test_grafana_alerting_payloads_are_read_and_logged_as_grafana(app_client):
    app, client = app_client
    payload = {
        **notification(alert("DiskAlmostFull", **DISK)),
        "version": "1",
        "orgId": 1,
        "state": "alerting",
        "title": "[FIRING:1] DiskAlmostFull",
        "message": "**Firing**\nValue: B=99.2",
    }
    payload["alerts"][0].update(
        values={"B": 99.2}, valueString="[ var='B' value=99.2 ]", silenceURL="http://grafana/silence", dashboardURL=""
    )
    resp = client.post(HOOK, json=payload)
    assert resp.status_code == 200
    assert resp.json["alerts"][0]["results"][0]["id"] == "runbooks/disk-full"
    assert [s.channel for s in _logged(app, "DiskAlmostFull")] == ["grafana"]


@pytest.mark.parametrize(
    "body, message",
    [
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "not an alert notification"),
        (b"{}", "no `alerts` list"),
        (b'{"alerts": "KubePodCrashLooping"}', "no `alerts` list"),
        (b'{"alerts": [1]}', "`alerts[0]` must be an object"),
        (b'{"alerts": [{"labels": ["alertname", "x"]}]}', "`alerts[0].labels` must be an object"),
        (b'{"alerts": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested too deeply"),
    ],
)
def test_a_body_that_is_not_a_notification_is_a_400_that_says_why(app_client, body, message):
    _, client = app_client
    resp = client.post(HOOK, data=body, content_type="application/json")
    assert_error(resp, 400, "bad_query")
    assert message in resp.json["error"]["message"]


def test_a_body_over_one_mib_is_a_413(app_client):
    _, client = app_client
    big = json.dumps(notification(alert("X", description="y" * 1_100_000)))
    assert_error(client.post(HOOK, data=big, content_type="application/json"), 413)


def test_hooks_authenticate_like_the_api_never_search_without_it_and_are_never_rate_limited(hook_settings):
    _, client = _client(hook_settings, api_token="s3cret", rate_limit=20)  # a burst of 2 requests
    bearer = {"Authorization": "Bearer s3cret"}
    body = notification(alert("KubePodCrashLooping", **CRASH))
    assert_error(client.post(HOOK, json=body), 401, "unauthorized")
    assert_error(client.post(HOOK, json=body, headers={"Authorization": "Bearer nope"}), 401)
    assert "kb_hook_alerts_total{" not in client.get("/metrics", headers=bearer).data.decode()  # nothing searched
    answers = [client.post(HOOK, json=body, headers=bearer) for _ in range(6)]
    assert [r.status_code for r in answers] == [200] * 6 and answers[0].json["alerts"][0]["searched"] is True
    limited = [client.get("/api/v1/search?q=disk", headers=bearer).status_code for _ in range(3)]
    assert limited[-1] == 429  # the API is limited, the hook never


def test_no_index_is_a_503_alertmanager_retries(tmp_path):
    _, client = _client(Settings(index=tmp_path / "none", data=tmp_path / "var"))
    resp = client.post(HOOK, json=notification(alert("KubePodCrashLooping", **CRASH)))
    assert_error(resp, 503, "index_missing")


def test_a_thousand_alerts_are_answered_in_one_batch(app_client, monkeypatch):
    app, client = app_client
    idx = app.extensions["kb"].index()
    batches = []
    embed = idx.dense.embed_many
    monkeypatch.setattr(idx.dense, "embed_many", lambda texts: batches.append(len(texts)) or embed(texts))
    pods = [
        alert(
            "KubePodCrashLooping",
            fingerprint=f"fp{i}",
            summary=f"Pod prod/orders-api-{i:05x}-q{i % 97:02d}x is in CrashLoopBackOff ({i % 40} restarts)",
        )
        for i in range(1000)
    ]
    started = time.perf_counter()
    resp = client.post(HOOK, json=notification(*pods))
    took = time.perf_counter() - started
    assert resp.status_code == 200 and len(resp.json["alerts"]) == 1000
    assert all(a["searched"] and a["results"][0]["id"] == "runbooks/kube-crashloopbackoff" for a in resp.json["alerts"])
    assert batches == [1] and resp.json["searches"] == 1  # one problem: one search for all 1,000
    assert took < 10, took  # Alertmanager gives a notification at least 10 s

    monkeypatch.setattr(alert_answers, "MAX_SEARCHES", 3)
    names = ["KubePodCrashLooping", "NodeFilesystemAlmostOutOfSpace", "LedgerCertExpiring", "RedisMemoryNearLimit"]
    resp = client.post(HOOK, json=notification(*[alert(n, summary=f"{n} fired") for n in names]))
    assert batches[-1] == 3 and resp.json["searches"] == 3
    last = _by_name(resp)["RedisMemoryNearLimit"]
    assert last["searched"] is False and "more than 3 distinct alerts" in last["note"]


def _metric(client, line: str) -> float:
    for row in client.get("/metrics").data.decode().splitlines():
        if row.startswith(line + " "):
            return float(row.split()[-1])
    return 0.0


@pytest.fixture(scope="module")
def forwarding(hook_settings):
    """An app whose forward goes to a local receiver standing in for Slack's incoming webhook."""
    with receiver() as chat:
        app, client = _client(hook_settings, forward_url=chat.url, public_url="https://kb.example.com")
        yield app, client, chat


def test_the_forward_posts_one_message_per_group_once_per_firing(forwarding):
    app, client, chat = forwarding
    poster = app.extensions["kb_hooks"].poster
    sent, duplicates = 'kb_forward_messages_total{outcome="sent"}', "kb_forward_duplicates_total"
    first = alert("OrdersApiHighErrorRate", summary="orders API 5xx ratio above 5%")
    assert client.post(HOOK, json=notification(first, alert("KubePodCrashLooping", **CRASH))).status_code == 200
    (message,) = chat.wait(1, timeout=10)
    assert message["text"].startswith("[FIRING:2]")
    orders, crash = message["attachments"]
    assert orders["title_link"] == f"https://kb.example.com/a/{ALERT_RUNBOOK_ID}"
    assert orders["title"] == "OrdersApiHighErrorRate: the orders API answers 5xx"
    fields = {f["title"]: f["value"] for f in orders["fields"]}
    assert fields["Match"].startswith("exact") and fields["Alert"] == "OrdersApiHighErrorRate (prod · orders)"
    assert fields["Fix"].startswith("Check the last release") and fields["Root cause"]
    assert crash["title_link"] == "https://kb.example.com/a/runbooks/kube-crashloopbackoff"

    client.post(HOOK, json=notification(first, alert("KubePodCrashLooping", **CRASH)))  # a repeat notification
    client.post(HOOK, json=notification({**first, "status": "resolved"}))  # resolved: never forwarded
    newer = alert("NodeFilesystemAlmostOutOfSpace", **DISK)
    client.post(HOOK, json=notification(first, newer))
    assert poster.drain(10)
    bodies = chat.wait(2, timeout=5)
    assert len(bodies) == 2  # the repeat and the resolve posted nothing
    assert [a["title_link"] for a in bodies[1]["attachments"]] == ["https://kb.example.com/a/runbooks/disk-full"]
    assert _metric(client, sent) == 2 and _metric(client, duplicates) == 3


def test_forward_failures_are_counted_and_never_a_5xx(forwarding):
    app, client, chat = forwarding
    hooks, failed = app.extensions["kb_hooks"], 'kb_forward_messages_total{outcome="failed"}'
    before, posted = _metric(client, failed), len(chat.bodies)
    body = notification(alert("RedisMemoryNearLimit", fingerprint="fp-forward-failure", summary="Redis OOM maxmemory"))
    chat.status = 500
    try:
        assert client.post(HOOK, json=body).status_code == 200
        assert hooks.poster.drain(10) and _metric(client, failed) == before + 1
    finally:
        chat.status = 200
    assert client.post(HOOK, json=body).status_code == 200  # not sent: the next notification tries again
    assert hooks.poster.drain(10) and len(chat.wait(posted + 2, timeout=5)) == posted + 2
    url, hooks.forwarder.url = hooks.forwarder.url, "http://127.0.0.1:9/nothing-listens-here"
    try:
        refused = notification(alert("RedisMemoryNearLimit", fingerprint="fp-forward-refused", summary="Redis OOM"))
        assert client.post(HOOK, json=refused).status_code == 200
        assert hooks.poster.drain(10) and _metric(client, failed) == before + 2
    finally:
        hooks.forwarder.url = url
