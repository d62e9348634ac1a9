"""The lexical channel: BM25 over whole articles with an identifier-preserving tokenizer.

Scores are computed the bm25s way: every (term, article) weight is precomputed into a sparse
matrix at build time, so a query is a sum of a few matrix rows - a full score vector for
fusion in well under a millisecond, loaded from two files.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

import numpy as np
from scipy import sparse

from kb.channels import Channel, Hits, OpenContext, Query
from kb.store import Generation

CANDIDATES = 50  # articles the lexical channel proposes per query

K1 = 1.2
B = 0.75


class Lexical:
    """A BM25 matrix (terms x articles) and its vocabulary."""

    def __init__(
        self,
        matrix: sparse.csr_matrix | None,
        vocab: list[str],
        idf: np.ndarray,
        arrays: tuple[np.ndarray, np.ndarray, np.ndarray, int] | None = None,
    ) -> None:
        """From a matrix (at build time) or from its CSR arrays and article count (loaded)."""
        if matrix is not None:
            matrix.sort_indices()
            arrays = (matrix.indptr, matrix.indices, matrix.data, matrix.shape[1])
        assert arrays is not None
        # The CSR arrays themselves: a query reads a few rows, and scipy's fancy indexing costs
        # ~0.1 ms a call in overhead, more than the arithmetic. Loaded, they are memory-mapped:
        # only the posting lists that queries touch are read in (90 MB at 100k articles).
        self._indptr, self._indices, self._data, self.n_docs = arrays
        self.vocab = {t: i for i, t in enumerate(vocab)}
        self.idf = idf
        self.counts: sparse.csr_matrix | None = None  # articles x terms, kept for the next build
        self.max_idf = math.log(1 + (self.n_docs + 0.5) / 0.5)

    @property
    def matrix(self) -> sparse.csr_matrix:
        """The BM25 weights as a (terms x articles) scipy matrix."""
        return sparse.csr_matrix((self._data, self._indices, self._indptr), shape=(len(self.vocab), self.n_docs))

    @classmethod
    def build(cls, docs: list[list[str]]) -> Lexical:
        """Index tokenized documents (one token list per article)."""
        counts, vocab = count_matrix([Counter(d) for d in docs], [])
        return cls.from_counts(counts, vocab)

    @classmethod
    def from_counts(cls, counts: sparse.csr_matrix, vocab: list[str]) -> Lexical:
        """BM25 weights from an articles x terms matrix of term counts; unused terms dropped."""
        counts = counts.tocsr()
        df = np.diff(counts.tocsc().indptr)
        used = np.flatnonzero(df)
        if len(used) < len(vocab):
            counts = counts[:, used]
            vocab = [vocab[i] for i in used]
            df = df[used]
        n = counts.shape[0]
        lengths = np.asarray(counts.sum(axis=1)).ravel().astype(np.float32)
        avg = float(lengths.mean()) if n else 1.0
        idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        coo = counts.tocoo()
        tf = coo.data.astype(np.float32)
        norm = K1 * (1 - B + B * lengths[coo.row] / max(avg, 1e-9))
        weights = idf[coo.col] * tf * (K1 + 1) / (tf + norm)
        matrix = sparse.csr_matrix((weights, (coo.col, coo.row)), shape=(len(vocab), n), dtype=np.float32)
        lex = cls(matrix, vocab, idf)
        lex.counts = counts
        return lex

    def save(self, gen: Generation) -> None:
        np.save(gen.file("lexical_indptr"), np.asarray(self._indptr, dtype=np.int64))
        np.save(gen.file("lexical_indices"), np.asarray(self._indices, dtype=np.int32))
        np.save(gen.file("lexical_data"), np.asarray(self._data, dtype=np.float32))
        np.save(gen.file("lexical_shape"), np.array([len(self.vocab), self.n_docs], dtype=np.int64))
        if self.counts is not None:
            sparse.save_npz(gen.file("counts"), self.counts, compressed=False)
        vocab = sorted(self.vocab, key=self.vocab.__getitem__)
        gen.file("vocab").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        np.save(gen.file("idf"), self.idf)

    @classmethod
    def load(cls, gen: Generation) -> Lexical:
        vocab = json.loads(gen.file("vocab").read_text(encoding="utf-8"))
        idf = np.load(gen.file("idf"))
        n_terms, n_docs = (int(x) for x in np.load(gen.file("lexical_shape")))
        indptr, indices, data = (
            np.load(gen.file(f"lexical_{name}"), mmap_mode="r") for name in ("indptr", "indices", "data")
        )
        if not (n_terms == len(vocab) == len(idf) == len(indptr) - 1 and indptr[-1] == len(indices) == len(data)):
            raise ValueError("the BM25 arrays do not match the vocabulary")
        # Plain ndarray views of the maps (no copy): slicing a np.memmap costs more than the lookup.
        return cls(None, vocab, idf, (np.asarray(indptr), np.asarray(indices), np.asarray(data), n_docs))

    @staticmethod
    def stored_counts(gen: Generation, articles: np.ndarray) -> tuple[Any, list[str]]:
        """The term-count rows of `articles` in a generation, and its vocabulary (for the next build)."""
        counts = sparse.load_npz(gen.file("counts")).tocsr()[articles]
        return counts, json.loads(gen.file("vocab").read_text(encoding="utf-8"))

    def scores(self, terms: list[str]) -> tuple[np.ndarray, float]:
        """BM25 score of every article, and the share of the query's IDF mass the KB knows."""
        ids = sorted({self.vocab[t] for t in terms if t in self.vocab})
        if not ids:
            return np.zeros(self.n_docs, dtype=np.float32), 0.0
        rows = [slice(self._indptr[i], self._indptr[i + 1]) for i in ids]
        docs = np.concatenate([self._indices[r] for r in rows])
        weights = np.concatenate([self._data[r] for r in rows])
        out = np.bincount(docs, weights=weights, minlength=self.n_docs).astype(np.float32)
        return out, float(self.idf[ids].sum())

    def presence(self, terms: list[str], docs: np.ndarray) -> np.ndarray:
        """Boolean (len(terms) x len(docs)): which of the articles `docs` hold each term."""
        out = np.zeros((len(terms), len(docs)), dtype=bool)
        if not len(docs):
            return out
        for k, t in enumerate(terms):
            i = self.vocab.get(t)
            if i is None:
                continue
            holders = self._indices[self._indptr[i] : self._indptr[i + 1]]  # sorted
            pos = np.minimum(np.searchsorted(holders, docs), len(holders) - 1)
            out[k] = holders[pos] == docs
        return out

    def coverage(self, terms: list[str], docs: np.ndarray) -> np.ndarray:
        """IDF-weighted share of the query's distinct terms that occur in each of `docs`."""
        uniq = list(dict.fromkeys(terms))
        if not uniq:
            return np.zeros(len(docs), dtype=np.float32)
        weights = np.array(
            [self.idf[self.vocab[t]] if t in self.vocab else self.max_idf for t in uniq], dtype=np.float32
        )
        return (weights @ self.presence(uniq, docs)) / float(weights.sum())


