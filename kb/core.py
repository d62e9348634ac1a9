"""KnowledgeBase: the library entry point. Every CLI command and every route is one call into it."""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import logging
import shlex
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from kb import store
from kb.config import DEFAULT_K, Settings
from kb.errors import BadQuery, KBError, TriageBusy
from kb.journal import VOTES, Journal, JournalUnavailable, Origin, VoteRecord, journal_exists, open_journal
from kb.results import Filters, Response, SimilarArticle, validate_k
from kb.triage.options import TriageOptions
from kb.triage.reading import MAX_CLI_BYTES
from kb.views import ArticleLink, ArticleView, CheckReport, Draft, FeedbackReceipt, Status, WithdrawReceipt

if TYPE_CHECKING:  # heavy: numpy, FAISS, onnxruntime load when an index is first opened
    from kb.evaluate import Evaluation
    from kb.history import FeedbackIndex, Recurrence
    from kb.indexer import BuildResult
    from kb.insights import Analysis
    from kb.journal.writer import Writer
    from kb.search import Index
    from kb.triage.analysis import Progress
    from kb.triage.result import Triage

log = logging.getLogger("kb")
_NOTHING = object()  # no generation: None names one ("no CURRENT pointer")
RETRY_DATABASE = 10.0  # seconds between two attempts to reach a journal database that was down


