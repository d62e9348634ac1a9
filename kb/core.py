"""KnowledgeBase: the library entry point that the CLI and the web app both use."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from kb import store
from kb.config import Settings
from kb.errors import KBError

log = logging.getLogger("kb")
_NOTHING = object()  # no generation: None names one ("no CURRENT pointer")


class KnowledgeBase:
    """Articles, their index, and search over the current generation (reloaded when it changes)."""

    def __init__(self, settings: Settings, lone_threads: int = 1, background_reload: bool = False) -> None:
        """`lone_threads`: threads that embed the query of a search running alone (a server
        gives it every core; see Index._embed). `background_reload`: load a newly published
        generation on a thread of its own while requests go on with the old one (a server)."""
        self.settings = settings
        self.lone_threads = lone_threads
        self.background_reload = background_reload
        self._index: Any = None
        self._lock = threading.Lock()
        self._checked = 0.0
        self._pending: Any = _NOTHING  # the generation being loaded in the background
        self._refused: Any = _NOTHING  # the last generation that failed to load (None: CURRENT was gone)
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

        A new generation that fails to load is refused: the old one keeps serving, the reason
        is logged and kept in `last_reload_error`, and that generation is not tried again (a
        published generation never changes; the next build publishes another). Loading 100k
        articles takes seconds, so with `background_reload` no request waits for it.
        """
        now = time.monotonic()
        current = self._index
        if current is not None and now - self._checked < self.settings.reload_interval:
            return current
        with self._lock:
            self._checked = now
            name = store.current_name(self.settings.index)
            if self._index is None:
                self._index = self._open(name)  # nothing to fall back on: the caller gets the error
            elif name not in (self._index.generation, self._pending, self._refused):
                if self.background_reload:
                    self._pending = name
                    threading.Thread(target=self._reload, args=(name,), name="kb-reload", daemon=True).start()
                else:
                    self._reload(name)
            return self._index

    def _reload(self, name: str | None) -> None:
        """Load generation `name` and serve it, or refuse it and keep the current one."""
        started = time.monotonic()
        try:
            idx = self._open(name)
        except KBError as e:
            self._refused, self.last_reload_error = name, str(e)
            log.error("refused index generation %s, still serving %s: %s", name, self._index.generation, e)
        else:
            self._index, self.last_reload_error = idx, None
            log.info(
                "serving index generation %s (%d articles, loaded in %.1f s)",
                idx.generation,
                idx.article_count,
                time.monotonic() - started,
            )
        finally:
            self._pending = _NOTHING

    def _open(self, name: str | None) -> Any:
        from kb.search import Index

        gen = store.current_path(self.settings.index) if name is None else self.settings.index / name
        if not gen.is_dir():
            gen = store.current_path(self.settings.index)
        return Index(self.settings.index, Path(gen), self._expected(), lone_threads=self.lone_threads)

    def search(self, query: str, k: int = 10, filters: Any = None, explain: bool = False) -> Any:
        """Search the current generation."""
        return self.index().search(query, k=k, filters=filters, explain=explain)
