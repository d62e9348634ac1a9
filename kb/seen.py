"""What a server remembers having seen: alert firings it logged or forwarded, Slack signatures it
accepted. `Seen` is one process's memory; `SharedSeen` is the same on a SQLite file that the
workers of one `kb serve --workers N` share, so a repeat reaching another worker is still a
repeat (a replayed Slack request is refused, a firing is forwarded and logged once). Replicas
on other machines each keep their own (README, "Running kb for a team")."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from pathlib import Path
from typing import Protocol


class Memory(Protocol):
    def add(self, key: Hashable) -> bool: ...

    def discard(self, key: Hashable) -> None: ...

    def __contains__(self, key: Hashable) -> bool: ...


class Seen:
    """The keys seen last (bounded, oldest forgotten first); safe across threads."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._keys: OrderedDict[Hashable, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._keys

    def add(self, key: Hashable) -> bool:
        """Remember `key`; whether it was new."""
        with self._lock:
            new = key not in self._keys
            self._keys[key] = None
            self._keys.move_to_end(key)
            while len(self._keys) > self.size:
                self._keys.popitem(last=False)
            return new

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._keys.pop(key, None)


class SharedSeen:
    """`Seen` in a SQLite file shared by processes (one table, a `kind` a user of it); keys are
    stored as their repr (strings and tuples of them)."""

    PRUNE_EVERY = 1000  # adds between two trims to `size`

    def __init__(self, file: Path, kind: str, size: int = 50_000) -> None:
        self.kind, self.size = kind, size
        self._conn = sqlite3.connect(file, timeout=10, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._adds = 0
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=OFF")  # a memory for one run: the file goes with the master
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS seen (kind TEXT, key TEXT, at REAL, PRIMARY KEY (kind, key))"
            )
            self._conn.execute("CREATE INDEX IF NOT EXISTS seen_at ON seen(kind, at)")

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            q = "SELECT 1 FROM seen WHERE kind = ? AND key = ?"
            return self._conn.execute(q, (self.kind, repr(key))).fetchone() is not None

    def add(self, key: Hashable) -> bool:
        """Remember `key`; whether it was new to every process sharing the file."""
        row = (self.kind, repr(key))
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")  # no other process between the look and the write
            try:
                existed = self._conn.execute("SELECT 1 FROM seen WHERE kind = ? AND key = ?", row).fetchone()
                self._conn.execute("INSERT OR REPLACE INTO seen VALUES (?, ?, ?)", (*row, time.time()))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._adds += 1
            if self._adds % self.PRUNE_EVERY == 0:
                self._conn.execute(
                    "DELETE FROM seen WHERE kind = ? AND at < (SELECT at FROM seen WHERE kind = ? "
                    "ORDER BY at DESC LIMIT 1 OFFSET ?)",
                    (self.kind, self.kind, self.size - 1),
                )
            return existed is None

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM seen WHERE kind = ? AND key = ?", (self.kind, repr(key)))
