"""The JSON API through Flask's test client; every response is checked against the OpenAPI spec."""

from __future__ import annotations

import jsonschema
import pytest

from kb.journal.sqlite import SQLiteJournal
from kb.web.openapi import MAX_HTTP_QUERY, spec

SPEC = spec()


def assert_schema(data, name):
    schema = {"$ref": f"#/components/schemas/{name}", "components": SPEC["components"]}
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)


def assert_error(resp, status, code=None):
    """The one error shape, never HTML."""
    assert resp.status_code == status
    assert resp.is_json, resp.data[:200]
    assert_schema(resp.json, "Error")
    if code:
        assert resp.json["error"]["code"] == code


def test_post_search_finds_the_postgres_article(client):
    q = "FATAL: remaining connection slots are reserved for non-replication superuser connections"
    resp = client.post("/api/v1/search", json={"query": q, "k": 3})
    assert resp.status_code == 200
    assert_schema(resp.json, "SearchResponse")
    assert resp.json["results"][0]["id"] == "known-issues/postgres-too-many-connections"
    assert resp.json["match"] == "strong"
    assert len(resp.json["results"]) <= 3


def test_get_search_answers_the_same(client):
    q = "OOM command not allowed when used memory > 'maxmemory'"
    get = client.get("/api/v1/search", query_string={"q": q, "k": 2}).json
    post = client.post("/api/v1/search", json={"query": q, "k": 2}).json
    assert [r["id"] for r in get["results"]] == [r["id"] for r in post["results"]]
    assert_schema(get, "SearchResponse")


def test_filters_in_the_body(client):
    resp = client.post("/api/v1/search", json={"query": "connection errors", "k": 50, "filters": {"type": ["runbook"]}})
    assert {r["type"] for r in resp.json["results"]} == {"runbook"}


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"query": ""}, 400, "bad_query"),
        ({"query": "   "}, 400, "bad_query"),
        ({"query": "x" * (MAX_HTTP_QUERY + 1)}, 413, "query_too_long"),
        ({"query": "disk", "k": 0}, 400, "bad_query"),
        ({"query": "disk", "k": 51}, 400, "bad_query"),
        ({"query": "disk", "k": "many"}, 400, "bad_query"),
        ({"query": 42}, 400, "bad_query"),
        ({"query": "disk", "filters": "runbook"}, 400, "bad_query"),
        ([1, 2], 400, "bad_query"),
    ],
)
def test_bad_search_requests(client, body, status, code):
    assert_error(client.post("/api/v1/search", json=body), status, code)


def test_malformed_json_wrong_type_and_method(client):
    assert_error(client.post("/api/v1/search", data="{not json", content_type="application/json"), 400)
    assert_error(client.post("/api/v1/search", data="q=x", content_type="text/plain"), 415)
    resp = client.delete("/api/v1/search")
    assert_error(resp, 405)
    assert "POST" in resp.headers["Allow"]
    assert_error(client.get("/api/v1/nowhere"), 404, "not_found")


def test_oversized_body_is_refused_and_says_what_to_do(client):
    resp = client.post("/api/v1/search", data="x" * (1024 * 1024 + 1), content_type="application/json")
    assert_error(resp, 413)
    assert "KiB" in resp.json["error"]["message"] and "kb search -" in resp.json["error"]["message"]


def test_article_and_similar(client):
    resp = client.get("/api/v1/articles/runbooks/disk-full")
    assert resp.status_code == 200
    assert_schema(resp.json, "Article")
    assert "<h2" in resp.json["html"]
    sim = client.get("/api/v1/articles/runbooks/disk-full/similar?k=3")
    assert_schema(sim.json, "Similar")
    ids = [r["id"] for r in sim.json["results"]]
    assert 0 < len(ids) <= 3 and "runbooks/disk-full" not in ids
    assert_error(client.get("/api/v1/articles/nope/nothing"), 404, "not_found")
    assert_error(client.get("/api/v1/articles/../../etc/passwd"), 404)


def test_feedback_is_recorded(client, app):
    body = {"query": "disk full", "article_id": "runbooks/disk-full", "vote": "solved"}
    resp = client.post("/api/v1/feedback", json=body)
    assert resp.status_code == 201
    assert_schema(resp.json, "FeedbackResponse")
    assert [v.article_id for v in SQLiteJournal(app.config["KB_SETTINGS"].data).votes()] == ["runbooks/disk-full"]
    assert_error(client.post("/api/v1/feedback", json={**body, "vote": "meh"}), 400)
    assert_error(client.post("/api/v1/feedback", json={**body, "article_id": "nope"}), 404)


def test_health_ready_metrics_openapi(client):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["articles"] == 17
    assert_schema(ready.json, "Ready")
    client.post("/api/v1/search", json={"query": "How do I bake sourdough bread at home?"})
    metrics = client.get("/metrics").data.decode()
    assert "kb_search_no_match_total 1.0" in metrics
    assert 'kb_http_requests_total{method="POST",route="/api/v1/search",status="200"}' in metrics
    assert "kb_index_articles 17.0" in metrics
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    assert {
        "/api/v1/search",
        "/api/v1/articles/{id}",
        "/api/v1/articles/{id}/similar",
        "/api/v1/feedback",
        "/healthz",
        "/readyz",
        "/metrics",
    } <= set(doc["paths"])


def test_no_index_answers_503_and_says_to_run_kb_index(tmp_path):
    from kb.config import Settings
    from kb.web import create_app

    client = create_app(Settings(index=tmp_path / "none", data=tmp_path / "var")).test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    resp = client.post("/api/v1/search", json={"query": "disk full"})
    assert_error(resp, 503, "index_missing")
    assert "run `kb index`" in resp.json["error"]["message"]


def test_bearer_token(settings):
    from dataclasses import replace

    from kb.web import create_app

    client = create_app(replace(settings, api_token="s3cret")).test_client()
    assert_error(client.get("/api/v1/search?q=disk"), 401, "unauthorized")
    assert_error(client.get("/api/v1/search?q=disk", headers={"Authorization": "Bearer nope"}), 401)
    ok = client.get("/api/v1/search?q=disk", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_unexpected_errors_are_a_json_500_without_traceback(app, client, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app.extensions["kb"], "search", boom)
    resp = client.post("/api/v1/search", json={"query": "disk"})
    assert_error(resp, 500, "internal_error")
    assert "secret internals" not in resp.get_data(as_text=True)
    assert "Traceback" not in resp.get_data(as_text=True)


def test_rate_limit_answers_429_with_retry_after(settings):
    from dataclasses import replace

    from kb.web import create_app

    client = create_app(replace(settings, rate_limit=20)).test_client()  # burst of 2
    statuses = [client.get("/api/v1/openapi.json").status_code for _ in range(3)]
    assert statuses[:2] == [200, 200]
    resp = client.get("/api/v1/openapi.json")
    assert_error(resp, 429, "rate_limited")
    assert int(resp.headers["Retry-After"]) >= 1
    assert client.get("/").status_code == 429  # the site shares the client's budget
    assert client.get("/search?q=disk").status_code == 429
    assert [client.get("/healthz").status_code for _ in range(5)] == [200] * 5  # probes never are
