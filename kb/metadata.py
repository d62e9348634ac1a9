"""A generation's metadata database (`meta.sqlite`): the articles, their chunks and the files
they were read from, as named rows. Every SQL statement about an index lives here."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

SCHEMA = """
CREATE TABLE articles (
    idx INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, path TEXT, title TEXT, type TEXT,
    status TEXT, services TEXT, tags TEXT, severity TEXT, created TEXT, updated TEXT, owner TEXT,
    root_cause TEXT, resolution TEXT, signatures TEXT, related TEXT, meta TEXT, body TEXT,
    hash TEXT, root_cause_html TEXT, resolution_html TEXT
);
CREATE TABLE chunks (
    idx INTEGER PRIMARY KEY, article INTEGER NOT NULL, heading TEXT, kind TEXT,
    start INTEGER, end INTEGER, text TEXT, hash TEXT
);
CREATE INDEX chunks_article ON chunks(article);
CREATE TABLE files (
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, article INTEGER, problem TEXT
);
"""


class ArticleRow(NamedTuple):
    """One article as the `articles` table stores it (lists and mappings as JSON text)."""

    id: str
    path: str
    title: str
    type: str
    status: str
    services: str
    tags: str
    severity: str | None
    created: str | None
    updated: str | None
    owner: str | None
    root_cause: str | None
    resolution: str | None
    signatures: str
    related: str
    meta: str
    body: str
    hash: str
    root_cause_html: str | None  # sanitized, with a "more" link when cut (kb.summaries)
    resolution_html: str | None


class ChunkRow(NamedTuple):
    """One chunk as the `chunks` table stores it (besides its position and article)."""

    heading: str
    kind: str
    start: int
    end: int
    text: str
    hash: str  # what its vector depends on (records.chunk_hash)


class FileEntry(NamedTuple):
    """A file the build saw: its stat, and the article it became or why it could not."""

    path: str
    size: int
    mtime_ns: int
    article: int | None
    problem: str | None


@dataclass(frozen=True)
class StoredArticle:
    """An article read back from a generation, body included."""

    idx: int
    id: str
    path: str
    title: str
    type: str
    status: str
    services: list[str]
    tags: list[str]
    severity: str | None
    created: str | None
    updated: str | None
    owner: str | None
    root_cause: str | None
    resolution: str | None
    signatures: list[dict[str, str]]
    related: list[str]
    meta: dict[str, Any]
    body: str
    root_cause_html: str | None = None
    resolution_html: str | None = None


@dataclass(frozen=True)
class ArticleSummary:
    """What a search result or a list of similar articles shows of an article."""

    idx: int
    id: str
    title: str
    type: str
    status: str
    services: list[str]
    tags: list[str]
    updated: str | None
    root_cause: str | None
    resolution: str | None
    root_cause_html: str | None
    resolution_html: str | None


@dataclass(frozen=True)
class StoredChunk:
    idx: int
    article: int
    heading: str
    kind: str
    text: str


@dataclass
class Catalog:
    """What serving keeps in memory per article: ids, visibility, filter values, signatures.

    No per-article Python objects beyond the id (100k articles' frozensets alone cost ~50 MB).
    """

    ids: list[str]
    by_id: dict[str, int]
    published: np.ndarray  # bool per article
    by_value: dict[str, dict[str, np.ndarray]]  # "type"/"services"/"tags" -> value -> articles
    signatures: list[tuple[int, dict[str, str]]]
    chunk_article: np.ndarray  # the article of each chunk (int32, non-decreasing)

    @property
    def count(self) -> int:
        return len(self.ids)


@dataclass
class ReusedChunks:
    """Where the chunks of reused articles sit in the previous generation."""

    starts: np.ndarray  # first chunk of each reused article
    ends: np.ndarray  # one past its last chunk
    rows: np.ndarray = field(init=False)  # every such chunk, in the new order

    def __post_init__(self) -> None:
        ranges = [np.arange(a, b) for a, b in zip(self.starts, self.ends, strict=True)]
        self.rows = np.concatenate(ranges).astype(np.int64) if ranges else np.zeros(0, dtype=np.int64)


class Metadata:
    """The metadata database of one generation."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path

    @classmethod
    def open(cls, path: Path) -> Metadata:
        """Read-only (a published generation never changes); usable from any thread."""
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        return cls(conn, path)

    @classmethod
    def create(cls, path: Path) -> Metadata:
        conn = sqlite3.connect(path)
        conn.executescript(SCHEMA)
        conn.row_factory = sqlite3.Row
        return cls(conn, path)

    def close(self) -> None:
        self.conn.close()

    # -- what the next build reuses ---------------------------------------------------------

    def files(self) -> dict[str, FileEntry]:
        rows = self.conn.execute("SELECT path, size, mtime_ns, article, problem FROM files")
        return {r[0]: FileEntry(*r) for r in rows}

    def article_ids(self) -> dict[int, str]:
        return dict(self.conn.execute("SELECT idx, id FROM articles").fetchall())

    def hashes(self) -> dict[str, str]:
        """Article id -> content hash."""
        return dict(self.conn.execute("SELECT id, hash FROM articles").fetchall())

    def stored_hashes(self) -> dict[str, tuple[int, str]]:
        """Article id -> (idx, content hash)."""
        return {r[0]: (r[1], r[2]) for r in self.conn.execute("SELECT id, idx, hash FROM articles")}

    def chunk_hashes(self) -> Iterator[tuple[int, str]]:
        return iter(self.conn.execute("SELECT idx, hash FROM chunks"))

    def chunk_articles(self) -> np.ndarray:
        """The article of each chunk, in chunk order (non-decreasing: chunks are stored by article)."""
        rows = self.conn.execute("SELECT article FROM chunks ORDER BY idx")
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def reused_chunks(self, articles: np.ndarray) -> ReusedChunks:
        chunk_art = self.chunk_articles()
        return ReusedChunks(np.searchsorted(chunk_art, articles, "left"), np.searchsorted(chunk_art, articles, "right"))

    # -- what serving reads -----------------------------------------------------------------

    def catalog(self) -> Catalog:
        ids: list[str] = []
        published: list[bool] = []
        sigs: list[tuple[int, dict[str, str]]] = []
        by_value: dict[str, dict[str, list[int]]] = {"type": {}, "services": {}, "tags": {}}
        query = "SELECT idx, id, type, status, services, tags, signatures FROM articles ORDER BY idx"
        for i, art_id, kind, status, services, tags, signatures in self.conn.execute(query):
            ids.append(art_id)
            published.append(status == "published")
            by_value["type"].setdefault(kind, []).append(i)
            for key, value in (("services", services), ("tags", tags)):
                for v in set(json.loads(value)):
                    by_value[key].setdefault(v, []).append(i)
            sigs += [(i, sig) for sig in json.loads(signatures)]
        arrays = {key: {v: np.array(ix, dtype=np.int64) for v, ix in vals.items()} for key, vals in by_value.items()}
        return Catalog(
            ids=ids,
            by_id={a: i for i, a in enumerate(ids)},
            published=np.array(published, dtype=bool),
            by_value=arrays,
            signatures=sigs,
            chunk_article=self.chunk_articles().astype(np.int32),  # 434k chunks at 100k articles: 1.7 MB
        )

    def titles(self) -> list[str]:
        """Every article's title, in idx order."""
        return [r[0] for r in self.conn.execute("SELECT title FROM articles ORDER BY idx")]

    def alert_keys(self) -> Iterator[tuple[int, str, Any, Any]]:
        """(idx, status, `runbook_url`, `alert`) of every article whose frontmatter names an alert
        or a runbook URL (the alert hooks' exact matches); values as the frontmatter has them."""
        query = (
            "SELECT idx, status, json_extract(meta, '$.runbook_url'), json_extract(meta, '$.alert'), "
            "json_type(meta, '$.alert') FROM articles WHERE json_valid(meta) AND "
            "(json_extract(meta, '$.runbook_url') IS NOT NULL OR json_extract(meta, '$.alert') IS NOT NULL)"
        )
        for idx, status, url, alert, kind in self.conn.execute(query):
            yield idx, status, url, json.loads(alert) if kind in ("array", "object") else alert

    def article(self, idx: int) -> StoredArticle:
        r = self.conn.execute("SELECT * FROM articles WHERE idx = ?", (idx,)).fetchone()
        data = {k: r[k] for k in r.keys() if k != "hash"}
        for key in ("services", "tags", "signatures", "related", "meta"):
            data[key] = json.loads(data[key])
        return StoredArticle(**data)

    def summaries(self, idxs: Sequence[int]) -> dict[int, ArticleSummary]:
        """What a result shows of each of these articles, by idx."""
        marks = ",".join("?" * len(idxs))
        query = (
            "SELECT idx, id, title, type, status, services, tags, updated, root_cause, resolution, "
            f"root_cause_html, resolution_html FROM articles WHERE idx IN ({marks})"
        )
        out = {}
        for r in self.conn.execute(query, list(idxs)):
            idx, art_id, title, kind, status, services, tags, *rest = r
            out[idx] = ArticleSummary(idx, art_id, title, kind, status, json.loads(services), json.loads(tags), *rest)
        return out

    def sections(self, chunks: Sequence[int]) -> dict[int, StoredChunk]:
        """The given chunks that are sections (not summaries), by chunk idx."""
        marks = ",".join("?" * len(chunks))
        query = f"SELECT idx, article, heading, kind, text FROM chunks WHERE idx IN ({marks}) AND kind = 'section'"
        return {r[0]: StoredChunk(*r) for r in self.conn.execute(query, list(chunks))}

    def sections_of(self, articles: Sequence[int]) -> Iterator[StoredChunk]:
        """Every section chunk of the given articles, in chunk order."""
        marks = ",".join("?" * len(articles))
        query = (
            f"SELECT idx, article, heading, kind, text FROM chunks WHERE article IN ({marks}) "
            "AND kind = 'section' ORDER BY idx"
        )
        return (StoredChunk(*r) for r in self.conn.execute(query, list(articles)))

    # -- writing a new generation -----------------------------------------------------------

    def write(
        self,
        previous: Path | None,
        reused: np.ndarray,
        chunks: ReusedChunks,
        new: Sequence[tuple[ArticleRow, Sequence[ChunkRow]]],
        files: Sequence[FileEntry],
    ) -> None:
        """Fill the tables: the `reused` articles of the `previous` database (copied in SQL, in
        that order, their chunks renumbered), then the `new` articles and chunks, then `files`."""
        conn = self.conn
        with conn:
            if len(reused):
                conn.execute("ATTACH DATABASE ? AS old", (f"file:{previous}?mode=ro",))
                conn.execute("CREATE TEMP TABLE amap (old INTEGER PRIMARY KEY, new INTEGER, cdelta INTEGER)")
                new_starts = np.concatenate([[0], np.cumsum(chunks.ends - chunks.starts)[:-1]])
                moves = zip(reused, chunks.starts, new_starts, strict=True)
                conn.executemany(
                    "INSERT INTO amap VALUES (?,?,?)", [(int(o), i, int(n - s)) for i, (o, s, n) in enumerate(moves)]
                )
                cols = ", ".join(f"a.{c}" for c in ArticleRow._fields)
                conn.execute(
                    f"INSERT INTO articles SELECT m.new, {cols} FROM old.articles a JOIN amap m ON a.idx = m.old"
                )
                ccols = ", ".join(f"c.{c}" for c in ChunkRow._fields)
                conn.execute(
                    f"INSERT INTO chunks SELECT c.idx + m.cdelta, m.new, {ccols} FROM old.chunks c "
                    "JOIN amap m ON c.article = m.old"
                )
            base, chunk_idx = len(reused), len(chunks.rows)
            art_rows, chunk_rows = [], []
            for j, (row, row_chunks) in enumerate(new):
                art_rows.append((base + j, *row))
                for c in row_chunks:
                    chunk_rows.append((chunk_idx, base + j, *c))
                    chunk_idx += 1
            conn.executemany(f"INSERT INTO articles VALUES ({','.join('?' * (len(ArticleRow._fields) + 1))})", art_rows)
            conn.executemany(f"INSERT INTO chunks VALUES ({','.join('?' * (len(ChunkRow._fields) + 2))})", chunk_rows)
            conn.executemany("INSERT INTO files VALUES (?,?,?,?,?)", files)
        if len(reused):
            conn.execute("DETACH DATABASE old")
