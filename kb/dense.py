"""The dense channel: chunk vectors in FAISS, and the query encoder that matches them.

Build (`DenseIndex.build`, or `assemble` to extend the previous HNSW graph in place), save and
load through a generation, read stored vectors back (`vectors`, `vectors_by_hash`,
`article_means`), and search: an article scores by its best chunk's cosine.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from kb.channels import Channel, Hits, OpenContext, Query
from kb.embedding import DIM, OnnxEncoder, shared_weights
from kb.store import Generation

# Exact search costs ~0.13 ms per 1,000 chunks a query here; above 25k chunks (~3 ms) the HNSW
# graph answers in ~0.2 ms with recall@10 0.987 against exact search on real embeddings, with
# efSearch >= the 256 candidates a query asks for (bench/README.md).
HNSW_THRESHOLD = 25_000
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, 256
# A build extends the previous HNSW graph with the new chunks instead of rebuilding it (minutes
# at 100k articles), leaving replaced chunks as unreachable ids; once those exceed this share
# of the graph, it is rebuilt.
MAX_TOMBSTONES = 0.2
CANDIDATES = 256  # chunks fetched from FAISS per query
FLOOR, CEIL = 0.15, 0.85  # the cosine range mapped onto 0..1


def faiss_kind(n_chunks: int, choice: str) -> str:
    """The dense index kind for a generation of n_chunks: `flat`, `hnsw`, or by size for `auto`."""
    if choice == "auto":
        return "hnsw" if n_chunks >= HNSW_THRESHOLD else "flat"
    return choice


def new_faiss(kind: str) -> Any:
    """An empty FAISS index: exact inner product, or HNSW over fp16 vectors (half the memory;
    recall@10 against exact search is measured by bench/hnsw.py)."""
    import faiss

    if kind == "hnsw":
        qt = faiss.ScalarQuantizer.QT_fp16
        index = faiss.IndexHNSWSQ(DIM, qt, HNSW_M, faiss.METRIC_INNER_PRODUCT)  # type: ignore[arg-type]
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
        return index
    return faiss.IndexFlatIP(DIM)


class DenseIndex:
    """A FAISS index of chunk vectors and the FAISS id of each chunk.

    A rebuilt index holds chunk i at id i. An HNSW graph extended in place keeps the vectors of
    replaced chunks as unreachable ids (tombstones) and appends new ones, so it stores the
    mapping (`dense_ids.npy`).
    """

    def __init__(self, faiss_index: Any, ids: np.ndarray | None = None) -> None:
        self.faiss = faiss_index
        self.ids = np.arange(faiss_index.ntotal, dtype=np.int64) if ids is None else ids  # chunk -> FAISS id
        if len(self.ids) and (self.ids.min() < 0 or self.ids.max() >= faiss_index.ntotal):
            raise ValueError("chunk ids outside the FAISS index")
        self.id_chunk = np.full(faiss_index.ntotal, -1, dtype=np.int64)  # FAISS id -> chunk (-1: dead)
        self.id_chunk[self.ids] = np.arange(len(self.ids))

    @property
    def chunks(self) -> int:
        return len(self.ids)

    @property
    def tombstones(self) -> int:
        return int(self.faiss.ntotal) - len(self.ids)

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str) -> DenseIndex:
        import faiss

        faiss.omp_set_num_threads(os.cpu_count() or 1)  # building a graph does parallelize well
        index = new_faiss(kind)
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index)

    @classmethod
    def assemble(
        cls, previous: DenseIndex | None, extendable: bool, rows: np.ndarray, new: np.ndarray, kind: str
    ) -> DenseIndex:
        """The previous chunks `rows` (in their new order) then the `new` vectors. The previous
        HNSW graph (when `extendable`: HNSW too, same format) is extended in place unless that
        would leave too many dead ids; otherwise the index is rebuilt from the stored vectors."""
        if previous is not None and extendable and kind == "hnsw":
            old = previous.faiss
            dead = old.ntotal - len(rows)
            if dead <= MAX_TOMBSTONES * (old.ntotal + len(new)):
                import faiss

                faiss.omp_set_num_threads(os.cpu_count() or 1)
                ids = np.concatenate([previous.ids[rows], np.arange(old.ntotal, old.ntotal + len(new))])
                old.add(np.ascontiguousarray(new, dtype=np.float32))
                return cls(old, ids.astype(np.int64))
        if previous is not None and len(rows):
            new = np.vstack([previous.vectors(rows), new])
        return cls.build(new, kind)

    @classmethod
    def load(cls, gen: Generation, mapped: bool = False) -> DenseIndex:
        """The generation's index; `mapped`: its vectors and graph memory-mapped read-only from
        the file instead of read into memory - a server's, so the page cache holds one copy for
        all the workers of `kb serve --workers N` (an index to extend is read, not mapped)."""
        import faiss

        try:
            flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mapped else 0
            index = faiss.read_index(str(gen.file("dense")), flags)
            ids = np.load(gen.file("dense_ids")) if gen.has("dense_ids") else None
            return cls(index, ids)
        except Exception as e:  # noqa: BLE001 - truncated or corrupt files
            raise gen.corrupt("its vector files are unreadable", e) from e

    def save(self, gen: Generation) -> None:
        import faiss

        faiss.write_index(self.faiss, str(gen.file("dense")))
        if not np.array_equal(self.ids, np.arange(self.faiss.ntotal)):
            np.save(gen.file("dense_ids"), self.ids)

    def vectors(self, chunks: np.ndarray) -> np.ndarray:
        """The stored vectors of `chunks` (chunk idx), in that order."""
        if not len(chunks):
            return np.zeros((0, DIM), dtype=np.float32)
        return np.asarray(self.faiss.reconstruct_batch(self.ids[chunks].astype(np.int64)))

    def article_means(self, chunk_article: np.ndarray, articles: np.ndarray) -> np.ndarray:
        """The mean of each article's chunk vectors (not normalized), read in bounded batches."""
        bounds = np.searchsorted(chunk_article, np.arange(int(chunk_article.max(initial=-1)) + 2))
        out = np.zeros((len(articles), DIM), dtype=np.float32)
        for start in range(0, len(articles), 512):  # bounded memory on a large index
            part = articles[start : start + 512]
            rows = np.concatenate([np.arange(bounds[k], bounds[k + 1]) for k in part]).astype(np.int64)
            vecs = self.vectors(rows)
            pos = 0
            for j, k in enumerate(part):
                n = bounds[k + 1] - bounds[k]
                out[start + j] = vecs[pos : pos + n].mean(axis=0) if n else 0.0
                pos += n
        return out

    def search(self, vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Cosine and chunk of the `n` nearest live chunks, nearest first."""
        n = min(int(self.faiss.ntotal), n)
        if not self.chunks or n == 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        sims, fids = self.faiss.search(vector, n)
        chunks = np.where(fids[0] >= 0, self.id_chunk[fids[0]], -1)
        live = chunks >= 0  # FAISS pads with -1; replaced chunks stay in an extended graph as dead ids
        return sims[0][live], chunks[live]


def vectors_by_hash(gen: Generation, dense: DenseIndex, wanted: set[str]) -> dict[str, np.ndarray]:
    """chunk hash -> stored vector, for the hashes in `wanted` that the generation holds: edited
    articles re-embed only the sections that changed, renamed ones nothing."""
    if not wanted:
        return {}
    found: dict[str, int] = {}
    for idx, h in gen.metadata().chunk_hashes():
        if h in wanted and h not in found:
            found[h] = idx
    if not found:
        return {}
    vecs = dense.vectors(np.fromiter(found.values(), dtype=np.int64))
    return dict(zip(found, vecs, strict=True))


@functools.cache
def _encode_pool() -> ThreadPoolExecutor:
    """The thread a lone search's query is embedded on: only one search at a time is alone."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-encode")


class DenseChannel(Channel):
    """Chunk vectors and the query encoder(s) that match them."""

    name = "dense"

    def __init__(
        self, index: DenseIndex, encoder: OnnxEncoder, lone_encoder: OnnxEncoder, chunk_article: np.ndarray
    ) -> None:
        self.index = index
        self.encoder = encoder
        self.lone_encoder = lone_encoder
        self.chunk_article = np.asarray(chunk_article, dtype=np.int32)  # no copy: the catalog's own array

    @classmethod
    def open(cls, ctx: OpenContext) -> DenseChannel:
        """`ctx.lone_threads` > 1 adds a second query encoder with that many threads for a search
        that runs alone (a server's); its embedding tables are shared with the first."""
        import faiss

        # One query is too small to share between threads: FAISS's OpenMP threads spin-wait for
        # each other, and under concurrent requests that made a 43k-vector search 5x slower.
        faiss.omp_set_num_threads(1)
        gen = ctx.generation
        index = DenseIndex.load(gen, mapped=True)
        if index.chunks != len(ctx.catalog.chunk_article):
            raise gen.corrupt("its vector and chunk counts differ")
        onnx, tokenizer = gen.model_file("onnx"), gen.model_file("tokenizer")
        if ctx.lone_threads > 1:
            weights = shared_weights(onnx)
            encoder = OnnxEncoder(onnx, tokenizer, weights=weights)
            lone = OnnxEncoder(onnx, tokenizer, threads=ctx.lone_threads, weights=weights, spinning=False)
        else:
            encoder = lone = OnnxEncoder(onnx, tokenizer)
        return cls(index, encoder, lone, ctx.catalog.chunk_article)

    def embed(self, text: str, alone: bool) -> Callable[[], np.ndarray]:
        """Start embedding the query; call the result for its vector.

        A lone search embeds on a worker thread, with the lone encoder's threads, while the
        caller goes on with the other channels (onnxruntime releases the GIL), so it uses every
        core. Under concurrent searches the cores are busy anyway: each embeds inline on one
        thread, which serves more searches a second than sharing threads.
        """
        if alone:
            return _encode_pool().submit(self.lone_encoder.encode, [text]).result
        vector = self.encoder.encode([text])
        return lambda: vector

    def embed_many(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of many queries at once (one batch, by token length), on one thread."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return self.encoder.encode(texts)

    def candidates(self, query: Query, allowed: np.ndarray) -> DenseHits:
        if query.vector is not None:  # embedded by the caller, with others
            given = np.asarray(query.vector, dtype=np.float32).reshape(1, -1)
            query.shared["vector"] = lambda: given[0]
            return DenseHits(self, lambda: given, allowed)
        vector = self.embed(query.norm.dense, query.alone)
        query.shared["vector"] = lambda: vector()[0]
        return DenseHits(self, vector, allowed)

    def similar(self, article: int, k: int, published: np.ndarray) -> list[tuple[int, float]]:
        """Published articles nearest to this one (the mean of its chunk vectors), with cosine."""
        vec = self.index.vectors(np.flatnonzero(self.chunk_article == article)).mean(axis=0, keepdims=True)
        vec /= max(float(np.linalg.norm(vec)), 1e-9)
        sims, chunks = self.index.search(vec.astype(np.float32), 200)
        seen: dict[int, float] = {}
        for s, chunk in zip(sims.tolist(), chunks.tolist(), strict=True):
            a = int(self.chunk_article[chunk])
            if a == article or a in seen or not published[a]:
                continue
            seen[a] = s
            if len(seen) == k:
                break
        return list(seen.items())


class DenseHits(Hits):
    """Each article's best chunk among the nearest chunks; read when first asked for."""

    def __init__(self, channel: DenseChannel, vector: Callable[[], np.ndarray], allowed: np.ndarray) -> None:
        self._channel = channel
        self._vector = vector
        self._allowed = allowed
        self._best: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def best(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(articles sorted, their best cosine, that chunk) among the allowed nearest chunks."""
        if self._best is None:
            sims, chunks = self._channel.index.search(self._vector(), CANDIDATES)
            arts = self._channel.chunk_article[chunks]
            ok = self._allowed[arts]
            sims, chunks, arts = sims[ok], chunks[ok], arts[ok].astype(np.int64)
            # FAISS returns the nearest first, so an article's first chunk is its best.
            arts, first = np.unique(arts, return_index=True)
            self._best = (arts, sims[first], chunks[first])
        return self._best

    @property
    def proposed(self) -> np.ndarray:
        return self.best()[0]

    def query_vector(self) -> np.ndarray:
        """The query's embedding (waits for it)."""
        return np.asarray(self._vector()[0])

    def cosine(self, articles: np.ndarray) -> np.ndarray:
        """The best chunk cosine of each article; the lowest one found for articles without one."""
        arts, sims, _ = self.best()
        floor = float(sims.min()) if len(sims) else 0.0
        pos = np.minimum(np.searchsorted(arts, articles), max(len(arts) - 1, 0))
        found = (arts[pos] == articles) if len(arts) else np.zeros(len(articles), dtype=bool)
        return np.where(found, sims[pos] if len(arts) else 0.0, floor).astype(np.float32)

    def scores(self, articles: np.ndarray) -> np.ndarray:
        return np.clip((self.cosine(articles) - FLOOR) / (CEIL - FLOOR), 0.0, 1.0)

    def chunks(self, articles: np.ndarray) -> np.ndarray:
        """Each article's best chunk, -1 where the channel found none."""
        arts, _, chunks = self.best()
        if not len(arts):
            return np.full(len(articles), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(arts, articles), len(arts) - 1)
        return np.where(arts[pos] == articles, chunks[pos], -1)

    def explain(self, article: int) -> dict[str, Any]:
        return {"dense": round(float(self.cosine(np.array([article]))[0]), 4)}

    def ranked(self) -> list[int]:
        arts, sims, _ = self.best()
        return arts[np.lexsort((arts, -sims))].tolist()
