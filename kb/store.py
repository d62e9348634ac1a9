"""Index generations on disk: written beside the current one, published by an atomic
pointer flip, pinned to the model and format that built them.

    index/CURRENT              name of the published generation
    index/.lock                held by the one build that may run
    index/models/<sha>.onnx    the encoder exported from the weights with that sha
    index/gen-<time>-<rand>/   manifest.json, dense.faiss, lexical_*.npy (BM25 CSR arrays, mapped),
                               vocab.json, idf.npy, meta.sqlite, phrases.npy, phrase_offsets.npy,
                               counts.npz (term counts, for the next build), and dense_ids.npy
                               when an HNSW graph was extended in place (the FAISS id of each
                               chunk; without it, chunk i is id i)
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import secrets
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kb.errors import IndexCorrupt, IndexIncompatible, IndexLocked, IndexMissing

# Bump when the stored layout or what is derived from an article changes (titles, summaries,
# terms): a build then re-parses every file, while chunk vectors are still reused by hash.
FORMAT_VERSION = 5
POINTER = "CURRENT"
KEEP_GENERATIONS = 2

SCHEMA = """
CREATE TABLE articles (
    idx INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, path TEXT, title TEXT, type TEXT,
    status TEXT, services TEXT, tags TEXT, severity TEXT, created TEXT, updated TEXT, owner TEXT,
    root_cause TEXT, resolution TEXT, signatures TEXT, related TEXT, meta TEXT, body TEXT,
    hash TEXT
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


def current_name(index_dir: Path) -> str | None:
    """The published generation's folder name, or None before the first build."""
    try:
        name = (index_dir / POINTER).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name or None


def current_path(index_dir: Path) -> Path:
    """The published generation's folder; IndexMissing when there is none."""
    name = current_name(index_dir)
    if not name or not (index_dir / name).is_dir():
        raise IndexMissing(index_dir)
    return index_dir / name


def new_generation(index_dir: Path) -> Path:
    """A fresh, unpublished generation folder."""
    index_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")  # sorts in build order
    path = index_dir / f"gen-{stamp}-{secrets.token_hex(2)}"
    path.mkdir()
    return path


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(index_dir: Path, gen: Path) -> None:
    """Make `gen` the current generation atomically, then prune old ones."""
    for f in gen.iterdir():
        with f.open("rb") as fh:
            os.fsync(fh.fileno())
    _fsync_dir(gen)
    tmp = index_dir / f".{POINTER}.{secrets.token_hex(4)}"
    tmp.write_text(gen.name + "\n", encoding="utf-8")
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / POINTER)
    _fsync_dir(index_dir)
    prune(index_dir)


def prune(index_dir: Path, keep: int = KEEP_GENERATIONS) -> None:
    """Keep the current generation and the newest `keep - 1` complete others; delete the rest,
    including folders left by killed builds. Called under the build lock."""
    current = current_name(index_dir)
    others = sorted(
        (p for p in index_dir.glob("gen-*") if p.is_dir() and p.name != current), key=lambda p: p.name, reverse=True
    )
    complete = [p for p in others if (p / "manifest.json").is_file()][: keep - 1]
    for g in others:
        if g not in complete:
            shutil.rmtree(g, ignore_errors=True)


@contextmanager
def build_lock(index_dir: Path, wait: float = 0.0) -> Iterator[None]:
    """Hold the index build lock; wait up to `wait` seconds, then raise IndexLocked."""
    index_dir.mkdir(parents=True, exist_ok=True)
    fh = (index_dir / ".lock").open("a+")
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise IndexLocked(
                        f"another `kb index` is building {index_dir}; wait for it to finish (or pass --wait SECONDS)"
                    ) from None
                time.sleep(0.2)
        yield
    finally:
        fh.close()  # closing releases the lock, also when the process is killed


def write_manifest(gen: Path, manifest: dict[str, Any]) -> None:
    (gen / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_manifest(gen: Path) -> dict[str, Any]:
    try:
        data = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorrupt(f"{gen} has no manifest.json - run `kb index --full`") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise IndexCorrupt(f"{gen}/manifest.json is unreadable ({e}) - run `kb index --full`") from None
    if not isinstance(data, dict):
        raise IndexCorrupt(f"{gen}/manifest.json is not an object - run `kb index --full`")
    return data


def check_compatible(gen: Path, manifest: dict[str, Any], expect: dict[str, Any]) -> None:
    """Refuse an index built with another format, model or normalizer."""
    for key, want in expect.items():
        have = manifest.get(key)
        if have != want:
            raise IndexIncompatible(gen, f"it was built with {key}={have!r}, this kb uses {want!r}")


def dense_ids(gen: Path, ntotal: int) -> np.ndarray:
    """The FAISS id of each chunk of a generation, in chunk order.

    A rebuilt dense index holds chunk i at id i. An HNSW graph extended in place keeps the
    vectors of replaced chunks as unreachable ids (tombstones) and appends new ones, so the
    build writes the mapping.
    """
    path = gen / "dense_ids.npy"
    if not path.is_file():
        return np.arange(ntotal, dtype=np.int64)
    return np.load(path)


def chunk_articles(conn: sqlite3.Connection) -> np.ndarray:
    """The article of each chunk of a generation, in chunk order (non-decreasing: chunks are
    stored by article)."""
    return np.fromiter((r[0] for r in conn.execute("SELECT article FROM chunks ORDER BY idx")), dtype=np.int64)


def chunk_vectors(dense: Any, ids: np.ndarray, chunks: np.ndarray) -> np.ndarray:
    """The stored vectors of `chunks` (chunk idx, in that order), given each chunk's FAISS id."""
    if not len(chunks):
        return np.zeros((0, dense.d), dtype=np.float32)
    return dense.reconstruct_batch(ids[chunks].astype(np.int64))


def connect(path: Path, readonly: bool = True) -> sqlite3.Connection:
    """Open a generation's metadata database (read-only when serving)."""
    db = path / "meta.sqlite"
    if readonly:
        if not db.is_file():
            raise IndexCorrupt(f"{db} is missing - run `kb index --full`")
        conn = sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(db)
        conn.executescript(SCHEMA)
    conn.row_factory = sqlite3.Row
    return conn


@dataclass
class Stats:
    """What a build did: articles changed/unchanged/deleted/skipped, chunks embedded/reused."""

    articles: int
    changed: int
    unchanged: int
    deleted: int
    skipped: int
    chunks: int
    embedded: int
    reused: int
    seconds: float