class KnowledgeBase:
    """Articles, their index, what users write about them, and search over the current
    generation (reloaded when a new one is published)."""

    def __init__(
        self, settings: Settings, lone_threads: int = 1, background_reload: bool = False, isolate_triage: bool = False
    ) -> None:
        """`lone_threads`: threads that embed the query of a search running alone (a server
        gives it every core; see DenseChannel.embed). `background_reload`: load a newly published
        generation on a thread of its own while requests go on with the old one (a server).
        `isolate_triage`: mine big logs in a worker process, off this process's GIL (a server)."""
        self.settings = settings
        self.lone_threads = lone_threads
        self.background_reload = background_reload
        self.isolate_triage = isolate_triage
        self._triage_slot = TriageSlot(settings.run_dir)  # one at a time: each can use a core for seconds
        self._index: Index | None = None
        self._lock = threading.Lock()
        self._checked = 0.0
        self._pending: object = _NOTHING  # the generation being loaded in the background
        self._refused: object = _NOTHING  # the last generation that failed to load (None: CURRENT was gone)
        self._expect: dict[str, Any] | None = None
        self.last_reload_error: str | None = None
        self._journal: Journal | None = None
        self._journal_lock = threading.Lock()
        self.journal_error: str | None = None  # why the journal cannot be used (/readyz says it)
        self._journal_failed_at = -1e9
        self._writer: Writer | None = None
        self._votes: FeedbackIndex | None = None
        self._recurrence: Recurrence | None = None

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
        return Index(gen, self._expected(), lone_threads=self.lone_threads, feedback=self._feedback_index())

    def status(self) -> Status:
        """Whether an index is loaded (`/readyz`), which one, and why a newer one was refused."""
        try:
            idx = self.index()
        except KBError as e:
            return Status(ready=False, error=e)
        m = idx.manifest
        built_at, commit = m.get("built_at"), m.get("git_commit")
        example = idx.ids[0] if idx.ids else None
        return Status(
            True,
            idx.generation,
            idx.article_count,
            built_at,
            commit,
            self.last_reload_error,
            example,
            journal_error=self._journal_state(),
        )

    def _journal_state(self) -> str | None:
        """Why the journal cannot be used now, or None (a database is asked; a file was checked when opened)."""
        journal = self.journal(create=False) if self.settings.database_url else self._journal
        if journal is not None and self.settings.database_url:
            return journal.ping()
        return self.journal_error

    # -- the journal ----------------------------------------------------------------------

    def journal(self, create: bool = True) -> Journal | None:
        """The journal (votes, the query log), opened on first use; None when it cannot be
        used (`journal_error` says why: the file is damaged or from a newer kb; it is left as it
        is) or, with `create` false, when there is none yet."""
        url = self.settings.database_url
        # A database that was down is tried again every RETRY_DATABASE seconds; a damaged or newer
        # SQLite file waits for a person.
        retry = url is not None and time.monotonic() - self._journal_failed_at > RETRY_DATABASE
        if self._journal is None and (self.journal_error is None or retry):
            if not create and not journal_exists(self.settings.data, url):
                return None
            with self._journal_lock:
                if self._journal is None and (self.journal_error is None or retry):
                    try:
                        self._journal = open_journal(self.settings.data, url)
                        self.journal_error = None
                    except JournalUnavailable as e:
                        self.journal_error = str(e)
                        self._journal_failed_at = time.monotonic()
                        log.error("journal unavailable, searches go on without votes or a query log: %s", e)
        return self._journal

    def _need_journal(self) -> Journal:
        journal = self.journal()
        if journal is None:
            raise JournalUnavailable(self.journal_error or "the journal cannot be opened")
        return journal

    def _feedback_index(self) -> FeedbackIndex | None:
        """The votes the history channel ranks with (None without a journal)."""
        if self._votes is None:
            journal = self.journal(create=False)
            if journal is not None:
                from kb.history import FeedbackIndex

                self._votes = FeedbackIndex(journal)
                if self._index is not None:  # opened before there was a journal: it ranks with votes now
                    self._index.use_feedback(self._votes)
        return self._votes

    def _seen(self, article_id: str) -> dict[str, Any] | None:
        if self._recurrence is None:
            journal = self.journal(create=False)
            if journal is None:
                return None
            from kb.history import Recurrence

            self._recurrence = Recurrence(journal)
        return self._recurrence.of(article_id)

    def _log(self, response: Response, origin: Origin) -> None:
        """Hand the search to the query log's writer (off the request path)."""
        if not self.settings.query_log:
            return
        journal = self.journal()
        if journal is None:
            return
        if self._writer is None:
            with self._journal_lock:
                if self._writer is None:
                    from kb.journal.writer import Writer

                    self._writer = Writer(journal, self.settings.retention_days)
        from kb.journal.writer import Pending

        trace = response.trace
        top = response.results[:5]
        self._writer.submit(
            Pending(
                at=time.time(),
                channel=origin.channel,
                who=origin.who,
                session=origin.session,
                text=trace.text if trace else response.query,
                match=response.match,
                top_ids=[r.id for r in top],
                top_scores=[r.score for r in top],
                took_ms=response.took_ms,
                vector=trace.vector if trace else None,
                services=list(top[0].services) if top else [],
            )
        )
        if self._votes is None:  # the journal exists now: votes cast from here on rank
            self._feedback_index()

    @property
    def dropped_searches(self) -> int:
        """Searches the query log dropped because its queue was full (the journal was down)."""
        return self._writer.dropped if self._writer is not None else 0

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the query log has written every search handed to it (tests, shutdown)."""
        return self._writer.flush(timeout) if self._writer is not None else True

    # -- answers --------------------------------------------------------------------------

    def search(
        self,
        query: object,
        k: object = DEFAULT_K,
        filters: Filters | None = None,
        explain: bool = False,
        origin: Origin | None = None,
    ) -> Response:
        """The k articles most like a pasted error, log excerpt, alert or symptom (both are
        validated here: a bad value is a BadQuery naming it). With an `origin` the search is
        logged (unless KB_QUERY_LOG=off); each result says how often it was the answer before."""
        idx = self.index()
        response = idx.search(query, k=k, filters=filters, explain=explain, budget=self.settings.search_budget)
        return self._answered(response, origin)

    def search_many(
        self, queries: Sequence[str], k: object = 3, origins: Sequence[Origin | None] = ()
    ) -> list[Response]:
        """Several pastes at once (the alerts of one notification): embedded in one batch, each
        ranked as a search of it would be; `origins` (one per query, None: not logged) log them."""
        responses = self.index().search_many(queries, k=k)
        padded = [*origins, *[None] * (len(responses) - len(origins))]
        return [self._answered(response, origin) for response, origin in zip(responses, padded, strict=True)]

    def _answered(self, response: Response, origin: Origin | None) -> Response:
        """A search's response with each result's recurrence, logged when it has an origin."""
        for r in response.results:
            r.seen = self._seen(r.id)
        if origin is not None:
            self._log(response, origin)
        return response

    def triage(
        self,
        log: bytes | str,
        options: TriageOptions | None = None,
        *,
        origin: Origin | None = None,
        progress: Progress | None = None,
        limit: int = MAX_CLI_BYTES,
        wait: float | None = 0.0,
        budget: float | None = None,
    ) -> Triage:
        """A whole log in, one entry per distinct problem out, each with kb's best match (kb/triage/).
        `limit` caps the log's bytes (decompressed); `wait` is how long to wait for the one
        triage slot (None: as long as it takes; past it TriageBusy); `budget` bounds its seconds.
        With an `origin`, its novel templates go into the query log, when there is one."""
        from kb.triage.run import run_triage

        idx = self.index()  # no index: say so before reading 50 MB
        if not self._triage_slot.acquire(wait):
            raise TriageBusy("another triage is running on this server - try again in a few seconds")
        try:
            result = run_triage(
                idx,
                log,
                options or TriageOptions(),
                limit=limit,
                isolate=self.isolate_triage,
                progress=progress,
                budget=budget,
            )
        finally:
            self._triage_slot.release()
        if origin is not None and self.settings.query_log and self.journal(create=False) is not None:
            for t in result.novel:
                if t.response is not None:
                    self._log(t.response, origin)
        return result

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
            seen=self._seen(stored.id),
            votes=self._votes.totals(stored.id) if self._feedback_index() is not None and self._votes else None,
        )

    def similar(self, article_id: str, k: object = 5) -> list[SimilarArticle]:
        """Published articles nearest to this one."""
        return self.index().similar(article_id, validate_k(k))

    # -- what users write -----------------------------------------------------------------

    def feedback(
        self, query: object, article_id: object, vote: object, origin: Origin | None = None
    ) -> FeedbackReceipt:
        """Record "this solved it" / "not relevant" for an article of the current index, durably
        (written before this returns). One vote per client, problem and article: voting again
        replaces it. It ranks the next search of the same problem (kb/history.py)."""
        from kb.journal.keys import client_hash, mask_secrets, pack, template_of_masked

        if vote not in VOTES:
            raise BadQuery(f"`vote` must be one of {', '.join(VOTES)}, not {str(vote)[:40]!r}")
        text, article = self._vote_target(query, article_id)
        journal = self._need_journal()
        idx = self.index()
        trace = idx.trace(text)
        masked = mask_secrets(trace.text)
        origin = origin or Origin("cli")
        record = VoteRecord(
            at=time.time(),
            client=client_hash(journal.salt(), origin.who),
            query=masked,
            template=template_of_masked(masked),
            article_id=article,
            vote=str(vote),
            generation=idx.generation,
            vector=pack(trace.vector),
        )
        row = journal.add_vote(record)
        votes = self._feedback_index()
        if votes is not None:
            votes.refresh(force=True)
        return FeedbackReceipt(row)

    def withdraw(self, query: object, article_id: object, origin: Origin | None = None) -> WithdrawReceipt:
        """Take back this client's vote for this problem and article (none: withdrawn 0)."""
        from kb.journal.keys import client_hash, mask_secrets, template_of_masked

        text, article = self._vote_target(query, article_id)
        journal = self._need_journal()
        trace = self.index().trace(text, embed=False)
        origin = origin or Origin("cli")
        n = journal.withdraw(
            client_hash(journal.salt(), origin.who), template_of_masked(mask_secrets(trace.text)), article, time.time()
        )
        votes = self._feedback_index()
        if votes is not None:
            votes.refresh(force=True)
        return WithdrawReceipt(n)

    def _vote_target(self, query: object, article_id: object) -> tuple[str, str]:
        if not isinstance(query, str) or not query.strip():
            raise BadQuery("feedback needs the non-empty `query` that was searched")
        if not isinstance(article_id, str) or not article_id:
            raise BadQuery("feedback needs the `article_id` it is about")
        self.index().article(article_id)  # NotFound for an unknown article
        return query, article_id

    # -- what the journal shows ------------------------------------------------------------

    def insights(self, days: object = 30, now: float | None = None) -> Analysis:
        """The last `days` days of the query log and votes, analysed (`kb stats`, `kb gaps`)."""
        from kb.insights import DAY, Analysis

        if isinstance(days, bool) or not isinstance(days, int | float) or not 0 < days <= 3650:
            raise BadQuery(f"`days` must be a number of days from 1 to 3650, not {str(days)[:20]!r}")
        journal = self._need_journal()
        until = time.time() if now is None else now
        since = until - float(days) * DAY
        searches = list(journal.searches(since, until))
        votes = list(journal.vote_rows(since, until))
        ids = {r.top_ids[0] for r in searches if r.top_ids} | {v.article_id for v in votes}
        try:
            infos = self.index().infos(ids)
        except KBError:  # no index: the report still counts, without titles
            infos = {}
        return Analysis(searches, votes, since, until, infos)

    def export_data(self) -> Iterator[dict[str, Any]]:
        """Every logged search and every vote as JSON objects (`kb data export`), oldest first;
        embeddings as base64 float16, client hashes as stored."""
        import base64
        from dataclasses import asdict

        journal = self._need_journal()
        for kind, rows in (("search", journal.searches(0.0)), ("vote", journal.vote_rows(0.0))):
            for r in rows:
                d = asdict(r)
                d["vector"] = base64.b64encode(d["vector"]).decode() if d["vector"] else None
                yield {"kind": kind, **d}

    def purge_data(self, before: dt.date) -> tuple[int, int]:
        """Delete the searches and votes from before that day (UTC); how many of each."""
        start = dt.datetime.combine(before, dt.time(), dt.UTC).timestamp()
        return self._need_journal().purge(start, votes=True)

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

    def evaluate(
        self, queries: Path, rankings: Sequence[str] | None = None, build: bool = False, history: Path | None = None
    ) -> Evaluation:
        """Recall, MRR and nDCG of a query set (`{"qid","query","relevant"}` lines), per ranking
        (fused, and each channel alone); with `build`, the articles are indexed first. Votes in
        the journal never count; with `history` (query lines too), its searches are replayed as
        "solved" on their relevant articles, one client each, into a journal of its own, and the
        fused ranking is scored again with those votes ("history")."""
        from kb.evaluate import evaluate, load_queries
        from kb.search import RANKINGS

        qs = load_queries(queries)
        past = load_queries(history) if history else None
        if build:
            self.build(log=lambda m: None)
        idx = self.index()
        mine = idx.use_feedback(None)
        try:
            result = evaluate(idx, qs, tuple(rankings or RANKINGS))
            if past is not None:
                with tempfile.TemporaryDirectory(prefix="kb-history-") as tmp:
                    votes = self._replay(idx, past, Path(tmp))
                    idx.use_feedback(votes)
                    result.rankings["history"] = evaluate(idx, qs, ("fused",)).rankings["fused"]
                    votes.journal.close()
        finally:
            idx.use_feedback(mine)
        return result

    @staticmethod
    def _replay(idx: Index, past: Sequence[Any], folder: Path) -> FeedbackIndex:
        """A journal in `folder` holding a "solved" vote for each relevant article of each past query."""
        from kb.history import FeedbackIndex
        from kb.journal.keys import mask_secrets, pack, template_of_masked

        journal = open_journal(folder)
        now = time.time()
        for q in past:
            trace = idx.trace(q.query)
            masked = mask_secrets(trace.text)
            for article_id in sorted(q.relevant):
                journal.add_vote(
                    VoteRecord(
                        now,
                        f"history:{q.qid}",
                        masked,
                        template_of_masked(masked),
                        article_id,
                        "solved",
                        idx.generation,
                        pack(trace.vector),
                    )
                )
        votes = FeedbackIndex(journal)
        votes.refresh(force=True)
        return votes


class TriageSlot:
    """One triage at a time in this process and, under `kb serve --workers N` (a `shared`
    directory), on this machine: each mines in a worker process that may take a core and up to
    3 GiB (kb/triage/worker.py)."""

    def __init__(self, shared: Path | None) -> None:
        self.sem = threading.Semaphore(1)
        self.file = shared / "triage.lock" if shared is not None else None
        self._held: IO[str] | None = None

    def acquire(self, wait: float | None) -> bool:
        """True once the slot is ours; False after `wait` seconds (None: wait as long as it takes)."""
        deadline = None if wait is None else time.monotonic() + wait
        if not (self.sem.acquire() if wait is None else self.sem.acquire(timeout=wait)):
            return False
        if self.file is None:
            return True
        lock = self.file.open("a")
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._held = lock
                return True
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    lock.close()
                    self.sem.release()
                    return False
                time.sleep(0.05)

    def release(self) -> None:
        if self._held is not None:
            self._held.close()  # closing the file releases its lock
            self._held = None
        self.sem.release()
