"""KnowledgeBase: the library entry point that the CLI and the web app both use."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from kb import store
from kb.config import Settings
from kb.errors import KBError


class KnowledgeBase:
    """Articles, their index, and search over the current generation (reloaded when it changes)."""

    def __init__(self, settings: Settings, lone_threads: int = 1) -> None:
        """`lone_threads`: threads that embed the query of a search running alone (a server
        gives it every core; see Index._embed)."""
        self.settings = settings
        self.lone_threads = lone_threads
        self._index: Any = None
        self._lock = threading.Lock()
        self._checked = 0.0
        self._expect: dict[str, Any] | None = None
        self.last_reload_error: str | None = None

    @classmethod
    def from_env(cls, **overrides: Any) -> KnowledgeBase:
        return cls(Settings.from_env(**overrides))

    def build(self, full: bool = False, **kw: Any) -> Any:
        """Build and publish a new index generation (see kb.indexer.build)."""
        from kb.indexer import build

        return build(self.settings, full=full, **kw)

    def _expected(self) -> dict[str, Any]:
        if self._expect is None:
            from kb.embedding import model_identity
            from kb.indexer import expected_manifest

            self._expect = expected_manifest(model_identity(self.settings.model))
        return self._expect

    def index(self) -> Any:
        """The loaded current generation; loads it on first use, or when a new one is published.

        A new generation that fails to load is refused: the old one keeps serving and the
        reason is kept in `last_reload_error`.
        """
        now = time.monotonic()
        current = self._index
        if current is not None and now - self._checked < self.settings.reload_interval:
            return current
        with self._lock:
            self._checked = now
            name = store.current_name(self.settings.index)
            if self._index is not None and name == self._index.generation:
                return self._index
            try:
                self._index = self._open(name)
                self.last_reload_error = None
            except KBError as e:
                if self._index is None:
                    raise
                self.last_reload_error = str(e)
            return self._index

    def _open(self, name: str | None) -> Any:
        from kb.search import Index

        gen = store.current_path(self.settings.index) if name is None else self.settings.index / name
        if not gen.is_dir():
            gen = store.current_path(self.settings.index)
        return Index(self.settings.index, Path(gen), self._expected(), lone_threads=self.lone_threads)

    def search(self, query: str, k: int = 10, filters: Any = None, explain: bool = False) -> Any:
        """Search the current generation."""
        return self.index().search(query, k=k, filters=filters, explain=explain)
