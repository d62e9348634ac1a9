"""The exact-phrase channel: how much of the pasted text appears verbatim in an article.

Case-sensitive whitespace tokens and their bigrams, hashed to uint32, stored per article as a
sorted array (memory-mapped when serving). It separates log events and errors that differ
only in one word or in letter case (`down true` / `down false`, `ICONS*` / `icons*`), which
bag-of-words BM25 and the embedding both blur.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

MAX_CHARS = 50_000


def phrase_hashes(text: str) -> np.ndarray:
    """Sorted unique hashes of the tokens and token bigrams of text."""
    toks = text[:MAX_CHARS].split()
    grams = toks + [f"{a} {b}" for a, b in zip(toks, toks[1:], strict=False)]
    if not grams:
        return np.zeros(0, dtype=np.uint32)
    return np.unique(np.fromiter((zlib.crc32(g.encode()) for g in grams), dtype=np.uint32, count=len(grams)))


class Phrases:
    """Per-article phrase hashes: `hashes[offsets[i]:offsets[i+1]]` belong to article i."""

    def __init__(self, hashes: np.ndarray, offsets: np.ndarray) -> None:
        self.hashes = hashes
        self.offsets = offsets

    @classmethod
    def build(cls, texts: list[str]) -> Phrases:
        return cls.from_arrays([phrase_hashes(t) for t in texts])

    @classmethod
    def from_arrays(cls, arrays: list[np.ndarray]) -> Phrases:
        """One article's sorted hashes per array, in article order."""
        offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(a) for a in arrays])
        hashes = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.uint32)
        return cls(hashes.astype(np.uint32), offsets)

    def save(self, folder: Path) -> None:
        np.save(folder / "phrases.npy", self.hashes)
        np.save(folder / "phrase_offsets.npy", self.offsets)

    @classmethod
    def load(cls, folder: Path) -> Phrases:
        # A plain ndarray view of the mapped file (no copy): slicing a np.memmap costs more than
        # the lookup.
        hashes = np.asarray(np.load(folder / "phrases.npy", mmap_mode="r"))
        return cls(hashes, np.load(folder / "phrase_offsets.npy"))

    def overlap(self, query: np.ndarray, article: int) -> float:
        """Share of the query's tokens and bigrams found verbatim in the article."""
        if not len(query):
            return 0.0
        own = self.hashes[self.offsets[article]:self.offsets[article + 1]]
        if not len(own):
            return 0.0
        pos = np.searchsorted(own, query)
        pos[pos >= len(own)] = 0
        return float(np.count_nonzero(own[pos] == query)) / len(query)
