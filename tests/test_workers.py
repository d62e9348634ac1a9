"""`kb serve --workers N`: real worker processes on one port. Both answer; they count together
on /metrics; each maps the index instead of copying it and picks up a reindex; a dead worker is
replaced; a stop writes every worker's query log; the master itself never loads FAISS or ONNX
(a FAISS search in a parent hangs its forked children); a triage the site started is polled from
any worker. Then the pieces that make that work, in one process."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import signal
import sqlite3
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.cookiejar import CookieJar
from pathlib import Path

from kb.core import KnowledgeBase, TriageSlot
from kb.errors import KBError
from kb.journal.sqlite import SQLiteJournal
from kb.journal.writer import LINGER
from kb.seen import SharedSeen
from kb.triage.jobs import TriageJobs
from kb.triage.result import Triage
from kb.web.workers import Master
from tests.conftest import FIXTURE_KB, publish_new_article, serve_process

QUERY = "write failed: No space left on device"


def _get(url: str, opener=None) -> dict:
    with (opener or urllib.request.build_opener()).open(url, timeout=20) as resp:
        return json.loads(resp.read())


def _search(base: str, query: str = QUERY) -> dict:
    req = urllib.request.Request(
        base + "/api/v1/search", json.dumps({"query": query, "k": 5}).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=20) as resp:
        return json.loads(resp.read())


def _workers(base: str, want: int = 2, seconds: float = 30) -> dict[int, str]:
    """pid -> serving generation of each worker, once `want` different ones answered /readyz
    (each request is a new connection: whichever worker is free takes it)."""
    seen: dict[int, str] = {}
    deadline = time.monotonic() + seconds
    while len(seen) < want:
        assert time.monotonic() < deadline, f"only workers {sorted(seen)} answered"
        r = _get(base + "/readyz")
        seen[r["pid"]] = r["generation"]
    return seen


def _metric(base: str, line_start: str) -> float:
    text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln.startswith(line_start))


def _mapped(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def test_two_workers_share_the_port_the_index_and_the_counters(built_index, tmp_path):
    index = tmp_path / "index"
    shutil.copytree(built_index, index)
    data = tmp_path / "var"
    env = {"KB_RELOAD_INTERVAL": "0.5"}
    with serve_process(FIXTURE_KB, index, data, serve_args=("--workers", "2"), **env) as (base, master):
        workers = _workers(base)
        assert master.pid not in workers
        gen = (index / "CURRENT").read_text().strip()
        assert set(workers.values()) == {gen}

        # The master forked before anything heavy was imported: no FAISS (whose OpenMP pool a
        # forked child cannot use after its parent searched), no ONNX session, no index.
        assert not any(lib in _mapped(master.pid) for lib in ("faiss", "onnxruntime", "libgomp"))
        for pid in workers:  # each worker has its own ONNX session and maps the vectors shared
            assert "onnxruntime" in _mapped(pid)
            maps = [ln for ln in _mapped(pid).splitlines() if ln.endswith(f"/{gen}/dense.faiss")]
            assert maps and all(ln.split()[1] == "r--s" for ln in maps), maps

        # Concurrent searches on both workers: every one answers, and the same (no hang, no mixup).
        expected = _search(base)["results"][0]["id"]
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: _search(base)["results"][0]["id"], range(40)))
        assert answers == [expected] * 40
        assert {pid for pid in workers} == set(_workers(base))  # both still there

        # Counted together: any worker's /metrics adds up both workers' searches.
        for _ in range(4):
            assert _metric(base, 'kb_searches_total{channel="api"') == 41
            assert _metric(base, 'kb_http_requests_total{method="POST",route="/api/v1/search",status="200"}') == 41

        # A reindex is picked up by every worker (each runs its own reload thread).
        new = publish_new_article(tmp_path, index, "workers-new")
        deadline = time.monotonic() + 20
        while set(_workers(base).values()) != {new}:  # each worker's latest answer
            assert time.monotonic() < deadline, "a worker did not pick up the new generation"
            time.sleep(0.25)
        assert _search(base, "quasar flux capacitor misalignment")["results"][0]["id"] == "kb/workers-new"

        # A worker that dies is replaced; the other serves meanwhile. (The query log is written
        # every LINGER seconds: a SIGKILL loses what the victim had not written yet.)
        time.sleep(LINGER * 3)
        victim = next(iter(workers))
        os.kill(victim, signal.SIGKILL)
        assert _search(base)["results"][0]["id"] == expected
        after = _workers(base)
        assert victim not in after and len(after) == 2
        searches = 41 + 1 + 1

        # A stop: every worker finishes and writes its queued query log, the master exits 0
        # and removes its directory (the metrics files, one set per worker).
        pid = next(iter(after))
        shared = next(
            p
            for p in Path(tempfile.gettempdir()).glob("kb-workers-*")
            if (p / "metrics").exists() and (p / "metrics" / f"counter_{pid}.db").exists()
        )
        master.send_signal(signal.SIGTERM)
        assert master.wait(timeout=20) == 0
        assert not any(Path(f"/proc/{pid}").exists() for pid in after)
        assert not shared.exists()
    with sqlite3.connect(data / "journal.sqlite") as db:
        logged = db.execute("SELECT count(*) FROM searches").fetchone()[0]
    assert logged == searches


def test_a_triage_or_a_slack_request_is_the_same_to_every_worker(built_index, tmp_path):
    """A triage the site started is polled from any worker; a replayed Slack request is refused
    by whichever worker it reaches."""
    log = "\n".join(
        f"2026-03-10T04:12:{i % 60:02d}Z ERROR db write failed: No space left on device (attempt {i})"
        for i in range(400)
    )
    secret = "8f742231b10e8888abcd99yyyzzz85a5"
    env = {"KB_SLACK_SIGNING_SECRET": secret}
    with serve_process(FIXTURE_KB, built_index, tmp_path / "var", serve_args=("--workers", "2"), **env) as (base, _):
        _workers(base)
        body = urllib.parse.urlencode({"command": "/kb", "text": QUERY, "user_id": "U1"}).encode()
        ts = str(int(time.time()))
        signature = "v0=" + hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
        headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}
        statuses = []
        for _ in range(8):  # a new connection each: both workers get some
            req = urllib.request.Request(base + "/api/v1/hooks/slack", body, headers)
            try:
                with urllib.request.urlopen(req, timeout=20) as resp:
                    statuses.append(resp.status)
            except urllib.error.HTTPError as e:
                statuses.append(e.code)
        assert statuses == [200] + [401] * 7

        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        opener.open(base + "/triage", timeout=20).read()  # the session and CSRF cookies
        csrf = next(c.value for c in jar if c.name == "kb_csrf")
        form = urllib.parse.urlencode({"log": log, "levels": "error,warn", "csrf_token": csrf}).encode()
        req = urllib.request.Request(base + "/triage", form, {"Accept": "application/json"})
        with opener.open(req, timeout=20) as resp:
            assert resp.status == 202
            job = json.loads(resp.read())
        states = []
        deadline = time.monotonic() + 60
        while not states or states[-1] not in ("done", "failed") or len(states) < 12:
            assert time.monotonic() < deadline, states
            states.append(_get(base + job["status_url"], opener)["state"])  # a 404 would raise
        assert states[-1] == "done", states
        for _ in range(6):  # the result page, from whichever worker takes the connection
            page = opener.open(base + job["url"], timeout=20).read().decode()
            assert "No space left on device" in page


def test_a_job_is_seen_by_another_worker_through_the_shared_directory(tmp_path):
    shared = tmp_path / "triage"
    mine, other = TriageJobs(shared), TriageJobs(shared)
    release = threading.Event()
    result = Triage(lines=3, records=3, kept=3, levels="error", templates=[], took_ms=1.0)

    def work(job):
        job.progress("mining", 1, 3)
        release.wait(10)
        return result

    job = mine.submit("alice", "app.log", 120, work)
    deadline = time.monotonic() + 5
    while other.get(job.id, "alice").phase != "mining":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    seen = other.get(job.id, "alice")
    assert (seen.state, seen.done, seen.total, seen.name, seen.size) == ("running", 1, 3, "app.log", 120)
    try:
        other.get(job.id, "mallory")
        raise AssertionError("another session's job was shown")
    except KBError as e:
        assert e.status == 404
    release.set()
    while other.get(job.id, "alice").state != "done":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert other.get(job.id, "alice").result == result
    for bad in ("../../etc/passwd", "x" * 100, "a/b"):
        try:
            other.get(bad, "alice")
            raise AssertionError(f"{bad!r} was looked up")
        except KBError as e:
            assert e.status == 404


def test_what_one_worker_saw_another_sees(tmp_path):
    mine, other = SharedSeen(tmp_path / "seen.sqlite", "slack"), SharedSeen(tmp_path / "seen.sqlite", "slack")
    assert mine.add("v0=abc") and not other.add("v0=abc") and "v0=abc" in other
    assert SharedSeen(tmp_path / "seen.sqlite", "forwarded").add("v0=abc")  # kinds apart
    other.discard("v0=abc")
    assert mine.add("v0=abc")
    small = SharedSeen(tmp_path / "seen.sqlite", "logged", size=5)
    small.PRUNE_EVERY = 1
    for key in range(20):
        assert small.add(("alert", key))
    assert ("alert", 19) in SharedSeen(tmp_path / "seen.sqlite", "logged") and ("alert", 3) not in small


def test_one_triage_at_a_time_across_the_workers(tmp_path):
    first, second = TriageSlot(tmp_path), TriageSlot(tmp_path)
    assert first.acquire(0)
    started = time.monotonic()
    assert not second.acquire(0.3)
    assert time.monotonic() - started >= 0.3
    first.release()
    assert second.acquire(1)
    second.release()
    assert TriageSlot(None).acquire(0)  # without workers: this process's slot only


def test_workers_opening_a_new_journal_at_once_all_succeed(tmp_path):
    barrier = threading.Barrier(8)
    errors: list[Exception] = []

    def open_it() -> None:
        barrier.wait()
        try:
            SQLiteJournal(tmp_path / "var")
        except Exception as e:  # noqa: BLE001 - collected
            errors.append(e)

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with sqlite3.connect(tmp_path / "var" / "journal.sqlite") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] >= 1


def test_two_workers_by_default_on_two_cores_or_more(monkeypatch):
    from kb.cli import serve

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert serve.default_workers() == 2
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert serve.default_workers() == 1


def test_workers_that_die_at_start_stop_the_master(tmp_path):
    started = time.monotonic()
    assert Master(2, lambda number, shared: 3).run() == 1
    assert time.monotonic() - started < 10


def test_the_index_is_mapped_not_copied_when_served(kb_session):
    kb: KnowledgeBase = kb_session
    kb.search(QUERY)
    gen = kb.status().generation
    maps = [ln for ln in _mapped(os.getpid()).splitlines() if ln.endswith(f"/{gen}/dense.faiss")]
    assert maps and maps[0].split()[1] == "r--s"
