"""The lexical channel: BM25 over whole articles with an identifier-preserving tokenizer.

Scores are computed the bm25s way: every (term, article) weight is precomputed into a sparse
matrix at build time, so a query is a sum of a few matrix rows - a full score vector for
fusion in well under a millisecond, loaded from two files.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import sparse

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

    def save(self, folder: Path) -> None:
        np.save(folder / "lexical_indptr.npy", np.asarray(self._indptr, dtype=np.int64))
        np.save(folder / "lexical_indices.npy", np.asarray(self._indices, dtype=np.int32))
        np.save(folder / "lexical_data.npy", np.asarray(self._data, dtype=np.float32))
        np.save(folder / "lexical_shape.npy", np.array([len(self.vocab), self.n_docs], dtype=np.int64))
        if self.counts is not None:
            sparse.save_npz(folder / "counts.npz", self.counts, compressed=False)
        vocab = sorted(self.vocab, key=self.vocab.__getitem__)
        (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        np.save(folder / "idf.npy", self.idf)

    @classmethod
    def load(cls, folder: Path) -> Lexical:
        vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        idf = np.load(folder / "idf.npy")
        if not (folder / "lexical_shape.npy").is_file():  # written before the arrays were mapped
            return cls(sparse.load_npz(folder / "lexical.npz").tocsr(), vocab, idf)
        n_terms, n_docs = (int(x) for x in np.load(folder / "lexical_shape.npy"))
        indptr, indices, data = (
            np.load(folder / f"lexical_{name}.npy", mmap_mode="r") for name in ("indptr", "indices", "data")
        )
        if not (n_terms == len(vocab) == len(idf) == len(indptr) - 1 and indptr[-1] == len(indices) == len(data)):
            raise ValueError("the BM25 arrays do not match the vocabulary")
        # Plain ndarray views of the maps (no copy): slicing a np.memmap costs more than the lookup.
        return cls(None, vocab, idf, (np.asarray(indptr), np.asarray(indices), np.asarray(data), n_docs))

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
