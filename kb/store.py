"""Index generations on disk: written beside the current one, published by an atomic
pointer flip, pinned to the model and format that built them.

    index/CURRENT              name of the published generation
    index/PREVIOUS             name of the one published before it (kept while servers reload)
    index/.lock                held by the one build that may run
    index/models/<sha>.onnx    the encoder exported from the weights with that sha
    index/gen-<time>-<rand>/   the files of one build: `Generation.FILES`

`Generation` is the one place that names those files, reads and checks the manifest, and
opens the metadata database; each retrieval channel saves and loads its own files through it.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from kb.embedding import DIM, ModelIdentity
from kb.errors import IndexCorrupt, IndexIncompatible, IndexLocked, IndexMissing
from kb.metadata import Metadata
from kb.normalize import NORMALIZER_VERSION

# Bump when the stored layout or what is derived from an article changes (titles, summaries,
# terms): a build then re-parses every file, while chunk vectors are still reused by hash.
FORMAT_VERSION = 9  # 9: plain-text summaries keep underscores inside words
POINTER = "CURRENT"
PREVIOUS = "PREVIOUS"  # the generation published before the current one: kept for servers still on it
KEEP_GENERATIONS = 2


def expected_manifest(identity: ModelIdentity) -> dict[str, Any]:
    """The manifest keys a generation must match to be opened by this kb."""
    return {
        "format_version": FORMAT_VERSION,
        "model": identity.name,
        "model_sha256": identity.sha256,
        "dim": DIM,
        "normalizer_version": NORMALIZER_VERSION,
    }


class Generation:
    """One generation folder: the files of one build, its manifest and its metadata."""

    FILES: ClassVar[dict[str, str]] = {
        "manifest": "manifest.json",  # format, model, counts, build time, git commit
        "meta": "meta.sqlite",  # articles, chunks, files (kb.metadata)
        "dense": "dense.faiss",  # chunk vectors (kb.dense)
        "dense_ids": "dense_ids.npy",  # FAISS id of each chunk, when an HNSW graph was extended in place
        "lexical_indptr": "lexical_indptr.npy",  # BM25 weights, terms x articles, as CSR arrays (kb.lexical)
        "lexical_indices": "lexical_indices.npy",
        "lexical_data": "lexical_data.npy",
        "lexical_shape": "lexical_shape.npy",
        "vocab": "vocab.json",
        "idf": "idf.npy",
        "counts": "counts.npz",  # term counts, articles x terms, for the next build
        "phrases": "phrases.npy",  # per-article phrase hashes (kb.phrases)
        "phrase_offsets": "phrase_offsets.npy",
    }

    def __init__(self, path: Path) -> None:
        self.path = path
        self._manifest: dict[str, Any] | None = None
        self._metadata: Metadata | None = None

    def __repr__(self) -> str:
        return f"Generation({self.path})"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def index_dir(self) -> Path:
        return self.path.parent

    @classmethod
    def current(cls, index_dir: Path) -> Generation:
        """The published generation; IndexMissing when there is none."""
        name = current_name(index_dir)
        if not name or not (index_dir / name).is_dir():
            raise IndexMissing(index_dir)
        return cls(index_dir / name)

    @classmethod
    def create(cls, index_dir: Path) -> Generation:
        """A fresh, unpublished generation folder."""
        index_dir.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")  # sorts in build order
        path = index_dir / f"gen-{stamp}-{secrets.token_hex(2)}"
        path.mkdir()
        return cls(path)

    @classmethod
    def previous(cls, index_dir: Path, expect: dict[str, Any]) -> Generation | None:
        """The current generation, for the next build to reuse, when it was built with the same
        model (chunk vectors can be reused); None when there is none or it is unusable."""
        try:
            gen = cls.current(index_dir)
            gen.check(expect, keys=("model_sha256", "dim"))
            gen.metadata()
        except Exception:  # noqa: BLE001 - an unusable old index only means a full build
            return None
        return gen

    def file(self, role: str) -> Path:
        """The path of one of the generation's files (a key of FILES)."""
        return self.path / self.FILES[role]

    def has(self, role: str) -> bool:
        return self.file(role).is_file()

    def model_file(self, key: str) -> Path:
        """A file of index/models that the manifest names (`onnx`, `tokenizer`)."""
        return self.index_dir / self.manifest[key]

    @property
    def manifest(self) -> dict[str, Any]:
        if self._manifest is None:
            path = self.file("manifest")
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise self.corrupt("manifest.json is missing") from None
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise self.corrupt("manifest.json is unreadable", e) from None
            if not isinstance(data, dict):
                raise self.corrupt("manifest.json is not an object")
            self._manifest = data
        return self._manifest

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        self.file("manifest").write_text(text, encoding="utf-8")
        self._manifest = manifest

    def check(self, expect: dict[str, Any], keys: tuple[str, ...] | None = None) -> None:
        """Refuse a generation built with another format, model or normalizer."""
        for key in keys or tuple(expect):
            have, want = self.manifest.get(key), expect[key]
            if have != want:
                reason = f"generation {self.name} was built with {key}={have!r}, this kb uses {want!r}"
                raise IndexIncompatible(self.index_dir, reason)

    def reusable(self, expect: dict[str, Any]) -> bool:
        """Whether whole article records can be copied from it (same format, model, normalizer)."""
        try:
            self.check(expect)
        except IndexIncompatible:
            return False
        return True

    def metadata(self) -> Metadata:
        """The metadata database, read-only (opened once)."""
        if self._metadata is None:
            db = self.file("meta")
            if not db.is_file():
                raise self.corrupt("meta.sqlite is missing")
            self._metadata = Metadata.open(db)
        return self._metadata

    def create_metadata(self) -> Metadata:
        """A new, writable metadata database for a generation being built."""
        return Metadata.create(self.file("meta"))

    def corrupt(self, what: str, error: BaseException | None = None) -> IndexCorrupt:
        """The error for a damaged generation: which one and what, no absolute path in it."""
        detail = f" ({str(error).replace(str(self.path), self.name)})" if error is not None else ""
        return IndexCorrupt(f"index generation {self.name}: {what}{detail} - run `kb index --full`")

    def checksums(self) -> dict[str, dict[str, Any]]:
        """sha256 and size of every file of the generation but the manifest (written by the build)."""
        out = {}
        for role, name in self.FILES.items():
            path = self.path / name
            if role != "manifest" and path.is_file():
                out[name] = {"sha256": _sha256(path), "bytes": path.stat().st_size}
        return out

    def verify(self) -> None:
        """Every file the manifest lists is there, whole and unchanged; IndexCorrupt naming the
        first that is not. ~1.3 GB/s here: about a second for a 100k-article generation."""
        files = self.manifest.get("files")
        if not isinstance(files, dict) or not files:
            raise self.corrupt("its manifest lists no file checksums")
        for name, want in sorted(files.items()):
            path = self.path / name
            if name not in self.FILES.values() or not isinstance(want, dict):
                raise self.corrupt(f"its manifest lists an unknown file {name!r}")
            if not path.is_file():
                raise self.corrupt(f"{name} is missing")
            if path.stat().st_size != want.get("bytes") or _sha256(path) != want.get("sha256"):
                raise self.corrupt(f"{name} is damaged (its checksum differs from the manifest's)")

    def close(self) -> None:
        if self._metadata is not None:
            self._metadata.close()
            self._metadata = None

    def remove(self) -> None:
        """Delete an unpublished generation (a build that failed)."""
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):  # hashlib lets other threads run meanwhile
            h.update(block)
    return h.hexdigest()


