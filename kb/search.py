"""Search over one loaded index generation: dense + lexical channels, signatures, fusion,
per-article aggregation and calibrated confidence."""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from kb import store
from kb.embedding import OnnxEncoder, shared_weights
from kb.errors import IndexCorrupt, NotFound
from kb.fusion import (
    RERANK,
    Candidate,
    base_scores,
    confidence_of,
    fuse,
    is_novel,
    match_of,
)
from kb.lexical import Lexical
from kb.normalize import Normalized, normalize_query
from kb.phrases import Phrases, phrase_hashes
from kb.results import Filters, Response, Result, explain_query, make_snippet, term_pattern, validate
from kb.signatures import SignatureMatcher

DENSE_CANDIDATES = 256  # chunks fetched from FAISS per query
LEXICAL_CANDIDATES = 50  # articles taken from the lexical channel per query


@functools.cache
def _encode_pool() -> ThreadPoolExecutor:
    """The thread a lone search's query is embedded on (see Index._embed): only one search at a
    time is alone, so one thread is enough."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-encode")


def _kth_largest(vals: np.ndarray, k: int) -> float:
    """The k-th largest of vals (len(vals) >= k).

    np.partition over all of them costs ~0.5 ms at 100k articles. The 8th largest of a 1-in-16
    sample is a cheap bound that usually leaves a few hundred values; when at least k pass it,
    the k-th largest is among them (exact), else all are used.
    """
    if len(vals) > 64 * k:
        sample = vals[::16]
        bound = np.partition(sample, len(sample) - 8)[len(sample) - 8]
        top = vals[vals >= bound]
        if len(top) >= k:
            vals = top
    return float(np.partition(vals, len(vals) - k)[len(vals) - k])


class Index:
    """A loaded, read-only index generation and the query encoder that matches it."""

    def __init__(self, index_dir: Path, gen: Path, expect: dict[str, Any], lone_threads: int = 1) -> None:
        """`lone_threads` > 1 adds a second query encoder with that many threads for a search
        that runs alone (a server's, see _embed); its weights are shared with the first."""
        import faiss

        # One query is too small to share between threads: FAISS's OpenMP threads spin-wait for
        # each other, and under concurrent requests that made a 43k-vector search 5x slower.
        faiss.omp_set_num_threads(1)
        self.path = gen
        self.generation = gen.name
        self.manifest = store.read_manifest(gen)
        store.check_compatible(gen, self.manifest, expect)
        try:
            self.dense = faiss.read_index(str(gen / "dense.faiss"))
            self.lexical = Lexical.load(gen)
            self.phrases = Phrases.open(gen)
            self.dense_ids = store.dense_ids(gen, self.dense.ntotal)  # chunk -> FAISS id
        except Exception as e:  # noqa: BLE001 - truncated or corrupt files
            raise IndexCorrupt(f"{gen} is damaged ({e}) - run `kb index --full`") from e
        self.conn = store.connect(gen)
        self._searching = 0  # searches in their first stage right now
        self._searching_lock = threading.Lock()
        onnx, tokenizer = index_dir / self.manifest["onnx"], index_dir / self.manifest["tokenizer"]
        if lone_threads > 1:
            weights = shared_weights(onnx)
            self.encoder = OnnxEncoder(onnx, tokenizer, weights=weights)
            self.lone_encoder = OnnxEncoder(onnx, tokenizer, threads=lone_threads, weights=weights, spinning=False)
        else:
            self.encoder = self.lone_encoder = OnnxEncoder(onnx, tokenizer)
        self.ids: list[str] = []
        self.by_id: dict[str, int] = {}
        published: list[bool] = []
        sigs: list[tuple[int, Any]] = []
        # Filter values -> the articles holding them; no per-article Python objects are kept
        # beyond the id (100k articles' frozensets alone cost ~50 MB).
        by_value: dict[str, dict[str, list[int]]] = {"type": {}, "services": {}, "tags": {}}
        for r in self.conn.execute(
            "SELECT idx, id, type, status, services, tags, signatures FROM articles ORDER BY idx"
        ):
            i = r["idx"]
            self.ids.append(r["id"])
            self.by_id[r["id"]] = i
            published.append(r["status"] == "published")
            by_value["type"].setdefault(r["type"], []).append(i)
            for key in ("services", "tags"):
                for v in set(json.loads(r[key])):
                    by_value[key].setdefault(v, []).append(i)
            sigs += [(i, sig) for sig in json.loads(r["signatures"])]
        self.signatures = SignatureMatcher(sigs)
        self.published = np.array(published, dtype=bool)
        self._by_value = {
            key: {v: np.array(ix, dtype=np.int64) for v, ix in vals.items()} for key, vals in by_value.items()
        }
        self.chunk_article = store.chunk_articles(self.conn).astype(np.int32)
        self.id_chunk = np.full(self.dense.ntotal, -1, dtype=np.int64)  # FAISS id -> chunk (-1: dead)
        if len(self.dense_ids) != len(self.chunk_article) or (
            len(self.dense_ids) and (self.dense_ids.min() < 0 or self.dense_ids.max() >= self.dense.ntotal)
        ):
            raise IndexCorrupt(f"{gen} is inconsistent (vector and chunk counts differ) - run `kb index --full`")
        self.id_chunk[self.dense_ids] = np.arange(len(self.dense_ids))
        self.live = len(self.dense_ids)
        if self.lexical.n_docs != len(self.ids) or len(self.phrases.offsets) != len(self.ids) + 1:
            raise IndexCorrupt(f"{gen} is inconsistent (article counts differ) - run `kb index --full`")

    @property
    def article_count(self) -> int:
        return len(self.ids)

    def chunk_vectors(self, chunks: np.ndarray) -> np.ndarray:
        """The stored vectors of chunks (chunk idx), in that order."""
        return store.chunk_vectors(self.dense, self.dense_ids, chunks)

    def close(self) -> None:
        self.conn.close()
        self.phrases.close()

    # -- search ---------------------------------------------------------------------------

    def search(self, query: str, k: int = 10, filters: Filters | None = None, explain: bool = False) -> Response:
        """The k articles most like the query, best first, with confidence."""
        started = time.perf_counter()
        query, k = validate(query, k)
        filters = filters or Filters()
        norm = normalize_query(query)
        allowed = self._allowed(filters)
        cands = self._candidates(norm, query, allowed, keep=max(k, RERANK) + 20)
        ranked = fuse(cands)
        results = self._results(ranked[:k], norm, explain)
        top = ranked[0] if ranked else None
        return Response(
            query=query,
            took_ms=round((time.perf_counter() - started) * 1000, 2),
            match=match_of(top),
            novel=is_novel(top),
            results=results,
            normalized=explain_query(norm) if explain else None,
        )

    def rank(
        self, query: str, k: int = 10, channel: str = "fused", filters: Filters | None = None
    ) -> tuple[list[str], dict[str, str] | None]:
        """Ids ranked by one channel ("fused", "lexical" or "dense"), and the top's labels."""
        norm = normalize_query(query)
        keep = max(k, RERANK) + 20 if channel == "fused" else None
        cands = self._candidates(norm, query, self._allowed(filters or Filters()), keep=keep)
        if channel == "lexical":
            ranked = sorted((c for c in cands if c.lexical > 0), key=lambda c: (-c.lexical, c.article))
        elif channel == "dense":
            ranked = sorted((c for c in cands if c.chunk >= 0), key=lambda c: (-c.dense, c.article))
        else:
            ranked = fuse(cands)
        top = None
        if ranked:
            fused_top = ranked[0] if channel == "fused" else None
            if fused_top:
                top = {"confidence": confidence_of(fused_top), "match": match_of(fused_top), "score": fused_top.score}
        return [self.ids[c.article] for c in ranked[:k]], top

    def _allowed(self, f: Filters) -> np.ndarray:
        """Which articles the filters admit, as a boolean mask."""
        ok = np.ones(len(self.ids), dtype=bool) if f.include_hidden else self.published.copy()
        for key in ("type", "services", "tags"):
            wanted = getattr(f, key)
            if wanted:
                mask = np.zeros(len(self.ids), dtype=bool)
                for v in wanted:
                    mask[self._by_value[key].get(v, np.zeros(0, dtype=np.int64))] = True
                ok &= mask
        return ok

    def _candidates(self, norm: Normalized, raw: str, allowed: np.ndarray, keep: int | None = None) -> list[Candidate]:
        """Every article either channel or a signature brings up, best first-stage score first;
        with `keep`, only the best `keep` (and any signature match) are returned."""
        with self._first_stage() as alone:
            query_vector = self._embed(norm.dense, alone)
            lex, top_lex = self._lexical_top(norm, allowed)
            sig = self.signatures.matches(raw, allowed)
            qhash = phrase_hashes(norm.dense)
            best = self._dense_best(query_vector(), allowed)
        lex_max = float(lex.max()) if lex.size else 0.0
        floor = min((s for s, _ in best.values()), default=0.0)
        arts = np.array(sorted(set(best) | set(top_lex) | set(sig)), dtype=np.int64)
        dense = np.array([best.get(a, (floor, -1))[0] for a in arts.tolist()], dtype=np.float32)
        lexv = lex[arts] if len(arts) else np.zeros(0)
        rel = lexv / lex_max if lex_max > 0 else np.zeros(len(arts))
        cover = np.where(lexv > 0, self.lexical.coverage(norm.terms, arts), 0.0)
        base = base_scores(dense, rel, cover)
        order = np.lexsort((arts, -base))
        if keep is not None:  # the best, and the best signature matches, go on: the rest cannot reach the top
            chosen = np.zeros(len(order), dtype=bool)
            chosen[:keep] = True
            if sig:
                signed = np.flatnonzero(np.isin(arts[order], np.fromiter(sig, dtype=np.int64)))
                chosen[signed[:keep]] = True
            order = order[chosen]
        out = [
            Candidate(
                article=int(arts[i]),
                dense=float(dense[i]),
                chunk=best.get(int(arts[i]), (0.0, -1))[1],
                lexical=float(lexv[i]),
                lexical_rel=float(rel[i]),
                coverage=float(cover[i]),
                signature=sig.get(int(arts[i])),
                base=float(base[i]),
            )
            for i in order.tolist()
        ]
        # Second stage: the phrase and identifier features for the best first-stage candidates.
        top = out[:RERANK]
        idents = list(dict.fromkeys(i.lower() for i in norm.identifiers))
        has = (
            self.lexical.presence(idents, np.array([c.article for c in top], dtype=np.int64)).mean(axis=0)
            if idents
            else np.zeros(len(top))
        )
        for c, share in zip(top, has.tolist(), strict=True):
            c.phrase = self.phrases.overlap(qhash, c.article)
            c.ident = share
        return out

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

    def _embed(self, text: str, alone: bool) -> Callable[[], np.ndarray]:
        """Start embedding the query; call the result for its vector.

        A lone search embeds on a worker thread, with the lone encoder's threads, while the
        caller goes on with the lexical channel and the signatures (onnxruntime releases the
        GIL), so it uses every core. Under concurrent searches the cores are busy anyway: each
        embeds inline on one thread, which serves more searches a second than sharing threads.
        """
        if alone:
            return _encode_pool().submit(self.lone_encoder.encode, [text]).result
        vector = self.encoder.encode([text])
        return lambda: vector

    def _lexical_top(self, norm: Normalized, allowed: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """BM25 scores of every article (0 where not allowed) and the best-scoring ones."""
        lex, _ = self.lexical.scores(norm.terms)
        lex = np.where(allowed, lex, 0.0)
        # Those at or above the k-th score among the ones that scored (ties may add a few).
        hit = np.flatnonzero(lex > 0)
        if len(hit) > LEXICAL_CANDIDATES:
            vals = lex[hit]
            hit = hit[vals >= _kth_largest(vals, LEXICAL_CANDIDATES)]
            if len(hit) > 2 * LEXICAL_CANDIDATES:  # many equal scores: keep a fixed number
                hit = np.sort(hit[np.argsort(-lex[hit], kind="stable")[:LEXICAL_CANDIDATES]])
        return lex, hit.tolist()

    def _dense_best(self, qv: np.ndarray, allowed: np.ndarray) -> dict[int, tuple[float, int]]:
        """article -> (similarity, chunk) of its best chunk among the nearest chunks."""
        n = min(self.dense.ntotal, DENSE_CANDIDATES)
        sims, fids = self.dense.search(qv, n) if self.live else (np.zeros((1, 0)), np.zeros((1, 0), dtype=np.int64))
        chunks = np.where(fids[0] >= 0, self.id_chunk[fids[0]], -1)
        live = chunks >= 0  # FAISS pads with -1; replaced chunks stay in an extended graph as dead ids
        chunks, sims = chunks[live], sims[0][live]
        arts = self.chunk_article[chunks]
        ok = allowed[arts]
        chunks, sims, arts = chunks[ok], sims[ok], arts[ok]
        # FAISS returns the nearest first, so an article's first chunk is its best.
        _, first = np.unique(arts, return_index=True)
        return dict(
            zip(arts[first].tolist(), zip(sims[first].tolist(), chunks[first].tolist(), strict=True), strict=True)
        )

    # -- results --------------------------------------------------------------------------

    def _results(self, cands: list[Candidate], norm: Normalized, explain: bool) -> list[Result]:
        """The results for ranked candidates: their rows and best sections, read in batches."""
        if not cands:
            return []
        marks = ",".join("?" * len(cands))
        rows = {
            r["idx"]: r
            for r in self.conn.execute(
                "SELECT idx, id, title, type, root_cause, resolution, services, tags, updated, status FROM articles "
                f"WHERE idx IN ({marks})",
                [c.article for c in cands],
            )
        }
        chunks = {
            r["idx"]: dict(r)
            for r in self.conn.execute(
                f"SELECT * FROM chunks WHERE idx IN ({marks}) AND kind = 'section'", [c.chunk for c in cands]
            )
        }
        others = self._best_sections([c.article for c in cands if c.chunk not in chunks], norm)
        rx = term_pattern(norm.terms)
        out = []
        for c in cands:
            row = rows[c.article]
            chunk = chunks[c.chunk] if c.chunk in chunks else others.get(c.article, {"heading": "", "text": ""})
            snippet, section, highlights = make_snippet(chunk, rx)
            out.append(
                Result(
                    id=row["id"],
                    title=row["title"],
                    type=row["type"],
                    score=round(c.score, 4),
                    confidence=confidence_of(c),
                    url=f"/a/{row['id']}",
                    snippet=snippet,
                    section=section,
                    root_cause=row["root_cause"],
                    resolution=row["resolution"],
                    services=json.loads(row["services"]),
                    tags=json.loads(row["tags"]),
                    updated=row["updated"],
                    status=row["status"],
                    highlights=highlights,
                    signature=c.signature,
                    explain=c.explain() if explain else None,
                )
            )
        return out

    def _best_sections(self, articles: list[int], norm: Normalized) -> dict[int, dict[str, Any]]:
        """For articles the dense channel brought no section of: the section sharing most terms."""
        if not articles:
            return {}
        terms = set(norm.terms)
        best: dict[int, tuple[int, dict[str, Any]]] = {}
        for r in self.conn.execute(
            f"SELECT * FROM chunks WHERE article IN ({','.join('?' * len(articles))}) "
            "AND kind = 'section' ORDER BY idx",
            articles,
        ):
            shared = len(terms & set(r["text"].lower().split()))
            if r["article"] not in best or shared > best[r["article"]][0]:
                best[r["article"]] = (shared, dict(r))
        return {a: row for a, (_, row) in best.items()}

    def article(self, article_id: str) -> dict[str, Any]:
        """One article's stored fields (body included)."""
        idx = self.by_id.get(article_id)
        if idx is None:
            raise NotFound(f"no article with id {article_id!r}")
        row = dict(self.conn.execute("SELECT * FROM articles WHERE idx = ?", (idx,)).fetchone())
        for key in ("services", "tags", "signatures", "related", "meta"):
            row[key] = json.loads(row[key])
        row.pop("hash", None)
        return row

    def similar(self, article_id: str, k: int = 5) -> list[dict[str, Any]]:
        """Articles nearest to this one (mean of its chunk vectors), published only."""
        idx = self.by_id.get(article_id)
        if idx is None:
            raise NotFound(f"no article with id {article_id!r}")
        vec = self.chunk_vectors(np.flatnonzero(self.chunk_article == idx)).mean(axis=0, keepdims=True)
        vec /= max(float(np.linalg.norm(vec)), 1e-9)
        sims, fids = self.dense.search(vec.astype(np.float32), min(self.dense.ntotal, 200))
        seen: dict[int, float] = {}
        for s, fid in zip(sims[0], fids[0], strict=True):
            ci = self.id_chunk[fid] if fid >= 0 else -1
            a = int(self.chunk_article[ci]) if ci >= 0 else -1
            if a < 0 or a == idx or a in seen or not self.published[a]:
                continue
            seen[a] = float(s)
            if len(seen) == k:
                break
        out = []
        for a, s in seen.items():
            row = self.conn.execute("SELECT id, title, type FROM articles WHERE idx = ?", (a,)).fetchone()
            out.append(
                {
                    "id": row["id"],
                    "title": row["title"],
                    "type": row["type"],
                    "score": round(max(0.0, min(1.0, s)), 4),
                    "url": f"/a/{row['id']}",
                }
            )
        return out
