"""The exact-phrase channel: how much of the pasted text appears verbatim in an article.

Case-sensitive whitespace tokens and their bigrams, hashed to uint32, stored per article as a
sorted array (read per article when serving). It separates log events and errors that differ
only in one word or in letter case (`down true` / `down false`, `ICONS*` / `icons*`), which
bag-of-words BM25 and the embedding both blur.
"""

from __future__ import annotations

import os
import zlib
from typing import Any, BinaryIO

import numpy as np

from kb.channels import Channel, Hits, OpenContext, Query
from kb.store import Generation

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

    def __init__(
        self, hashes: np.ndarray | None, offsets: np.ndarray, file: BinaryIO | None = None, start: int = 0
    ) -> None:
        self.hashes = hashes  # None when opened for serving: read from `file` at `start` instead
        self.offsets = offsets
        self._file = file
        self._start = start

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

    def save(self, gen: Generation) -> None:
        assert self.hashes is not None
        np.save(gen.file("phrases"), self.hashes)
        np.save(gen.file("phrase_offsets"), self.offsets)

    @classmethod
    def load(cls, gen: Generation) -> Phrases:
        """Every article's hashes, memory-mapped (for the next build to copy from)."""
        # A plain ndarray view of the mapped file (no copy): slicing a np.memmap costs more than
        # the lookup.
        hashes = np.asarray(np.load(gen.file("phrases"), mmap_mode="r"))
        return cls(hashes, np.load(gen.file("phrase_offsets")))

    @classmethod
    def open(cls, gen: Generation) -> Phrases:
        """For serving: the offsets in memory, an article's hashes read from the file when asked.

        Not a memory map: the kernel maps the cached pages around each one touched, and after a
        15 s load run at 100k articles the map held 93 of the file's 100 MB in the server's RSS.
        A read of one article's hashes costs a few microseconds.
        """
        offsets = np.load(gen.file("phrase_offsets"))
        f = gen.file("phrases").open("rb")
        try:
            fmt = np.lib.format
            read_header = fmt.read_array_header_1_0 if fmt.read_magic(f)[0] == 1 else fmt.read_array_header_2_0
            shape, _, dtype = read_header(f)
            start = f.tell()
            if (
                dtype != np.uint32
                or len(shape) != 1
                or shape[0] != offsets[-1]
                or os.fstat(f.fileno()).st_size < start + 4 * shape[0]
            ):
                raise ValueError(
                    f"{gen.file('phrases').name} holds {shape} {dtype}, {int(offsets[-1])} uint32 expected, "
                    "or is truncated"
                )
        except Exception:
            f.close()
            raise
        return cls(None, offsets, f, start)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def of(self, article: int) -> np.ndarray:
        """The article's sorted hashes."""
        lo, hi = int(self.offsets[article]), int(self.offsets[article + 1])
        if self.hashes is not None:
            return self.hashes[lo:hi]
        assert self._file is not None
        return np.frombuffer(os.pread(self._file.fileno(), 4 * (hi - lo), self._start + 4 * lo), dtype=np.uint32)

    def overlap(self, query: np.ndarray, article: int) -> float:
        """Share of the query's tokens and bigrams found verbatim in the article."""
        if not len(query):
            return 0.0
        own = self.of(article)
        if not len(own):
            return 0.0
        pos = np.searchsorted(own, query)
        pos[pos >= len(own)] = 0
        return float(np.count_nonzero(own[pos] == query)) / len(query)


class PhraseChannel(Channel):
    """Re-ranks the best candidates by the share of the query found verbatim in each."""

    name = "phrases"
    rerank = True

    def __init__(self, phrases: Phrases) -> None:
        self.phrases = phrases

    @classmethod
    def open(cls, ctx: OpenContext) -> PhraseChannel:
        try:
            phrases = Phrases.open(ctx.generation)
        except Exception as e:  # noqa: BLE001 - truncated or corrupt files
            raise ctx.generation.corrupt("its phrase files are unreadable", e) from e
        if len(phrases.offsets) != ctx.catalog.count + 1:
            phrases.close()
            raise ctx.generation.corrupt("its phrase and article counts differ")
        return cls(phrases)

    def candidates(self, query: Query, allowed: np.ndarray) -> PhraseHits:
        return PhraseHits(self.phrases, phrase_hashes(query.norm.dense))

    def close(self) -> None:
        self.phrases.close()


class PhraseHits(Hits):
    def __init__(self, phrases: Phrases, query: np.ndarray) -> None:
        self._phrases = phrases
        self._query = query

    def scores(self, articles: np.ndarray) -> np.ndarray:
        return np.array([self._phrases.overlap(self._query, a) for a in articles.tolist()], dtype=np.float64)

    def explain(self, article: int) -> dict[str, Any]:
        return {"phrase": round(self._phrases.overlap(self._query, article), 3)}
