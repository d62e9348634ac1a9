"""`kb serve` as a real process (waitress) answering over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .conftest import FIXTURE_KB


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(built_index, tmp_path):
    port = _free_port()
    kb = Path(sys.executable).with_name("kb")
    env = {**os.environ, "KB_DATA": str(tmp_path / "var")}
    proc = subprocess.Popen([str(kb), "--articles", str(FIXTURE_KB), "--index", str(built_index), "serve",
                             "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            break
        except (urllib.error.URLError, ConnectionError):
            assert proc.poll() is None, proc.stdout.read().decode()
            time.sleep(0.2)
    yield base, proc
    proc.terminate()
    proc.wait(timeout=10)


def _post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read()), resp.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), e.headers


def test_real_server_answers_search_over_http(server):
    base, proc = server
    status, body, headers = _post(base + "/api/v1/search", {
        "query": "FATAL: remaining connection slots are reserved for non-replication superuser connections"})
    assert status == 200
    assert body["results"][0]["id"] == "known-issues/postgres-too-many-connections"
    assert headers["Server"] == "kb"  # waitress, not the development server
    status, body, _ = _post(base + "/api/v1/search", {"query": ""})
    assert status == 400 and body["error"]["code"] == "bad_query"
    with urllib.request.urlopen(base + "/readyz", timeout=10) as r:
        assert json.loads(r.read())["articles"] == 17
    assert proc.poll() is None
