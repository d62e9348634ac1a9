"""The journal in SQLite under KB_DATA (`journal.sqlite`): WAL, one connection per thread, the
schema versioned by `PRAGMA user_version` and migrated in place. A file that is damaged or from a
newer kb is refused, never recreated: it stays where it is for a person to look at."""

from __future__ import annotations

import contextlib
import fcntl
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from kb.journal.base import (
    FILE,
    LEGACY,
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

__all__ = ["FILE", "LEGACY", "JournalUnavailable", "SQLiteJournal"]

MIGRATIONS = {
    1: """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE searches (
        id INTEGER PRIMARY KEY, at REAL NOT NULL, channel TEXT NOT NULL, client TEXT NOT NULL,
        session TEXT NOT NULL, query TEXT NOT NULL, template TEXT NOT NULL, match TEXT NOT NULL,
        top_ids TEXT NOT NULL, top_scores TEXT NOT NULL, took_ms REAL NOT NULL, vector BLOB,
        services TEXT NOT NULL DEFAULT '[]', answer TEXT
    );
    CREATE INDEX searches_at ON searches(at);
    CREATE TABLE votes (
        id INTEGER PRIMARY KEY, at REAL NOT NULL, client TEXT NOT NULL, query TEXT NOT NULL,
        template TEXT NOT NULL, article_id TEXT NOT NULL, vote TEXT NOT NULL, generation TEXT,
        vector BLOB, withdrawn REAL, changed REAL NOT NULL,
        UNIQUE (client, template, article_id)
    );
    CREATE INDEX votes_changed ON votes(changed);
    """,
}


@contextlib.contextmanager
def _migrating(file: Path) -> Iterator[None]:
    """One process at a time checks and migrates the file: the workers of `kb serve --workers N`
    open it together, and two creating its tables at once made the second fail ("table votes
    already exists")."""
    with file.with_name(file.name + ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class SQLiteJournal:
    """The journal in one SQLite file."""

    def __init__(self, data_dir: Path) -> None:
        self.file = data_dir / FILE
        self.path = str(self.file)
        self._local = threading.local()
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            with _migrating(self.file):
                self._open()
        except (sqlite3.DatabaseError, OSError) as e:
            raise JournalUnavailable(
                f"{self.file} cannot be read ({e}); it is left as it is - move it away to start a new one"
            ) from None

    def _open(self) -> None:
        """Check the file's schema and migrate it (one process at a time: see _migrating)."""
        conn = self._conn()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise JournalUnavailable(
                f"{self.file} was written by a newer kb (schema {version}, this kb reads {SCHEMA_VERSION}); "
                "it is left as it is - upgrade kb, or point KB_DATA elsewhere"
            )
        for v in range(version + 1, SCHEMA_VERSION + 1):
            with conn:
                conn.executescript(MIGRATIONS[v])
                conn.execute(f"PRAGMA user_version = {v}")
        if version == 0:
            self._import_legacy(conn)
        conn.execute("SELECT count(*) FROM votes").fetchone()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.file, timeout=10, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # an acknowledged vote survives a power cut
            self._local.conn = conn
        return conn

    def _import_legacy(self, conn: sqlite3.Connection) -> None:
        """Votes from the feedback.sqlite of earlier versions (kept as they were, unattributed)."""
        legacy = self.file.with_name(LEGACY)
        if not legacy.is_file():
            return
        old = sqlite3.connect(f"file:{legacy}?mode=ro", uri=True)
        try:
            rows = old.execute("SELECT at, query, article_id, vote, generation FROM feedback").fetchall()
        except sqlite3.DatabaseError:
            rows = []
        finally:
            old.close()
        from kb.journal.keys import template_of

        with conn:
            for at, query, article_id, vote, generation in rows:
                conn.execute(
                    "INSERT OR REPLACE INTO votes (at, client, query, template, article_id, vote, generation, vector, "
                    "withdrawn, changed) VALUES (?,?,?,?,?,?,?,NULL,NULL,?)",
                    (at, "legacy", query[:2000], template_of(query), article_id, vote, generation, at),
                )

    # -- votes ------------------------------------------------------------------------------

    def add_vote(self, vote: VoteRecord) -> int:
        conn = self._conn()
        with conn:
            cur = conn.execute(
                "INSERT INTO votes (at, client, query, template, article_id, vote, generation, vector, withdrawn, "
                "changed) VALUES (?,?,?,?,?,?,?,?,NULL,?) ON CONFLICT (client, template, article_id) DO UPDATE SET "
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
            return int(cur.fetchone()[0])

    def withdraw(self, client: str, template: str, article_id: str, at: float) -> int:
        conn = self._conn()
        with conn:
            cur = conn.execute(
                "UPDATE votes SET withdrawn = ?, changed = ? WHERE client = ? AND template = ? AND article_id = ? "
                "AND withdrawn IS NULL",
                (at, at, client, template, article_id),
            )
            return cur.rowcount

    def votes(self, since: float = 0.0) -> list[StoredVote]:
        rows = self._conn().execute(f"SELECT {STORED_COLUMNS} FROM votes WHERE changed >= ? ORDER BY changed", (since,))
        return [stored_of(r) for r in rows]

    def vote_rows(self, since: float, until: float | None = None) -> Iterator[VoteRecord]:
        rows = self._conn().execute(
            f"SELECT {VOTE_COLUMNS} FROM votes WHERE at >= ? AND at < ? ORDER BY at",
            (since, until if until is not None else 1e12),
        )
        return (vote_of(r) for r in rows)

    # -- the query log ----------------------------------------------------------------------

    def add_searches(self, records: Iterable[SearchRecord]) -> None:
        rows = [search_row(r) for r in records]
        if rows:
            conn = self._conn()
            with conn:
                conn.executemany(f"INSERT INTO searches ({SEARCH_COLUMNS}) VALUES ({', '.join('?' * 13)})", rows)

    def searches(self, since: float, until: float | None = None) -> Iterator[SearchRecord]:
        rows = self._conn().execute(
            f"SELECT {SEARCH_COLUMNS} FROM searches WHERE at >= ? AND at < ? ORDER BY at, id",
            (since, until if until is not None else 1e12),
        )
        return (search_of(r) for r in rows)

    def answers(self, after: int = 0) -> tuple[dict[str, tuple[int, float]], int]:
        conn = self._conn()
        last = conn.execute("SELECT coalesce(max(id), 0) FROM searches").fetchone()[0]
        rows = conn.execute(
            "SELECT answer, count(*), max(at) FROM searches WHERE id > ? AND id <= ? AND answer IS NOT NULL "
            "GROUP BY answer",
            (after, last),
        )
        return {r[0]: (int(r[1]), float(r[2])) for r in rows}, int(last)

    def purge(self, before: float, votes: bool = True) -> tuple[int, int]:
        conn = self._conn()
        with conn:
            s = conn.execute("DELETE FROM searches WHERE at < ?", (before,)).rowcount
            v = conn.execute("DELETE FROM votes WHERE at < ?", (before,)).rowcount if votes else 0
        return s, v

    def ping(self) -> str | None:
        try:
            self._conn().execute("SELECT 1").fetchone()
            return None
        except sqlite3.Error as e:
            return f"{self.file} cannot be read ({e})"

    def salt(self) -> str:
        conn = self._conn()
        row = conn.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()
        if row:
            return str(row[0])
        with conn:
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('salt', ?)", (secrets.token_hex(16),))
        return str(conn.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()[0])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
