"""`kb serve` as a real process (waitress) answering over HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from .conftest import FIXTURE_KB, serve_process


@pytest.fixture
def server(built_index, tmp_path):
    with serve_process(FIXTURE_KB, built_index, tmp_path / "var") as running:
        yield running


def _post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read()), resp.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), e.headers


def test_real_server_answers_search_over_http(server):
    base, proc = server
    status, body, headers = _post(
        base + "/api/v1/search",
        {"query": "FATAL: remaining connection slots are reserved for non-replication superuser connections"},
    )
    assert status == 200
    assert body["results"][0]["id"] == "known-issues/postgres-too-many-connections"
    assert headers["Server"] == "kb"  # waitress, not the development server
    status, body, _ = _post(base + "/api/v1/search", {"query": ""})
    assert status == 400 and body["error"]["code"] == "bad_query"
    with urllib.request.urlopen(base + "/readyz", timeout=10) as r:
        assert json.loads(r.read())["articles"] == 17
    assert proc.poll() is None
