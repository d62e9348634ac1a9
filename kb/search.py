"""Search over one loaded index generation: every channel's candidates, fused per article, with
calibrated confidence, the best section's snippet, and the article and similar lookups."""

from __future__ import annotations

import contextlib
import difflib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kb.articles import TYPES
from kb.channels import Channel, Hits, OpenContext, Query
from kb.dense import DenseChannel, DenseHits
from kb.errors import BadQuery, NotFound
from kb.fusion import RERANK, Candidate, confidence_of, first_stage, fuse, is_novel, lead_of, match_of
from kb.history import FeedbackIndex, HistoryChannel, HistoryHits
from kb.identifiers import IdentifierChannel
from kb.insights import ArticleInfo
from kb.lexical import LexicalChannel
from kb.metadata import StoredArticle, StoredChunk
from kb.normalize import Normalized, normalize_query
from kb.phrases import PhraseChannel
from kb.results import (
    Filters,
    Response,
    Result,
    SimilarArticle,
    Trace,
    explain_query,
    make_snippet,
    term_pattern,
    validate,
    validate_k,
)
from kb.signatures import SignatureChannel, SignatureHits
from kb.store import Generation
from kb.technologies import TechnologyChannel

# The channels a generation is searched with, in the order they are opened and asked: dense
# first, so that its query embeds on another thread while the others work.
CHANNELS: tuple[type[Channel], ...] = (
    DenseChannel,
    LexicalChannel,
    PhraseChannel,
    IdentifierChannel,
    SignatureChannel,
    TechnologyChannel,
    HistoryChannel,
)
ECHO_CHARS = 20_000  # of a longer paste, the response echoes this much
RANKINGS = ("fused", "lexical", "dense")  # what `rank` can order by (`kb eval --channels`)


@dataclass(frozen=True)
class Ranking:
    """Article ids, best first; for the fused ranking, the top's match, confidence and score."""

    ids: list[str]
    match: str
    confidence: str | None = None
    score: float = 0.0


