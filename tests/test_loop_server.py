"""The knowledge loop through a real `kb serve` process: no acknowledged vote is lost when the
server is killed mid-write, a damaged journal never stops searches (and is left as it was),
searches are logged with their channel and session, and insights and feedback need the token."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
import urllib.error
import urllib.request

import pytest

from kb.journal.sqlite import FILE, SQLiteJournal
from tests.conftest import FIXTURE_KB, serve_process

WORDS = [
    "amber",
    "birch",
    "cedar",
    "delta",
    "ember",
    "fjord",
    "glade",
    "heron",
    "iris",
    "juniper",
    "kestrel",
    "lumen",
    "maple",
    "nectar",
    "onyx",
    "pine",
    "quartz",
    "raven",
    "sage",
    "tundra",
]


def _post(url, body, headers=None, timeout=10):
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status, json.loads(resp.read())


def _get(url, headers=None):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_no_acknowledged_vote_is_lost_when_the_server_is_killed(built_index, tmp_path):
    data = tmp_path / "var"
    acked: list[tuple[str, str]] = []
    lock = threading.Lock()
    stop = threading.Event()
    with serve_process(FIXTURE_KB, built_index, data) as (base, proc):

        def client(n: int) -> None:
            for i in range(400):
                if stop.is_set():
                    return
                query = f"checkout {WORDS[n % 20]} {WORDS[i % 20]} {WORDS[(i // 20) % 20]} failure"
                try:
                    status, _ = _post(
                        base + "/api/v1/feedback",
                        {"query": query, "article_id": "runbooks/disk-full", "vote": "solved"},
                        {"X-KB-Client": f"client-{n}"},
                        timeout=5,
                    )
                except OSError:
                    return  # the server is gone: what was acknowledged must be there
                if 200 <= status < 300:
                    with lock:
                        acked.append((f"client-{n}", query))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(acked) < 150 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        stop.set()
        for t in threads:
            t.join(timeout=10)
    assert len(acked) >= 150, "the clients got too few votes through to test anything"
    conn = sqlite3.connect(data / FILE)  # what a restart sees: the WAL is replayed
    stored = {(c, q) for c, q in conn.execute("SELECT client, query FROM votes")}
    conn.close()
    journal = SQLiteJournal(data)
    from kb.journal.keys import client_hash

    salt = journal.salt()
    missing = [(c, q) for c, q in acked if (client_hash(salt, c), q) not in stored]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged votes were lost: {missing[:3]}"


@pytest.mark.parametrize("damage", ["garbage", "newer"])
def test_a_damaged_journal_never_stops_searches_and_is_kept(built_index, tmp_path, damage):
    data = tmp_path / "var"
    data.mkdir()
    path = data / FILE
    if damage == "garbage":
        path.write_bytes(b"\x00not sqlite\x00" * 500)
    else:
        SQLiteJournal(data).close()
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA user_version = 99")
        conn.close()
    before = path.read_bytes()
    with serve_process(FIXTURE_KB, built_index, data) as (base, _):
        status, body = _get(base + "/readyz")
        ready = json.loads(body)
        assert status == 200 and ready["journal"] == "unavailable" and str(path) in ready["journal_error"]
        status, result = _post(base + "/api/v1/search", {"query": "No space left on device"})
        assert status == 200 and result["results"][0]["id"] == "runbooks/disk-full"
        with pytest.raises(urllib.error.HTTPError) as e:
            _post(base + "/api/v1/feedback", {"query": "disk", "article_id": "runbooks/disk-full", "vote": "solved"})
        assert e.value.code == 503 and json.loads(e.value.read())["error"]["code"] == "journal_unavailable"
    assert path.read_bytes() == before
    assert "journal unavailable" in (data / "serve.log").read_text()


def test_searches_are_logged_and_counted_and_insights_need_the_token(built_index, tmp_path):
    data = tmp_path / "var"
    token = "t0ken-for-the-loop-test"
    auth = {"Authorization": f"Bearer {token}"}
    with serve_process(FIXTURE_KB, built_index, data, KB_API_TOKEN=token, KB_PUBLIC_SITE="1") as (base, _):
        for q in ("No space left on device", "the espresso machine is leaking", "No space left on the device"):
            _post(base + "/api/v1/search", {"query": q}, {**auth, "X-KB-Session": "s-1", "X-KB-Client": "alice"})
        _post(
            base + "/api/v1/feedback",
            {"query": "No space left on device", "article_id": "runbooks/disk-full", "vote": "solved"},
            auth,
        )
        assert _get(base + "/api/v1/insights/summary")[0] == 401
        assert _get(base + "/insights")[0] in (200, 303) and "login" in _get(base + "/insights")[1].lower()
        deadline = time.monotonic() + 10
        while True:
            status, body = _get(base + "/api/v1/insights/summary?days=1", auth)
            summary = json.loads(body)
            if summary["totals"]["searches"] == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert status == 200 and summary["totals"]["searches"] == 3 and summary["totals"]["sessions"] == 1
        assert summary["channels"] == {"api": 3} and summary["totals"]["solved"] == 1
        assert summary["top_articles"][0]["id"] == "runbooks/disk-full"
        metrics = _get(base + "/metrics", auth)[1]
        assert 'kb_searches_total{channel="api",match="none"} 1.0' in metrics
        assert 'kb_feedback_total{vote="solved"} 1.0' in metrics
        status, body = _get(base + "/api/v1/insights/gaps?days=1", auth)
        gaps = json.loads(body)["gaps"]
        assert status == 200 and any("espresso" in e for g in gaps for e in g["examples"])
        assert _get(base + "/api/v1/insights/gaps?days=0", auth)[0] == 400
    rows = list(SQLiteJournal(data).searches(0))
    assert [r.channel for r in rows] == ["api"] * 3 and len({r.client for r in rows}) == 1
    assert all(r.client != "alice" and len(r.client) == 16 for r in rows)
    assert all(len(r.vector) == 768 for r in rows)  # 384 float16
