"""The journal on both backends (a real SQLite file, a real PostgreSQL): votes idempotent,
withdrawable, kept across reopenings; a damaged or newer store refused and left as it was;
secrets masked before anything is written."""

from __future__ import annotations

import sqlite3
import time

import numpy as np
import pytest

from kb.journal import SCHEMA_VERSION, Origin, SearchRecord, VoteRecord, open_journal
from kb.journal.keys import client_hash, mask_secrets, pack, template_of, unpack
from kb.journal.sqlite import FILE, JournalUnavailable, SQLiteJournal
from kb.journal.writer import Pending, Writer

# Real-looking secrets of the kinds pastes carry (none of them live).
SECRETS = [
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36P",
    "hunter2-Correct-Horse",
    "s3cr3t-db-pass",
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "xoxb-2456-fake-slack-token-value",
    "glpat-Zx9yW8vU7tS6rQ5pO4nM",
    "alice.smith@example.com",
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "QmFzZTY0RW5jb2RlZFNlY3JldFZhbHVlVGhhdElzTG9uZ0Vub3VnaDEyMzQ1Njc4OTA=",
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7",
    "sk_live_51H8xKJ2eZvKYlo2C0aBcDeFgHiJkLmNoPq",
]
PASTE = "\n".join(
    [
        "botocore.exceptions.ClientError: AccessDenied for key AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
        "SflKxwRJSMeKKF2QT4fwpMeJf36P",
        "login failed: user=orders password=hunter2-Correct-Horse",
        "dsn postgres://orders:s3cr3t-db-pass@db.internal:5432/orders refused",
        "git clone https://ghp_16C7e42F292c6912E7710c838347Ae178B4a@github.com/acme/orders failed",
        "slack token xoxb-2456-fake-slack-token-value invalid_auth",
        "PRIVATE-TOKEN: glpat-Zx9yW8vU7tS6rQ5pO4nM",
        "mail to alice.smith@example.com bounced",
        "session 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 expired",
        "payload QmFzZTY0RW5jb2RlZFNlY3JldFZhbHVlVGhhdElzTG9uZ0Vub3VnaDEyMzQ1Njc4OTA= rejected",
        "-----BEGIN PRIVATE KEY-----",
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7",
        "-----END PRIVATE KEY-----",
        "stripe: api_key=sk_live_51H8xKJ2eZvKYlo2C0aBcDeFgHiJkLmNoPq",
    ]
)


@pytest.fixture
def journal(backend):
    """The journal of each backend, empty."""
    _, data, url = backend
    j = open_journal(data, url)
    yield j
    j.close()


def _vote(client="c1", query="disk full on /var", article="runbooks/disk-full", vote="solved", at=None):
    at = time.time() if at is None else at
    return VoteRecord(at, client, query, template_of(query), article, vote, "gen-1", pack(np.ones(4) / 2))


def test_masking_removes_every_secret_and_keeps_the_error():
    masked = mask_secrets(PASTE)
    for secret in SECRETS:
        assert secret not in masked, secret
        assert secret[:12] not in masked, secret  # not even a prefix of one
    assert "AccessDenied" in masked and "invalid_auth" in masked and "bounced" in masked


def test_no_secret_reaches_the_file_through_the_writer(tmp_path):
    journal = SQLiteJournal(tmp_path)
    writer = Writer(journal)
    writer.submit(Pending(time.time(), "api", "10.0.0.7", "s1", PASTE, "none"))
    assert writer.flush()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith(FILE))
    for secret in SECRETS:
        assert secret.encode() not in raw, secret
    assert b"10.0.0.7" not in raw  # the client is a salted hash
    (record,) = list(journal.searches(0))
    assert record.client == client_hash(journal.salt(), "10.0.0.7") and "AccessDenied" in record.query


def test_what_the_writer_stores_has_no_secret_on_either_backend(journal):
    writer = Writer(journal, linger=0.05)
    writer.submit(Pending(time.time(), "api", "10.0.0.7", "s1", PASTE, "none"))
    assert writer.flush()
    (record,) = list(journal.searches(0))
    for secret in SECRETS:
        assert secret not in record.query, secret
    assert record.client == client_hash(journal.salt(), "10.0.0.7") and "AccessDenied" in record.query


def test_votes_are_one_per_client_problem_and_article_and_can_be_withdrawn(journal):
    j = journal
    first = j.add_vote(_vote())
    again = j.add_vote(_vote(query="disk full on /var", vote="not_relevant"))  # the same client changes its mind
    assert first == again
    j.add_vote(_vote(client="c2"))
    assert {(v.client, v.vote) for v in j.votes()} == {("c1", "not_relevant"), ("c2", "solved")}
    assert j.add_vote(_vote(query="disk full on /var 2")) == first  # numbers dropped: the same problem
    assert {(v.client, v.vote) for v in j.votes()} == {("c1", "solved"), ("c2", "solved")}
    assert j.withdraw("c1", template_of("disk full on /var"), "runbooks/disk-full", time.time()) == 1
    assert j.withdraw("c1", template_of("disk full on /var"), "runbooks/disk-full", time.time()) == 0
    assert {(v.client, v.vote) for v in j.votes()} == {("c1", "withdrawn"), ("c2", "solved")}


def test_the_file_is_versioned_and_kept_across_openings(tmp_path):
    SQLiteJournal(tmp_path).add_vote(_vote())
    conn = sqlite3.connect(tmp_path / FILE)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert len(SQLiteJournal(tmp_path).votes()) == 1


