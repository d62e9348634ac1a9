"""The journal on a real PostgreSQL through the core, and through two `kb serve` replicas that
share it: votes given on one rank on the other, a reindex reaches both, a replica killed while
votes are written loses nothing either acknowledged, and a database that goes away never
fails a search."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
import urllib.error
import urllib.request

import pytest

from kb.config import Settings
from kb.core import KnowledgeBase
from kb.journal import JournalUnavailable, Origin
from tests.conftest import FIXTURE_KB, need, publish_new_article, serve_process
from tests.postgres import binaries, fresh_database, postgres_server
from tests.test_loop_server import WORDS

QUERY = "write failed: No space left on device"


def _post(url, body, headers=None, timeout=10):
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status, json.loads(resp.read())


def _get(url):
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.fixture
def own_postgres():
    """A server of this test's own, to stop and start again."""
    need(binaries() is not None, "PostgreSQL is missing (apt-get install postgresql)")
    with postgres_server() as server:
        yield server


def test_a_database_that_goes_away_never_fails_a_search(built_index, tmp_path, own_postgres):
    url = fresh_database(own_postgres.url, "kb")
    kb = KnowledgeBase(Settings(articles=FIXTURE_KB, index=built_index, data=tmp_path / "var", database_url=url))
    before = kb.search(QUERY, origin=Origin("api", "alice", "s1"))
    kb.feedback(QUERY, before.results[1].id, "solved", Origin("api", "alice", "s1"))
    voted = kb.search(QUERY).results
    assert next(r for r in voted if r.id == before.results[1].id).feedback["solved"] == 1
    assert kb.status().journal_error is None and kb.flush()

    own_postgres.stop()
    started = time.monotonic()
    during = kb.search(QUERY, origin=Origin("api", "bob", "s2"))  # ranked with the votes known, logged later
    assert [r.id for r in during.results] == [r.id for r in voted]
    assert time.monotonic() - started < 2  # nothing on the search's path waits for the database
    deadline = time.monotonic() + 10  # /readyz keeps a ping's answer for two seconds
    while not kb.status().journal_error and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "cannot be reached" in (kb.status().journal_error or "")
    with pytest.raises(JournalUnavailable):
        kb.feedback(QUERY, before.results[0].id, "solved", Origin("api", "bob", "s2"))  # a clear 503, not a hang
    assert time.monotonic() - started < 20

    own_postgres.start()
    assert kb.flush(40)  # the queued search is written once the database is back
    time.sleep(2.1)
    assert kb.status().journal_error is None
    logged = list(kb.journal().searches(0))  # type: ignore[union-attr]
    assert len(logged) == 2 and logged[1].at > logged[0].at


def test_two_replicas_share_votes_reindexes_and_lose_nothing_when_one_is_killed(built_index, tmp_path, postgres_url):
    index = tmp_path / "index"
    shutil.copytree(built_index, index)
    env = {"KB_DATABASE_URL": postgres_url, "KB_RELOAD_INTERVAL": "0.5"}
    with (
        serve_process(FIXTURE_KB, index, tmp_path / "a", **env) as (a, proc_a),
        serve_process(FIXTURE_KB, index, tmp_path / "b", **env) as (b, _),
    ):
        assert _get(a + "/readyz")["journal"] == "ok" and _get(b + "/readyz")["journal"] == "ok"
        _, first = _post(b + "/api/v1/search", {"query": QUERY, "k": 5})
        second = first["results"][1]
        _post(a + "/api/v1/feedback", {"query": QUERY, "article_id": second["id"], "vote": "solved"})
        deadline = time.monotonic() + 15  # B reads new votes every 5 s
        while True:
            _, again = _post(b + "/api/v1/search", {"query": QUERY, "k": 5})
            now = next(r for r in again["results"] if r["id"] == second["id"])
            if (now.get("feedback") or {}).get("solved") or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        assert now["feedback"]["solved"] == 1 and now["score"] > second["score"]  # A's vote ranks on B

        new = publish_new_article(tmp_path, index, "replica-new")
        deadline = time.monotonic() + 20
        while {_get(a + "/readyz")["generation"], _get(b + "/readyz")["generation"]} != {new}:
            assert time.monotonic() < deadline, "a replica did not pick up the new generation"
            time.sleep(0.25)

        acked: list[tuple[str, str, str]] = []
        lock, stop = threading.Lock(), threading.Event()

        def client(n: int, base: str) -> None:
            for i in range(300):
                if stop.is_set():
                    return
                query = f"disk full on volume {WORDS[n]} {WORDS[i % 20]} {WORDS[(i // 20) % 20]} of the checkout node"
                body = {"query": query, "article_id": "runbooks/disk-full", "vote": "solved"}
                try:
                    status, _ = _post(base + "/api/v1/feedback", body, {"X-KB-Client": f"c{n}"}, timeout=5)
                except OSError:
                    if base == a:
                        return  # A is gone; B's clients go on
                    raise
                if 200 <= status < 300:
                    with lock:
                        acked.append((base, f"c{n}", query))

        threads = [threading.Thread(target=client, args=(n, a if n % 2 else b)) for n in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len({x for x in acked if x[0] == a}) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc_a.pid, signal.SIGKILL)
        proc_a.wait(timeout=10)
        time.sleep(0.5)  # B's clients write on after A is gone
        stop.set()
        for t in threads:
            t.join(timeout=15)
    from kb.journal.keys import client_hash
    from kb.journal.postgres import PostgresJournal

    journal = PostgresJournal(postgres_url)
    salt = journal.salt()
    stored = {(v.client, v.query) for v in journal.vote_rows(0)}
    by_a = [x for x in acked if x[0] == a]
    by_b = [x for x in acked if x[0] == b]
    assert len(by_a) >= 40 and len(by_b) >= 40, "too few votes got through to test anything"
    missing = [x for x in acked if (client_hash(salt, x[1]), x[2]) not in stored]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged votes were lost: {missing[:3]}"
