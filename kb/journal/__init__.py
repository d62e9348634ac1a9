"""The journal: what users write and do - votes, and the searches they make - kept under KB_DATA
(SQLite by default). One small interface, `Journal`, that a PostgreSQL backend implements too;
everything that reads it (ranking from votes, recurrence, gaps, insights) goes through it."""

from __future__ import annotations

from pathlib import Path

from kb.journal.base import (
    CHANNELS,
    FILE,
    LEGACY,
    SCHEMA_VERSION,
    VOTES,
    Journal,
    JournalUnavailable,
    Origin,
    SearchRecord,
    StoredVote,
    VoteRecord,
)

__all__ = [
    "CHANNELS",
    "SCHEMA_VERSION",
    "VOTES",
    "Journal",
    "JournalUnavailable",
    "Origin",
    "SearchRecord",
    "StoredVote",
    "VoteRecord",
    "journal_exists",
    "open_journal",
]


def open_journal(data_dir: Path, database_url: str | None = None) -> Journal:
    """The journal of an installation: PostgreSQL when a database URL is given, else SQLite
    under `data_dir` (JournalUnavailable when it cannot be used)."""
    if database_url:
        from kb.journal.postgres import PostgresJournal

        return PostgresJournal(database_url)
    from kb.journal.sqlite import SQLiteJournal

    return SQLiteJournal(data_dir)


def journal_exists(data_dir: Path, database_url: str | None = None) -> bool:
    """Whether there is a journal to read (a local `kb search` does not create a file; a
    database is always there to read)."""
    return bool(database_url) or (data_dir / FILE).exists() or (data_dir / LEGACY).exists()