class Index:
    """A loaded, read-only index generation and its channels."""

    def __init__(
        self, gen: Generation, expect: dict[str, Any], lone_threads: int = 1, feedback: FeedbackIndex | None = None
    ) -> None:
        """`lone_threads` > 1 gives the dense channel a second query encoder with that many
        threads for a search that runs alone (a server's); `feedback`, the votes the history
        channel ranks with."""
        gen.check(expect)
        gen.verify()
        self.gen = gen
        self.manifest = gen.manifest
        self.meta = gen.metadata()
        self.catalog = self.meta.catalog()
        ctx = OpenContext(gen, self.catalog, {}, lone_threads, feedback)
        opened: dict[str, Channel] = {}
        try:
            for cls in CHANNELS:
                ctx.opened = opened
                opened[cls.name] = cls.open(ctx)
        except BaseException:
            for ch in opened.values():
                ch.close()
            raise
        self.channels = list(opened.values())
        dense = opened[DenseChannel.name]
        assert isinstance(dense, DenseChannel)
        self.dense = dense
        self._searching = 0  # searches in their first stage right now
        self._searching_lock = threading.Lock()

    @property
    def generation(self) -> str:
        """The generation's name."""
        return self.gen.name

    @property
    def article_count(self) -> int:
        return self.catalog.count

    @property
    def ids(self) -> list[str]:
        return self.catalog.ids

    def close(self) -> None:
        for ch in self.channels:
            ch.close()
        self.gen.close()

    # -- search ---------------------------------------------------------------------------

    def search(
        self,
        query: object,
        k: object = 10,
        filters: Filters | None = None,
        explain: bool = False,
        budget: float | None = None,
    ) -> Response:
        """The k articles most like the query, best first, with confidence; `budget` bounds the
        seconds its analysis may take (QueryTooComplex past it)."""
        started = time.perf_counter()
        text, n = validate(query, k)
        filters = filters or Filters()
        warnings = self.check_filters(filters)
        norm = normalize_query(text, deadline=time.monotonic() + budget if budget else None)
        return self._answer(text, norm, n, self._allowed(filters), warnings, explain, started)

    def search_many(
        self,
        queries: Sequence[str],
        k: object = 3,
        filters: Filters | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[Response]:
        """Several pastes answered at once (a triage's templates): their texts are embedded in
        one batch, then each is ranked as a search of it would be."""
        n = validate_k(k)
        filters = filters or Filters()
        warnings = self.check_filters(filters)
        allowed = self._allowed(filters)
        norms = [normalize_query(q) for q in queries]
        vectors = self.dense.embed_many([m.dense for m in norms])
        out = []
        for i, (text, norm) in enumerate(zip(queries, norms, strict=True)):
            out.append(self._answer(text, norm, n, allowed, warnings, False, time.perf_counter(), vectors[i]))
            if progress is not None:
                progress(i + 1)
        return out

    def _answer(
        self,
        text: str,
        norm: Normalized,
        n: int,
        allowed: np.ndarray,
        warnings: list[str],
        explain: bool,
        started: float,
        vector: np.ndarray | None = None,
    ) -> Response:
        ranked, hits = self._rank(norm, text, allowed, keep=max(n, RERANK) + 20, vector=vector)
        lead = lead_of(ranked)
        results = self._results(ranked[:n], hits, norm, explain, lead)
        top = ranked[0] if ranked else None
        dense = hits[DenseChannel.name]
        embedded = dense.query_vector() if isinstance(dense, DenseHits) else None
        return Response(
            trace=Trace(norm.dense, embedded),
            query=text if len(text) <= ECHO_CHARS else text[:ECHO_CHARS] + "…",
            took_ms=round((time.perf_counter() - started) * 1000, 2),
            match=match_of(top, lead),
            novel=is_novel(top) and not warnings,  # not new: the filters left nothing to compare with
            results=results,
            warnings=warnings,
            normalized=explain_query(norm) if explain else None,
            input_lines=norm.input_lines,
            searched_lines=len(norm.lines),
        )

    def use_feedback(self, feedback: FeedbackIndex | None) -> FeedbackIndex | None:
        """Rank with these votes from now on (None: none); the votes it ranked with before."""
        channel = next(ch for ch in self.channels if isinstance(ch, HistoryChannel))
        before, channel.feedback = channel.feedback, feedback
        return before

    def infos(self, article_ids: Iterable[str]) -> dict[str, ArticleInfo]:
        """Title, type, date and status of the given articles that this generation holds."""
        idxs = [self.catalog.by_id[a] for a in set(article_ids) if a in self.catalog.by_id]
        rows = self.meta.summaries(idxs) if idxs else {}
        return {r.id: ArticleInfo(r.title, r.type, r.updated, r.status) for r in rows.values()}

    def trace(self, text: str, embed: bool = True) -> Trace:
        """What the journal keys a paste by: its normalized text and (with `embed`) its embedding,
        as a search of it computes them."""
        norm = normalize_query(text)
        return Trace(norm.dense, self.dense.embed(norm.dense, False)()[0] if embed else None)

    def rank(self, query: str, k: int = 10, channel: str = "fused", filters: Filters | None = None) -> Ranking:
        """Ids ranked by the fused score or by one channel alone (one of RANKINGS)."""
        norm = normalize_query(query)
        ranked, hits = self._rank(norm, query, self._allowed(filters or Filters()), keep=max(k, RERANK) + 20)
        if channel != "fused":
            return Ranking([self.catalog.ids[a] for a in hits[channel].ranked()[:k]], "none")
        if not ranked:
            return Ranking([], "none")
        top, lead = ranked[0], lead_of(ranked)
        ids = [self.catalog.ids[c.article] for c in ranked[:k]]
        return Ranking(ids, match_of(top, lead), confidence_of(top, lead), top.score)

    def check_filters(self, f: Filters) -> list[str]:
        """BadQuery for a type that does not exist; a warning for each service or tag no article has."""
        for t in f.type:
            if t not in TYPES:
                close = difflib.get_close_matches(t.lower(), TYPES, n=1, cutoff=0.5)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise BadQuery(f"unknown article type {t!r}; use one of {', '.join(TYPES)}{hint}")
        warnings = []
        for key, label, values in (("services", "service", f.services), ("tags", "tag", f.tags)):
            known = self.catalog.by_value[key]
            for v in values:
                if v not in known:
                    close = difflib.get_close_matches(v, list(known), n=3, cutoff=0.5)
                    nearest = f" (nearest: {', '.join(close)})" if close else ""
                    warnings.append(f"no article has {label} {v!r}{nearest}")
        return warnings

    def _allowed(self, f: Filters) -> np.ndarray:
        """Which articles the filters admit, as a boolean mask."""
        n = self.catalog.count
        ok = np.ones(n, dtype=bool) if f.include_hidden else self.catalog.published.copy()
        for key in ("type", "services", "tags"):
            wanted = getattr(f, key)
            if wanted:
                mask = np.zeros(n, dtype=bool)
                for v in wanted:
                    mask[self.catalog.by_value[key].get(v, np.zeros(0, dtype=np.int64))] = True
                ok &= mask
        return ok

    def _rank(
        self, norm: Normalized, raw: str, allowed: np.ndarray, keep: int | None, vector: np.ndarray | None = None
    ) -> tuple[list[Candidate], dict[str, Hits]]:
        """Fused candidates, best first, and every channel's hits. Every article a first-stage
        channel proposes is scored on all of them; the best `keep` (and every pinned one) go on,
        and the best RERANK of those are scored by the re-ranking channels. A query embedded
        already (`vector`) does not count as a search in its first stage: it embeds nothing."""
        stage: contextlib.AbstractContextManager[bool] = (
            self._first_stage() if vector is None else contextlib.nullcontext(False)
        )
        with stage as alone:
            q = Query(raw, norm, alone, vector=vector)
            hits = {ch.name: ch.candidates(q, allowed) for ch in self.channels}
            first = [ch.name for ch in self.channels if not ch.rerank]
            arts = np.unique(np.concatenate([hits[n].proposed for n in first]))  # waits for the query vector
        weighted = [ch.name for ch in self.channels if not ch.rerank and not ch.adjusts]
        adjusting = [ch.name for ch in self.channels if ch.adjusts]
        base = first_stage({n: hits[n].scores(arts) for n in weighted})
        order = np.lexsort((arts, -base))
        if keep is not None:  # the best, and the pinned, go on: the rest cannot reach the top
            chosen = np.zeros(len(order), dtype=bool)
            chosen[:keep] = True
            pinned = np.concatenate([hits[n].pinned for n in weighted] + [hits[n].proposed for n in adjusting])
            if len(pinned):
                chosen[np.flatnonzero(np.isin(arts[order], pinned))[:keep]] = True
            order = order[chosen]
        dense, sigs = hits[DenseChannel.name], hits[SignatureChannel.name]
        assert isinstance(dense, DenseHits) and isinstance(sigs, SignatureHits)
        kept = arts[order]
        cands = []
        for a, b, c in zip(kept.tolist(), base[order].tolist(), dense.chunks(kept).tolist(), strict=True):
            label = sigs.label(a)
            coverage, actionability = sigs.tie_break(a) if label else (0.0, 0.0)
            cands.append(Candidate(a, b, signature=label, coverage=coverage, actionability=actionability, chunk=c))
        for n in adjusting:
            for c, value in zip(cands, hits[n].scores(kept).tolist(), strict=True):
                c.history += value
        top = cands[:RERANK]
        top_arts = np.array([c.article for c in top], dtype=np.int64)
        for ch in self.channels:
            if ch.rerank:
                for c, value in zip(top, hits[ch.name].scores(top_arts).tolist(), strict=True):
                    c.rerank[ch.name] = value
        return fuse(cands), hits

    @contextlib.contextmanager
    def _first_stage(self) -> Iterator[bool]:
        """Count the searches in their first stage; yields whether this one is alone."""
        with self._searching_lock:
            self._searching += 1
            alone = self._searching == 1
        try:
            yield alone
        finally:
            with self._searching_lock:
                self._searching -= 1

    # -- results --------------------------------------------------------------------------

    def _results(
        self, cands: list[Candidate], hits: dict[str, Hits], norm: Normalized, explain: bool, lead: float = 0.0
    ) -> list[Result]:
        """The results for ranked candidates: their rows and best sections, read in batches."""
        if not cands:
            return []
        rows = self.meta.summaries([c.article for c in cands])
        chunks = self.meta.sections([c.chunk for c in cands])
        others = self._best_sections([c.article for c in cands if c.chunk not in chunks], norm)
        rx = term_pattern(norm.terms)
        history = hits.get(HistoryChannel.name)
        out = []
        for n, c in enumerate(cands):
            row = rows[c.article]
            chunk = chunks.get(c.chunk) or others.get(c.article)
            snippet, highlights = make_snippet(chunk.text, rx) if chunk else ("", [])
            out.append(
                Result(
                    id=row.id,
                    title=row.title,
                    type=row.type,
                    score=round(c.score, 4),
                    confidence=confidence_of(c, lead if n == 0 else 0.0),
                    url=f"/a/{row.id}",
                    snippet=snippet,
                    section=chunk.heading if chunk else "",
                    root_cause=row.root_cause,
                    resolution=row.resolution,
                    root_cause_html=row.root_cause_html,
                    resolution_html=row.resolution_html,
                    services=row.services,
                    tags=row.tags,
                    updated=row.updated,
                    status=row.status,
                    highlights=highlights,
                    signature=c.signature,
                    feedback=_feedback(history, c.article),
                    explain=self._explain(c, hits) if explain else None,
                )
            )
        return out

    def _explain(self, c: Candidate, hits: dict[str, Hits]) -> dict[str, Any]:
        """Each channel's evidence for a result, then its score. Re-ranking channels are shown
        only for the candidates they scored (`reranked: false` for the others)."""
        out: dict[str, Any] = {}
        for ch in self.channels:
            if not ch.rerank or ch.name in c.rerank:
                out.update(hits[ch.name].explain(c.article))
        if any(ch.rerank for ch in self.channels) and not c.rerank:
            out["reranked"] = False
        out["score"] = round(c.score, 4)
        return out

    def _best_sections(self, articles: list[int], norm: Normalized) -> dict[int, StoredChunk]:
        """For articles the dense channel brought no section of: the section sharing most terms."""
        if not articles:
            return {}
        terms = set(norm.terms)
        best: dict[int, tuple[int, StoredChunk]] = {}
        for chunk in self.meta.sections_of(articles):
            shared = len(terms & set(chunk.text.lower().split()))
            if chunk.article not in best or shared > best[chunk.article][0]:
                best[chunk.article] = (shared, chunk)
        return {a: chunk for a, (_, chunk) in best.items()}

    def _idx(self, article_id: str) -> int:
        idx = self.catalog.by_id.get(article_id)
        if idx is None:
            raise NotFound(f"no article with id {article_id!r}")
        return idx

    def article(self, article_id: str) -> StoredArticle:
        """One article's stored fields, body included; NotFound for an unknown id."""
        return self.meta.article(self._idx(article_id))

    def has(self, article_id: str) -> bool:
        return article_id in self.catalog.by_id

    def similar(self, article_id: str, k: int = 5) -> list[SimilarArticle]:
        """Published articles nearest to this one (the mean of its chunk vectors)."""
        found = self.dense.similar(self._idx(article_id), k, self.catalog.published)
        rows = self.meta.summaries([a for a, _ in found])
        return [
            SimilarArticle(rows[a].id, rows[a].title, rows[a].type, round(max(0.0, min(1.0, s)), 4), f"/a/{rows[a].id}")
            for a, s in found
        ]


def _feedback(history: Hits | None, article: int) -> dict[str, Any] | None:
    """What votes said of this article for searches like this one, for the result."""
    if not isinstance(history, HistoryHits):
        return None
    ev = history.of(article)
    return ev.to_dict() if ev else None