@pytest.mark.parametrize("damage", ["newer", "garbage"])
def test_a_newer_or_damaged_file_is_refused_and_left_as_it_was(tmp_path, damage):
    path = tmp_path / FILE
    if damage == "newer":
        SQLiteJournal(tmp_path).add_vote(_vote())
        conn = sqlite3.connect(path)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.close()
    else:
        path.write_bytes(b"this is not a database\n" * 200)
    before = path.read_bytes()
    with pytest.raises(JournalUnavailable) as e:
        SQLiteJournal(tmp_path)
    assert str(path) in str(e.value) and (
        "newer kb" in str(e.value) if damage == "newer" else "cannot be read" in str(e.value)
    )
    assert path.read_bytes() == before


def test_votes_of_the_old_feedback_file_are_imported(tmp_path):
    old = sqlite3.connect(tmp_path / "feedback.sqlite")
    old.execute(
        "CREATE TABLE feedback (id INTEGER PRIMARY KEY, at REAL NOT NULL, query TEXT NOT NULL, "
        "article_id TEXT NOT NULL, vote TEXT NOT NULL, generation TEXT)"
    )
    old.execute(
        "INSERT INTO feedback (at, query, article_id, vote, generation) VALUES (1.0, 'disk full', 'runbooks/disk-full', 'solved', 'g')"
    )
    old.commit()
    old.close()
    (v,) = SQLiteJournal(tmp_path).votes()
    assert (v.article_id, v.vote, v.client) == ("runbooks/disk-full", "solved", "legacy")


def test_retention_prunes_searches_and_keeps_votes(journal):
    j = journal
    old, new = time.time() - 100 * 86400, time.time()
    rec = [SearchRecord(at, "api", "c", "s", "q", "q", "none") for at in (old, new)]
    j.add_searches(rec)
    j.add_vote(_vote(at=old))
    assert j.purge(time.time() - 90 * 86400, votes=False) == (1, 0)
    assert len(list(j.searches(0))) == 1 and len(j.votes()) == 1
    assert j.purge(time.time() + 1) == (1, 1)


def test_answers_are_counted_incrementally(journal):
    j = journal
    j.add_searches(
        [
            SearchRecord(1.0, "api", "c", "s", "q", "q", "strong", ["a"], [0.9]),
            SearchRecord(2.0, "api", "c", "s", "q", "q", "none", ["b"], [0.1]),
        ]
    )
    counts, last = j.answers()
    assert counts == {"a": (1, 1.0)}  # a search that found nothing has no answer
    j.add_searches([SearchRecord(3.0, "api", "c", "s", "q", "q", "possible", ["a"], [0.5])])
    assert j.answers(last)[0] == {"a": (1, 3.0)}


def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path):
    class Stuck:
        def salt(self):
            return "x"

        def add_searches(self, records):
            time.sleep(5)

    writer = Writer(Stuck(), max_queue=3)  # type: ignore[arg-type]
    started = time.perf_counter()
    for _ in range(10):
        writer.submit(Pending(time.time(), "api", "c", "s", "q", "none"))
    assert time.perf_counter() - started < 0.5
    assert writer.dropped >= 6


def test_vectors_round_trip_in_half_precision():
    v = np.random.default_rng(0).standard_normal(384).astype(np.float32)
    assert np.allclose(unpack(pack(v)), v, atol=2e-3) and len(pack(v)) == 768
    assert Origin("api").who == "local"


def test_a_vote_round_trips_whole_on_either_backend(journal):
    vote = _vote(query="x509: certificate has expired", article="runbooks/tls-cert-expired", at=1000.5)
    journal.add_vote(vote)
    (row,) = list(journal.vote_rows(0))
    assert row == vote  # every field, the vector's bytes included
    (stored,) = journal.votes()
    assert (stored.at, stored.vector, stored.changed) == (1000.5, vote.vector, 1000.5)
    search = SearchRecord(2.0, "slack", "c", "s", "q", "q", "strong", ["a", "b"], [0.9, 0.4], 3.5, b"\x01\x02", ["db"])
    journal.add_searches([search])
    assert list(journal.searches(0)) == [search]
    assert journal.salt() == journal.salt() and len(journal.salt()) == 32
    assert journal.ping() is None


def test_postgres_schema_is_versioned_and_a_newer_one_refused(postgres_url):
    import psycopg

    from kb.journal.postgres import PostgresJournal

    PostgresJournal(postgres_url).add_vote(_vote())
    assert len(PostgresJournal(postgres_url).votes()) == 1  # opened again: migrated once, kept
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        (version,) = conn.execute("SELECT value FROM kb_meta WHERE key = 'schema_version'").fetchone()
        assert int(version) == SCHEMA_VERSION
        conn.execute("UPDATE kb_meta SET value = %s WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(JournalUnavailable, match="newer kb"):
        PostgresJournal(postgres_url)
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT count(*) FROM votes").fetchone()[0] == 1  # left as it was


def test_postgres_that_is_not_there_is_a_clear_error_without_the_password():
    from kb.journal.postgres import PostgresJournal

    started = time.monotonic()
    with pytest.raises(JournalUnavailable) as e:
        PostgresJournal("postgresql://kb:hunter2@127.0.0.1:9/kb")  # nothing listens on port 9
    assert "cannot be reached" in str(e.value) and "hunter2" not in str(e.value) and "kb:***@" in str(e.value)
    assert time.monotonic() - started < 10


def test_replicas_starting_together_migrate_once(postgres_url):
    from concurrent.futures import ThreadPoolExecutor

    from kb.journal.postgres import PostgresJournal

    with ThreadPoolExecutor(4) as pool:
        journals = list(pool.map(lambda _: PostgresJournal(postgres_url), range(4)))
    salts = {j.salt() for j in journals}
    assert len(salts) == 1  # one installation, one salt, whichever replica asked first
    for n, j in enumerate(journals):
        j.add_vote(_vote(client=f"c{n}"))
    assert len(journals[0].votes()) == 4
