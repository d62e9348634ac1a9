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

    def __init__(self, matrix: sparse.csr_matrix, vocab: list[str], idf: np.ndarray) -> None:
        self.matrix = matrix
        self.vocab = {t: i for i, t in enumerate(vocab)}
        self.idf = idf
        self.n_docs = matrix.shape[1]
        self.max_idf = math.log(1 + (self.n_docs + 0.5) / 0.5)

    @classmethod
    def build(cls, docs: list[list[str]]) -> Lexical:
        """Index tokenized documents (one token list per article)."""
        counts = [Counter(d) for d in docs]
        vocab = sorted({t for c in counts for t in c})
        index = {t: i for i, t in enumerate(vocab)}
        n = len(docs)
        lengths = np.array([len(d) for d in docs], dtype=np.float32)
        avg = float(lengths.mean()) if n else 1.0
        rows, cols, tfs = [], [], []
        for j, c in enumerate(counts):
            for t, tf in c.items():
                rows.append(index[t])
                cols.append(j)
                tfs.append(tf)
        r = np.array(rows, dtype=np.int64)
        c_ = np.array(cols, dtype=np.int64)
        tf = np.array(tfs, dtype=np.float32)
        df = np.bincount(r, minlength=len(vocab)).astype(np.float32)
        idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        norm = K1 * (1 - B + B * lengths[c_] / max(avg, 1e-9))
        weights = idf[r] * tf * (K1 + 1) / (tf + norm)
        matrix = sparse.csr_matrix((weights, (r, c_)), shape=(len(vocab), n), dtype=np.float32)
        return cls(matrix, vocab, idf)

    def save(self, folder: Path) -> None:
        sparse.save_npz(folder / "lexical.npz", self.matrix, compressed=False)
        vocab = sorted(self.vocab, key=self.vocab.__getitem__)
        (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        np.save(folder / "idf.npy", self.idf)

    @classmethod
    def load(cls, folder: Path) -> Lexical:
        matrix = sparse.load_npz(folder / "lexical.npz").tocsr()
        vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        return cls(matrix, vocab, np.load(folder / "idf.npy"))

    def scores(self, terms: list[str]) -> tuple[np.ndarray, float]:
        """BM25 score of every article, and the share of the query's IDF mass the KB knows."""
        ids = sorted({self.vocab[t] for t in terms if t in self.vocab})
        if not ids:
            return np.zeros(self.n_docs, dtype=np.float32), 0.0
        out = np.asarray(self.matrix[ids].sum(axis=0)).ravel()
        return out, float(self.idf[ids].sum())

    def contains(self, term: str, doc: int) -> bool:
        """Whether article `doc` holds the term."""
        i = self.vocab.get(term)
        return i is not None and self.matrix[i, doc] > 0

    def coverage(self, terms: list[str], doc: int) -> float:
        """IDF-weighted share of the query's distinct terms that occur in article `doc`."""
        uniq = list(dict.fromkeys(terms))
        if not uniq:
            return 0.0
        total = matched = 0.0
        for t in uniq:
            i = self.vocab.get(t)
            w = self.max_idf if i is None else float(self.idf[i])
            total += w
            if i is not None and self.matrix[i, doc] > 0:
                matched += w
        return matched / total if total else 0.0
