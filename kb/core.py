"""KnowledgeBase: the library entry point. Every CLI command and every route is one call into it."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import shlex
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb import store
from kb.config import DEFAULT_K, Settings
from kb.errors import KBError
from kb.results import Filters, Response, SimilarArticle, validate_k
from kb.views import ArticleLink, ArticleView, CheckReport, Draft, FeedbackReceipt, Status

if TYPE_CHECKING:  # heavy: numpy, FAISS, onnxruntime load when an index is first opened
    from kb.evaluate import Evaluation
    from kb.feedback import FeedbackStore
    from kb.indexer import BuildResult
    from kb.search import Index

log = logging.getLogger("kb")
_NOTHING = object()  # no generation: None names one ("no CURRENT pointer")


class KnowledgeBase:
    """Articles, their index, what users write about them, and search over the current
    generation (reloaded when a new one is published)."""

    def __init__(self, settings: Settings, lone_threads: int = 1, background_reload: bool = False) -> None:
        """`lone_threads`: threads that embed the query of a search running alone (a server
        gives it every core; see DenseChannel.embed). `background_reload`: load a newly published
        generation on a thread of its own while requests go on with the old one (a server)."""
        self.settings = settings
        self.lone_threads = lone_threads
        self.background_reload = background_reload
        self._index: Index | None = None
        self._lock = threading.Lock()
        self._checked = 0.0
        self._pending: object = _NOTHING  # the generation being loaded in the background
        self._refused: object = _NOTHING  # the last generation that failed to load (None: CURRENT was gone)
        self._expect: dict[str, Any] | None = None
        self._feedback: FeedbackStore | None = None
        self.last_reload_error: str | None = None

    @classmethod
    def from_env(cls, **overrides: object) -> KnowledgeBase:
        return cls(Settings.from_env(None, **overrides))

    @classmethod
    def scratch(cls, settings: Settings) -> KnowledgeBase:
        """A knowledge base over settings.articles whose index lives in a cache folder of its own
        (`kb eval --articles`: evaluate a corpus without touching ./index)."""
        key = hashlib.sha1(str(settings.articles.resolve()).encode()).hexdigest()[:12]
        return cls(replace(settings, index=Path(tempfile.gettempdir()) / f"kb-eval-{key}"))

    # -- the index ------------------------------------------------------------------------

    def build(
        self, full: bool = False, *, log: Callable[[str], None] = print, wait: float = 0.0, progress: bool | None = None
    ) -> BuildResult:
        """Build and publish a new index generation from the articles (only what changed)."""
        from kb.indexer import build

        return build(self.settings, full=full, log=log, wait=wait, progress=progress)

    def _expected(self) -> dict[str, Any]:
        if self._expect is None:
            from kb.embedding import model_identity

            self._expect = store.expected_manifest(model_identity(self.settings.model))
        return self._expect

    def index(self) -> Index:
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
        serving = self._index.generation if self._index is not None else None
        try:
            idx = self._open(name)
        except KBError as e:
            self._refused, self.last_reload_error = name, str(e)
            log.error("refused index generation %s, still serving %s: %s", name, serving, e)
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

    def _open(self, name: str | None) -> Index:
        from kb.search import Index

        path = self.settings.index / name if name else None
        if path is not None and path.is_dir():
            gen = store.Generation(path)
        else:
            gen = store.Generation.current(self.settings.index)
        return Index(gen, self._expected(), lone_threads=self.lone_threads)

    def status(self) -> Status:
        """Whether an index is loaded (`/readyz`), which one, and why a newer one was refused."""
        try:
            idx = self.index()
        except KBError as e:
            return Status(ready=False, error=e)
        m = idx.manifest
        built_at, commit = m.get("built_at"), m.get("git_commit")
        example = idx.ids[0] if idx.ids else None
        return Status(True, idx.generation, idx.article_count, built_at, commit, self.last_reload_error, example)

    # -- answers --------------------------------------------------------------------------

    def search(
        self, query: object, k: object = DEFAULT_K, filters: Filters | None = None, explain: bool = False
    ) -> Response:
        """The k articles most like a pasted error, log excerpt, alert or symptom (both are
        validated here: a bad value is a BadQuery naming it)."""
        return self.index().search(query, k=k, filters=filters, explain=explain, budget=self.settings.search_budget)

    def article(self, article_id: str, similar: int = 0) -> ArticleView:
        """One article, rendered, with its links resolved and its `similar` nearest neighbours."""
        from kb.render import render_markdown
        from kb.schema import KNOWN_KEYS

        idx = self.index()
        stored = idx.article(article_id)
        html, toc = render_markdown(stored.body, stored.path)
        superseded = stored.meta.get("superseded_by")
        links = []
        for rid in [*stored.related, *([str(superseded)] if superseded else [])]:
            if idx.has(rid):
                other = idx.article(rid)
                links.append(ArticleLink(other.id, other.title, other.type, f"/a/{other.id}"))
        repo = self.settings.repo_url
        return ArticleView(
            article=stored,
            html=html,
            toc=toc,
            url=f"/a/{stored.id}",
            links=links,
            similar=idx.similar(article_id, similar) if similar else [],
            edit_url=f"{repo.rstrip('/')}/{stored.path}" if repo else None,
            extra={k: v for k, v in stored.meta.items() if k not in KNOWN_KEYS},
        )

    def similar(self, article_id: str, k: object = 5) -> list[SimilarArticle]:
        """Published articles nearest to this one."""
        return self.index().similar(article_id, validate_k(k))

    # -- what users write -----------------------------------------------------------------

    def feedback(self, query: object, article_id: object, vote: object) -> FeedbackReceipt:
        """Record "this solved it" / "not relevant" for an article of the current index."""
        from kb.feedback import FeedbackStore

        idx = self.index()
        if isinstance(article_id, str):
            idx.article(article_id)  # NotFound for an unknown article
        if self._feedback is None:
            self._feedback = FeedbackStore(self.settings.data)
        return FeedbackReceipt(self._feedback.record(query, article_id, vote, idx.generation))

    # -- authoring ------------------------------------------------------------------------

    def check(self, paths: Sequence[Path] | None = None, *, similar: bool = True) -> CheckReport:
        """Validate every article, or only `paths` against the whole KB."""
        from kb.check import check_paths

        s = self.settings
        return CheckReport(
            check_paths(s.articles, paths or None, s.index, model=s.model, similar=similar, cache=s.cache)
        )

    def stale(self, days: int) -> CheckReport:
        """Published articles not updated in `days` days, with their owners."""
        from kb.check import stale

        return CheckReport(stale(self.settings.articles, days))

    def new_article(
        self,
        kind: str,
        title: str,
        services: Sequence[str] = (),
        tags: Sequence[str] = (),
        query: str | None = None,
    ) -> Path:
        """Write a new article from its type's template; returns its path."""
        from kb.templates import new_article

        return new_article(self.settings.articles, kind, title, services, tags, query)

    def draft(self, query: str, kind: str = "known-issue") -> Draft:
        """The article `kb new KIND ... --from-query` would write for a paste (the no-match page)."""
        from kb.generalize import draft_title
        from kb.templates import article_id, load_template, render

        title = draft_title(query)
        today = dt.date.today()
        art_id = article_id(kind, title, today)
        text = render(load_template(self.settings.articles, kind), kind, title, art_id, today, query=query)
        return Draft(title, art_id, f"kb new {kind} {shlex.quote(title)} --from-query -", text)

    # -- measuring ------------------------------------------------------------------------

    def evaluate(self, queries: Path, rankings: Sequence[str] | None = None, build: bool = False) -> Evaluation:
        """Recall, MRR and nDCG of a query set (`{"qid","query","relevant"}` lines), per ranking
        (fused, and each channel alone); with `build`, the articles are indexed first."""
        from kb.evaluate import evaluate, load_queries
        from kb.search import RANKINGS

        qs = load_queries(queries)
        if build:
            self.build(log=lambda m: None)
        return evaluate(self.index(), qs, tuple(rankings or RANKINGS))
