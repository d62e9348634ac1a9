"""The journal in PostgreSQL (`KB_DATABASE_URL=postgresql://...`): the same tables, the same
schema version and the same behaviour as kb/journal/sqlite.py, shared by every replica.

psycopg 3 with its connection pool (psycopg_pool): the driver most maintained today, binary
wheels with libpq inside (nothing to build), and a pool that reconnects after the database
restarts. No ORM: the queries are the ten of the `Journal` interface. Every connection has short
connect and statement timeouts, so a database that is down or slow costs a search at most a
moment (searches never write here themselves: the query log's writer queues and retries) and a
vote a clear 503. Migrations run under an advisory lock, so replicas started together migrate
once."""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from kb.journal.base import (
    SCHEMA_VERSION,
    SEARCH_COLUMNS,
    STORED_COLUMNS,
    VOTE_COLUMNS,
    JournalUnavailable,
    SearchRecord,
    StoredVote,
    VoteRecord,
    search_of,
    search_row,
    stored_of,
    vote_of,
)

CONNECT_TIMEOUT = 3  # seconds to reach the database
STATEMENT_TIMEOUT_MS = 5000  # the longest any one query may run
POOL_TIMEOUT = 3.0  # seconds to wait for a free connection of the pool
PING_TIMEOUT, PING_EVERY = 1.0, 2.0  # /readyz: how long to wait for the database, how long the answer holds
_LOCK_KEY = 0x6B620001  # pg_advisory_xact_lock key for migrations ("kb" 1)

MIGRATIONS = {
    1: """
    CREATE TABLE kb_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE searches (
        id BIGSERIAL PRIMARY KEY, at DOUBLE PRECISION NOT NULL, channel TEXT NOT NULL, client TEXT NOT NULL,
        session TEXT NOT NULL, query TEXT NOT NULL, template TEXT NOT NULL, match TEXT NOT NULL,
        top_ids TEXT NOT NULL, top_scores TEXT NOT NULL, took_ms DOUBLE PRECISION NOT NULL, vector BYTEA,
        services TEXT NOT NULL DEFAULT '[]', answer TEXT
    );
    CREATE INDEX searches_at ON searches(at);
    CREATE TABLE votes (
        id BIGSERIAL PRIMARY KEY, at DOUBLE PRECISION NOT NULL, client TEXT NOT NULL, query TEXT NOT NULL,
        template TEXT NOT NULL, article_id TEXT NOT NULL, vote TEXT NOT NULL, generation TEXT,
        vector BYTEA, withdrawn DOUBLE PRECISION, changed DOUBLE PRECISION NOT NULL,
        UNIQUE (client, template, article_id)
    );
    CREATE INDEX votes_changed ON votes(changed);
    """,
}


