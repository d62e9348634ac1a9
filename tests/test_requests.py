"""What the API does with bodies and queries that are wrong: a 400 that names the field, never a
500; and long pastes, which are not wrong."""

from __future__ import annotations

import json

import pytest

from .test_api import assert_error, assert_schema


def _post(client, body):
    return client.post("/api/v1/search", data=json.dumps(body), content_type="application/json")


@pytest.mark.parametrize(
    "body, words",
    [
        ({"query": 123}, ["`query` must be a string, not a number"]),
        ({"query": "disk", "k": "3"}, ["`k` must be an integer, not a string"]),
        ({"query": "disk", "filters": {"type": "runbook"}}, ["`filters.type` must be a list, not a string"]),
        ({"query": "disk", "kk": 3}, ["unknown field `kk` (did you mean `k`?)"]),
        ({"query": "disk", "typ": ["runbook"]}, ["unknown field `typ`"]),
        ({"query": "disk", "filters": {"type": ["blah"]}}, ["`filters.type[0]` is 'blah'", "runbook"]),
        ({"query": "disk", "filters": {"type": ["Runbook"]}}, ["did you mean runbook?"]),
        ({"query": "disk", "filters": {"include_deprecated": True}}, ["unknown field `include_deprecated`"]),
        ({"k": 3}, ["'query' is required"]),
    ],
)
def test_a_body_that_does_not_fit_the_schema_is_a_400_naming_the_field(client, body, words):
    resp = _post(client, body)
    assert_error(resp, 400, "bad_query")
    for w in words:
        assert w in resp.json["error"]["message"], resp.json["error"]["message"]


def test_a_lone_surrogate_is_a_400_not_a_500(client):
    body = '{"query": "disk \\ud800 full"}'
    assert_error(client.post("/api/v1/search", data=body, content_type="application/json"), 400, "bad_query")
    fb = '{"query": "\\udfff", "article_id": "runbooks/disk-full", "vote": "solved"}'
    resp = client.post("/api/v1/feedback", data=fb, content_type="application/json")
    assert_error(resp, 400, "bad_query")
    assert "surrogate" in resp.json["error"]["message"]


def test_json_nested_a_thousand_levels_is_a_400_not_a_500(client):
    body = '{"query": "disk", "filters": ' + "[" * 980 + "]" * 980 + "}"
    assert_error(client.post("/api/v1/search", data=body, content_type="application/json"), 400, "bad_query")
    assert_error(client.post("/api/v1/search", data="[" * 100_000, content_type="application/json"), 400)


def test_an_unknown_type_is_a_400_with_the_valid_values(client):
    resp = client.get("/api/v1/search", query_string={"q": "OOMKilled", "type": "Runbook"})
    assert_error(resp, 400, "bad_query")
    assert "did you mean runbook?" in resp.json["error"]["message"]
    assert "known-issue" in resp.json["error"]["message"]


def test_an_unknown_service_says_so_instead_of_calling_the_paste_new(client):
    resp = client.get("/api/v1/search", query_string={"q": "OOMKilled", "service": "nonexistent"})
    assert resp.status_code == 200
    assert_schema(resp.json, "SearchResponse")
    assert resp.json["match"] == "none" and resp.json["novel"] is False
    assert resp.json["warnings"] == ["no article has service 'nonexistent'"]
    near = client.get("/api/v1/search", query_string={"q": "OOMKilled", "service": "order"}).json
    assert "(nearest: orders" in near["warnings"][0]


def test_hidden_articles_have_one_documented_switch(client):
    assert_error(client.get("/api/v1/search", query_string={"q": "redis", "all": "1"}), 400)
    shown = client.get("/api/v1/search", query_string={"q": "old redis guide", "include_hidden": "1", "k": 20}).json
    hidden = client.get("/api/v1/search", query_string={"q": "old redis guide", "k": 20}).json
    assert {r["status"] for r in shown["results"]} > {r["status"] for r in hidden["results"]} == {"published"}
    body = {"query": "old redis guide", "k": 20, "filters": {"include_hidden": True}}
    assert {r["id"] for r in _post(client, body).json["results"]} == {r["id"] for r in shown["results"]}


def test_a_long_paste_is_searched_on_its_salient_lines(client):
    noise = "".join(f"2026-03-10T04:00:{i % 60:02d}Z INFO worker processed order {i} in 12 ms\n" for i in range(600))
    log = (
        noise
        + "2026-03-10T04:10:00Z ERROR could not write block 7 of temporary file: No space left on device\n"
        + noise
    )
    assert len(log) > 25_000
    resp = _post(client, {"query": log, "k": 3})
    assert resp.status_code == 200, resp.json
    assert_schema(resp.json, "SearchResponse")
    data = resp.json
    assert data["input_lines"] == 1201 and 1 <= data["searched_lines"] < 50
    assert data["results"][0]["id"] == "runbooks/disk-full"
    assert len(data["query"]) <= 20_001  # a long paste is echoed in part
