"""Article records: everything a generation stores about one article (its row, chunks,
vectors, term counts and phrase hashes), read back from the previous generation so that a
reindex only re-parses changed files and only re-embeds changed chunks."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kb import store
from kb.articles import Article
from kb.chunking import TokenOffsets, chunk_article
from kb.errors import IndexCorrupt
from kb.normalize import lexical_terms, normalize_document
from kb.phrases import phrase_hashes

ARTICLE_COLUMNS = (
    "id",
    "path",
    "title",
    "type",
    "status",
    "services",
    "tags",
    "severity",
    "created",
    "updated",
    "owner",
    "root_cause",
    "resolution",
    "signatures",
    "related",
    "meta",
    "body",
    "hash",
)
CHUNK_COLUMNS = ("heading", "kind", "start", "end", "text", "hash")


@dataclass
class Record:
    """One article as a generation stores it."""

    row: tuple[Any, ...]  # ARTICLE_COLUMNS
    chunks: list[tuple[Any, ...]]  # CHUNK_COLUMNS
    counts: Counter[str]  # lexical term counts
    phrases: np.ndarray  # sorted uint32 phrase hashes
    vectors: np.ndarray | None = None  # one per chunk, set by the builder

    @property
    def id(self) -> str:
        return str(self.row[0])

    @property
    def hash(self) -> str:
        return str(self.row[-1])


def article_hash(article: Article) -> str:
    meta = json.dumps(article.meta, default=str, sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(f"{article.path}\0{meta}\0{article.body}".encode()).hexdigest()


def chunk_hash(model_sha: str, embedded_text: str) -> str:
    """What a chunk's vector depends on: the weights and the exact text embedded (already
    normalized, so a normalizer change that alters it changes the hash, and one that only
    changes lexical terms keeps every vector)."""
    return hashlib.sha1(f"{model_sha}\0{embedded_text}".encode()).hexdigest()


def _regex_words(pattern: str) -> str:
    """The literal words of a regex signature, so its error text is also matched lexically."""
    return re.sub(r"\\[a-zA-Z][+*?]?|\{\d*,?\d*\}|[\\()?*+\[\]|^$.]", " ", pattern)


def article_terms(article: Article) -> list[str]:
    """What the lexical channel indexes: the title twice (it names the problem), then the rest."""
    sigs = " ".join(s.get("text") or _regex_words(s["regex"]) for s in article.signatures)
    summary = " ".join(str(article.meta.get(k) or "") for k in ("root_cause", "resolution"))
    text = f"{article.title}\n{article.title}\n{sigs}\n{summary}\n{article.body}"
    return lexical_terms(normalize_document(text))


def new_record(article: Article, offsets: TokenOffsets, model_sha: str, committed: str | None = None) -> Record:
    """A record for a parsed article (vectors are filled in by the builder).

    `committed` is the date of the file's last git commit: the article's `updated` date when
    its frontmatter has none.
    """
    chunks = []
    for c in chunk_article(article, offsets):
        chunks.append((c.heading, c.kind, c.start, c.end, c.text, chunk_hash(model_sha, normalize_document(c.text))))
    row = (
        article.id,
        article.path,
        article.title,
        article.type,
        article.status,
        json.dumps(article.services),
        json.dumps(article.tags),
        article.severity,
        article.created,
        article.last_change(committed)[0],
        article.owner,
        article.root_cause,
        article.resolution,
        json.dumps(article.signatures),
        json.dumps(article.related),
        json.dumps(article.meta, default=str, ensure_ascii=False),
        article.body,
        article_hash(article),
    )
    return Record(
        row,
        chunks,
        Counter(article_terms(article)),
        phrase_hashes(normalize_document(f"{article.title}\n{article.body}")),
    )


class Previous:
    """The current generation, opened for reuse by the next build (empty when there is none).

    `reusable` is true when whole article records can be copied (same format, model and
    normalizer); otherwise only chunk vectors are reused, by content hash (same model).
    """

    def __init__(self, index_dir: Path | None, expect: dict[str, Any]) -> None:
        """Open the current generation of index_dir; None (as for `kb index --full`) opens nothing."""
        self.files: dict[str, tuple[int, int, int | None, str | None]] = {}
        self.gen: Path | None = None
        self.reusable = False
        self.built_ns = 0
        self.manifest: dict[str, Any] = {}
        self._dense: Any = None
        self._dense_ids: np.ndarray | None = None
        if index_dir is None:
            return
        try:
            gen = store.current_path(index_dir)
            manifest = store.read_manifest(gen)
            store.check_compatible(gen, manifest, {k: expect[k] for k in ("model_sha256", "dim")})
            self.conn = store.connect(gen)
        except Exception:  # noqa: BLE001 - an unusable old index only means a full build
            return
        self.gen = gen
        self.manifest = manifest
        try:
            store.check_compatible(gen, manifest, expect)
            self.files = {
                r[0]: (r[1], r[2], r[3], r[4])
                for r in self.conn.execute("SELECT path, size, mtime_ns, article, problem FROM files")
            }
            self.reusable = True
            self.built_ns = int(manifest.get("built_ns", 0))
        except Exception:  # noqa: BLE001 - an older format: re-parse everything
            self.files = {}

    @property
    def dense(self) -> Any:
        """The previous FAISS index (read once)."""
        if self._dense is None:
            import faiss

            assert self.gen is not None
            try:
                self._dense = faiss.read_index(str(self.gen / "dense.faiss"))
            except Exception as e:  # noqa: BLE001 - truncated or corrupt
                raise IndexCorrupt(
                    f"the current generation {self.gen.name} is damaged ({e}) - run `kb index --full`"
                ) from e
        return self._dense

    def dense_ids(self) -> np.ndarray:
        """FAISS id of each previous chunk, in chunk order (see store.dense_ids); read once."""
        assert self.gen is not None
        if self._dense_ids is None:
            self._dense_ids = store.dense_ids(self.gen, self.dense.ntotal)
        return self._dense_ids

    def chunk_vectors(self, rows: np.ndarray) -> np.ndarray:
        """The previous vectors of chunks `rows` (chunk idx), in that order."""
        return store.chunk_vectors(self.dense, self.dense_ids(), rows)

    def chunk_articles(self) -> np.ndarray:
        """The article of each previous chunk (non-decreasing: chunks are stored by article)."""
        return store.chunk_articles(self.conn)

    def ids(self) -> dict[int, str]:
        if self.gen is None:
            return {}
        return dict(self.conn.execute("SELECT idx, id FROM articles").fetchall())

    def hashes(self) -> dict[str, str]:
        """Article id -> content hash."""
        if self.gen is None:
            return {}
        return dict(self.conn.execute("SELECT id, hash FROM articles").fetchall())

    def vectors_by_hash(self, wanted: set[str]) -> dict[str, np.ndarray]:
        """chunk hash -> previous vector, for the hashes in `wanted` that the previous generation
        holds: edited articles re-embed only the sections that changed, renamed ones nothing."""
        if self.gen is None or not wanted:
            return {}
        found: dict[str, int] = {}
        for idx, h in self.conn.execute("SELECT idx, hash FROM chunks"):
            if h in wanted and h not in found:
                found[h] = idx
        if not found:
            return {}
        vecs = self.chunk_vectors(np.fromiter(found.values(), dtype=np.int64))
        return dict(zip(found, vecs, strict=True))

    def close(self) -> None:
        if self.gen is not None:
            self.conn.close()
