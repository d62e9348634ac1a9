"""Feedback ("this solved it" / "not relevant") stored durably in SQLite under KB_DATA."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from kb.errors import BadQuery

VOTES = ("solved", "not_relevant")


class FeedbackStore:
    """Append-only feedback rows; one short-lived connection per write (thread-safe)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "feedback.sqlite"

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS feedback (id INTEGER PRIMARY KEY, at REAL NOT NULL, "
            "query TEXT NOT NULL, article_id TEXT NOT NULL, vote TEXT NOT NULL, generation TEXT)"
        )
        return conn

    def record(self, query: object, article_id: object, vote: object, generation: str | None = None) -> int:
        """Store one vote; returns its row id."""
        if vote not in VOTES:
            raise BadQuery(f"`vote` must be one of {', '.join(VOTES)}")
        if not isinstance(query, str) or not query.strip() or not isinstance(article_id, str) or not article_id:
            raise BadQuery("feedback needs a non-empty `query` and `article_id`")
        with self._connect() as conn:
            cur = conn.execute(
                "INSERT INTO feedback (at, query, article_id, vote, generation) VALUES (?,?,?,?,?)",
                (time.time(), query[:20_000], article_id, vote, generation),
            )
            return int(cur.lastrowid or 0)

    def count(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT count(*) FROM feedback").fetchone()[0])