def current_name(index_dir: Path) -> str | None:
    """The published generation's folder name, or None before the first build."""
    return _read_pointer(index_dir, POINTER)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_pointer(index_dir: Path, name: str, value: str) -> None:
    tmp = index_dir / f".{name}.{secrets.token_hex(4)}"
    tmp.write_text(value + "\n", encoding="utf-8")
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / name)


def publish(gen: Generation) -> None:
    """Make `gen` the current generation atomically (the one it replaces becomes PREVIOUS), then
    prune. Called under the build lock."""
    index_dir = gen.index_dir
    for f in gen.path.iterdir():
        with f.open("rb") as fh:
            os.fsync(fh.fileno())
    _fsync_dir(gen.path)
    serving = current_name(index_dir)
    if serving and serving != gen.name:
        _write_pointer(index_dir, PREVIOUS, serving)
    _write_pointer(index_dir, POINTER, gen.name)
    _fsync_dir(index_dir)
    prune(index_dir)


def prune(index_dir: Path) -> None:
    """Delete every generation but the current and the previous published one: older ones and
    the leftovers of builds that were killed before they published (a generation that was never
    published is never kept, however complete). Called under the build lock, so no build is
    writing one meanwhile."""
    keep = {current_name(index_dir), _read_pointer(index_dir, PREVIOUS)}
    for path in index_dir.glob("gen-*"):
        if path.is_dir() and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def _read_pointer(index_dir: Path, name: str) -> str | None:
    try:
        return (index_dir / name).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


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