def count_matrix(counters: list[Counter[str]], vocab: list[str]) -> tuple[sparse.csr_matrix, list[str]]:
    """Rows of term counts over `vocab`, which grows by the new terms (returned)."""
    index = {t: i for i, t in enumerate(vocab)}
    vocab = list(vocab)
    indptr = [0]
    cols: list[int] = []
    data: list[int] = []
    for c in counters:
        for t, n in c.items():
            j = index.get(t)
            if j is None:
                j = index[t] = len(vocab)
                vocab.append(t)
            cols.append(j)
            data.append(n)
        indptr.append(len(cols))
    m = sparse.csr_matrix(
        (np.array(data, dtype=np.int32), np.array(cols, dtype=np.int64), np.array(indptr)),
        shape=(len(counters), len(vocab)),
    )
    return m, vocab


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


class LexicalChannel(Channel):
    """BM25 over whole articles."""

    name = "lexical"

    def __init__(self, index: Lexical) -> None:
        self.index = index

    @classmethod
    def open(cls, ctx: OpenContext) -> LexicalChannel:
        try:
            index = Lexical.load(ctx.generation)
        except Exception as e:  # noqa: BLE001 - truncated or corrupt files
            raise ctx.generation.corrupt("its BM25 files are unreadable", e) from e
        if index.n_docs != ctx.catalog.count:
            raise ctx.generation.corrupt("its BM25 and article counts differ")
        return cls(index)

    def candidates(self, query: Query, allowed: np.ndarray) -> LexicalHits:
        return LexicalHits(self.index, query.norm.terms, allowed)


class LexicalHits(Hits):
    """BM25 scores of every allowed article; the best-scoring ones are proposed."""

    def __init__(self, index: Lexical, terms: list[str], allowed: np.ndarray) -> None:
        self._index = index
        self._terms = terms
        raw, _ = index.scores(terms)
        self.bm25 = np.where(allowed, raw, 0.0)
        self.best = float(self.bm25.max()) if self.bm25.size else 0.0
        # Those at or above the k-th score among the ones that scored (ties may add a few).
        hit = np.flatnonzero(self.bm25 > 0)
        if len(hit) > CANDIDATES:
            vals = self.bm25[hit]
            hit = hit[vals >= _kth_largest(vals, CANDIDATES)]
            if len(hit) > 2 * CANDIDATES:  # many equal scores: keep a fixed number
                hit = np.sort(hit[np.argsort(-self.bm25[hit], kind="stable")[:CANDIDATES]])
        self._proposed = hit.astype(np.int64)

    @property
    def proposed(self) -> np.ndarray:
        return self._proposed

    def _parts(self, articles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw BM25, BM25 relative to the best, and the IDF share of the query's terms held."""
        lexv = self.bm25[articles]
        rel = lexv / self.best if self.best > 0 else np.zeros(len(articles))
        cover = np.where(lexv > 0, self._index.coverage(self._terms, articles), 0.0)
        return lexv, rel, cover

    def scores(self, articles: np.ndarray) -> np.ndarray:
        """Relative BM25 x the IDF-weighted share of the query's terms the article holds, so that
        the single best lexical hit is not "perfect" when it shares only common words."""
        _, rel, cover = self._parts(articles)
        return rel * cover

    def explain(self, article: int) -> dict[str, Any]:
        lexv, rel, cover = (float(x[0]) for x in self._parts(np.array([article])))
        return {"bm25": round(lexv, 3), "bm25_relative": round(rel, 3), "term_coverage": round(cover, 3)}

    def ranked(self) -> list[int]:
        arts = self._proposed
        return arts[np.lexsort((arts, -self.bm25[arts]))].tolist()