def redact(url: str) -> str:
    """The URL without its password, for logs, /readyz and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresJournal:
    """The journal in a PostgreSQL database."""

    def __init__(self, url: str, min_size: int = 1, max_size: int = 4) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool

        self.path = redact(url)
        self._psycopg = psycopg
        self._salt: str | None = None
        self._salt_lock = threading.Lock()
        self._pinged: tuple[float, str | None] = (-1e9, None)
        try:
            self.pool = ConnectionPool(
                url,
                min_size=min_size,
                max_size=max_size,
                timeout=POOL_TIMEOUT,
                check=ConnectionPool.check_connection,  # a connection the database dropped is replaced, not used
                kwargs={
                    "connect_timeout": CONNECT_TIMEOUT,
                    "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
                    "application_name": "kb",
                },
                open=False,
            )
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT + 1)
        except Exception as e:  # noqa: BLE001 - any failure to reach it is the same to a person
            raise JournalUnavailable(f"the journal database {self.path} cannot be reached ({_reason(e)})") from None
        try:
            self._migrate()
        except JournalUnavailable:
            self.pool.close()
            raise
        except psycopg.Error as e:
            self.pool.close()
            raise JournalUnavailable(f"the journal database {self.path} cannot be used ({_reason(e)})") from None

    def _migrate(self) -> None:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            exists = conn.execute("SELECT to_regclass('kb_meta') IS NOT NULL").fetchone()
            version = 0
            if exists and exists[0]:
                row = conn.execute("SELECT value FROM kb_meta WHERE key = 'schema_version'").fetchone()
                version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise JournalUnavailable(
                    f"the journal database {self.path} was written by a newer kb (schema {version}, this kb reads "
                    f"{SCHEMA_VERSION}); it is left as it is - upgrade kb, or point KB_DATABASE_URL elsewhere"
                )
            for v in range(version + 1, SCHEMA_VERSION + 1):
                conn.execute(MIGRATIONS[v])
                conn.execute(
                    "INSERT INTO kb_meta VALUES ('schema_version', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(v),),
                )

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        """A connection of the pool; a database error (the pool's timeout too) as JournalUnavailable."""
        try:
            with self.pool.connection() as conn:
                yield conn
        except self._psycopg.Error as e:
            raise JournalUnavailable(f"the journal database {self.path} failed ({_reason(e)})") from None

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """One statement in its own transaction; its rows (its row count for a write without RETURNING)."""
        with self._connection() as conn:
            cur = conn.execute(sql, args)
            return list(cur.fetchall()) if cur.description else [(cur.rowcount,)]

    def ping(self) -> str | None:
        """None when the database answers within PING_TIMEOUT, else why not (for /readyz, which a
        probe calls often: the answer is kept for PING_EVERY seconds)."""
        now = time.monotonic()
        if now - self._pinged[0] < PING_EVERY:
            return self._pinged[1]
        try:
            with self.pool.connection(timeout=PING_TIMEOUT) as conn:
                conn.execute("SELECT 1")
            state = None
        except Exception as e:  # noqa: BLE001 - refused, gone, or no free connection in time
            state = f"the journal database {self.path} cannot be reached ({_reason(e)})"
        self._pinged = (time.monotonic(), state)
        return state

    # -- votes ------------------------------------------------------------------------------

    def add_vote(self, vote: VoteRecord) -> int:
        rows = self._run(
            "INSERT INTO votes (at, client, query, template, article_id, vote, generation, vector, withdrawn, changed) "
            "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,NULL,%s) ON CONFLICT (client, template, article_id) DO UPDATE SET "
            "at = excluded.at, query = excluded.query, vote = excluded.vote, generation = excluded.generation, "
            "vector = excluded.vector, withdrawn = NULL, changed = excluded.changed RETURNING id",
            (
                vote.at,
                vote.client,
                vote.query,
                vote.template,
                vote.article_id,
                vote.vote,
                vote.generation,
                vote.vector,
                vote.at,
            ),
        )
        return int(rows[0][0])

    def withdraw(self, client: str, template: str, article_id: str, at: float) -> int:
        rows = self._run(
            "UPDATE votes SET withdrawn = %s, changed = %s WHERE client = %s AND template = %s AND article_id = %s "
            "AND withdrawn IS NULL",
            (at, at, client, template, article_id),
        )
        return int(rows[0][0])

    def votes(self, since: float = 0.0) -> list[StoredVote]:
        rows = self._run(f"SELECT {STORED_COLUMNS} FROM votes WHERE changed >= %s ORDER BY changed", (since,))
        return [stored_of(r) for r in rows]

    def vote_rows(self, since: float, until: float | None = None) -> Iterator[VoteRecord]:
        rows = self._run(
            f"SELECT {VOTE_COLUMNS} FROM votes WHERE at >= %s AND at < %s ORDER BY at",
            (since, until if until is not None else 1e12),
        )
        return (vote_of(r) for r in rows)

    # -- the query log ----------------------------------------------------------------------

    def add_searches(self, records: Iterable[SearchRecord]) -> None:
        rows = [search_row(r) for r in records]
        if rows:
            with self._connection() as conn, conn.cursor() as cur:
                cur.executemany(f"INSERT INTO searches ({SEARCH_COLUMNS}) VALUES ({', '.join(['%s'] * 13)})", rows)

    def searches(self, since: float, until: float | None = None) -> Iterator[SearchRecord]:
        rows = self._run(
            f"SELECT {SEARCH_COLUMNS} FROM searches WHERE at >= %s AND at < %s ORDER BY at, id",
            (since, until if until is not None else 1e12),
        )
        return (search_of(r) for r in rows)

    def answers(self, after: int = 0) -> tuple[dict[str, tuple[int, float]], int]:
        last = int(self._run("SELECT coalesce(max(id), 0) FROM searches")[0][0])
        rows = self._run(
            "SELECT answer, count(*), max(at) FROM searches WHERE id > %s AND id <= %s AND answer IS NOT NULL "
            "GROUP BY answer",
            (after, last),
        )
        return {r[0]: (int(r[1]), float(r[2])) for r in rows}, last

    def purge(self, before: float, votes: bool = True) -> tuple[int, int]:
        with self._connection() as conn, conn.transaction():
            s = conn.execute("DELETE FROM searches WHERE at < %s", (before,)).rowcount
            v = conn.execute("DELETE FROM votes WHERE at < %s", (before,)).rowcount if votes else 0
        return s, v

    def salt(self) -> str:
        with self._salt_lock:
            if self._salt is None:
                self._run(
                    "INSERT INTO kb_meta VALUES ('salt', %s) ON CONFLICT (key) DO NOTHING", (secrets.token_hex(16),)
                )
                self._salt = str(self._run("SELECT value FROM kb_meta WHERE key = 'salt'")[0][0])
            return self._salt

    def close(self) -> None:
        self.pool.close()


def _reason(e: BaseException) -> str:
    """The first line of a driver error, without the URL or a password in it."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:300]
