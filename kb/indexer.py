"""`kb index`: articles to a new index generation, re-embedding only what changed."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kb import store
from kb.articles import article_paths, duplicate_id, parse_file
from kb.chunking import tokenizer_offsets
from kb.config import Settings
from kb.embedding import DIM, OnnxEncoder, export_name, export_onnx, model_identity
from kb.errors import ArticleError, KBError
from kb.gitinfo import head_commit, last_commit_dates
from kb.normalize import NORMALIZER_VERSION, normalize_document
from kb.records import ARTICLE_COLUMNS, CHUNK_COLUMNS, Previous, Record, article_hash, new_record

__all__ = ["article_hash", "build", "expected_manifest"]

Log = Callable[[str], None]
# Exact search costs ~0.13 ms per 1,000 chunks a query here; above 25k chunks (~3 ms) the HNSW
# graph answers in ~0.2 ms with recall@10 0.987 against exact search on real embeddings, with
# efSearch >= the 256 candidates a query asks for (bench/README.md).
HNSW_THRESHOLD = 25_000
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, 256
# A build extends the previous HNSW graph with the new chunks instead of rebuilding it (minutes
# at 100k articles), leaving replaced chunks as unreachable ids; once those exceed this share
# of the graph, it is rebuilt.
MAX_TOMBSTONES = 0.2
# A file whose mtime is this close to the previous build's start is re-read anyway: it may
# have changed again within one timestamp tick after that build read it.
RACY_NS = 50_000_000


@dataclass
class BuildResult:
    generation: str
    stats: store.Stats
    problems: list[str] = field(default_factory=list)


def expected_manifest(identity: dict[str, str]) -> dict[str, Any]:
    """The manifest keys an index must match to be opened by this kb."""
    return {
        "format_version": store.FORMAT_VERSION,
        "model": identity["name"],
        "model_sha256": identity["sha256"],
        "dim": DIM,
        "normalizer_version": NORMALIZER_VERSION,
    }


def ensure_onnx(index_dir: Path, identity: dict[str, str], cache: Path | None = None) -> Path:
    """The model's ONNX export for these weights, in index_dir/models (shared by generations).

    Exporting imports torch and takes ~5-8 s; the export depends only on the weights, so it is
    also kept in the user's cache (KB_CACHE, default ~/.cache/kb) and copied into every new
    index from there. Without a writable cache the index gets its own export.
    """
    models = index_dir / "models"
    models.mkdir(parents=True, exist_ok=True)
    name = export_name(identity)
    onnx = models / f"{name}.onnx"
    tok = models / f"{name}.tokenizer.json"
    if not tok.is_file():
        shutil.copyfile(Path(identity["dir"]) / "tokenizer.json", tok)
    if onnx.is_file():
        return onnx
    shared = cache / f"{name}.onnx" if cache is not None else None
    if shared is not None and not shared.is_file():
        try:
            shared.parent.mkdir(parents=True, exist_ok=True)
            export_onnx(Path(identity["dir"]), shared)
        except OSError:
            shared = None
    if shared is None:
        export_onnx(Path(identity["dir"]), onnx)
        return onnx
    tmp = onnx.with_suffix(".tmp")
    shutil.copyfile(shared, tmp)  # a copy, not a link: damage to one index stays in that index
    os.replace(tmp, onnx)
    return onnx


@dataclass
class _Plan:
    """What the new generation holds: articles copied from the previous one, and new records."""

    reused: list[int] = field(default_factory=list)  # previous article idx, in order
    new: list[Record] = field(default_factory=list)
    files: list[tuple[str, int, int, int | None, str | None]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _plan(settings: Settings, prev: Previous, identity: dict[str, str]) -> _Plan:
    """Stat every file; copy unchanged ones from the previous generation, parse the rest."""
    root = settings.articles
    if not root.is_dir():
        raise ArticlesMissing(root)
    plan = _Plan()
    old_ids = prev.ids() if prev.reusable else {}
    seen: dict[str, str] = {}
    offsets = None
    committed: dict[str, str] | None = None
    new_files: list[tuple[str, int, int, int]] = []  # rel, size, mtime, index into plan.new
    for path in article_paths(root):
        rel = path.relative_to(root).as_posix()
        st = path.stat()
        old = prev.files.get(rel)
        fresh = (
            old is not None
            and old[0] == st.st_size
            and old[1] == st.st_mtime_ns
            and st.st_mtime_ns < prev.built_ns - RACY_NS
        )
        if fresh and old is not None and old[2] is None and old[3]:  # unchanged and still unreadable
            plan.problems.append(old[3])
            plan.files.append((rel, st.st_size, st.st_mtime_ns, None, old[3]))
            continue
        if fresh and old is not None and old[2] is not None:
            art_id = old_ids[old[2]]
            if art_id not in seen:
                seen[art_id] = rel
                plan.files.append((rel, st.st_size, st.st_mtime_ns, len(plan.reused), None))
                plan.reused.append(old[2])
                continue
        try:
            article = parse_file(path, root)
        except ArticleError as e:
            plan.problems.append(str(e))
            plan.files.append((rel, st.st_size, st.st_mtime_ns, None, str(e)))
            continue
        if article.id in seen:
            plan.problems.append(str(duplicate_id(path, article.id, seen[article.id])))
            plan.files.append((rel, st.st_size, st.st_mtime_ns, None, None))  # re-read next time
            continue
        seen[article.id] = rel
        offsets = offsets or tokenizer_offsets(Path(identity["dir"]) / "tokenizer.json")
        if committed is None and not article.meta_text("updated"):
            committed = last_commit_dates(root)  # one `git log` for the folder, only when needed
        new_files.append((rel, st.st_size, st.st_mtime_ns, len(plan.new)))
        plan.new.append(
            new_record(
                article,
                offsets,
                identity["sha256"],  # type: ignore[arg-type]
                (committed or {}).get(rel),
            )
        )
    # A reused article whose id a newly parsed file took earlier in path order loses: rare, and
    # resolved by re-reading that file next time.
    n = len(plan.reused)
    plan.files += [(rel, size, mtime, n + j, None) for rel, size, mtime, j in new_files]
    return plan


def index_encoder(onnx_path: Path) -> Any:
    """The encoder `kb index` embeds with: the same ONNX artifact the queries use, on all cores."""
    return OnnxEncoder(onnx_path, onnx_path.with_name(f"{onnx_path.stem}.tokenizer.json"), threads=os.cpu_count() or 1)


def _embed(plan: _Plan, prev: Previous, onnx_path: Path, progress: bool | None) -> tuple[int, Any]:
    """Give every new record its vectors, embedding only chunks not seen before; returns how many,
    and the encoder when one was loaded."""
    known = prev.vectors_by_hash({c[5] for rec in plan.new for c in rec.chunks})
    todo: dict[str, str] = {}
    for rec in plan.new:
        for c in rec.chunks:
            if c[5] not in known:
                todo.setdefault(c[5], normalize_document(c[4]))
    encoder = None
    if todo:
        encoder = index_encoder(onnx_path)
        vecs = encoder.encode(list(todo.values()), progress=sys.stderr.isatty() if progress is None else progress)
        known.update(zip(todo, vecs, strict=True))
    for rec in plan.new:
        rec.vectors = np.array([known[c[5]] for c in rec.chunks], dtype=np.float32).reshape(-1, DIM)
    return len(todo), encoder


def build(
    settings: Settings, full: bool = False, log: Log = print, wait: float = 0.0, progress: bool | None = None
) -> BuildResult:
    """Build a new generation from settings.articles and publish it; a no-op when nothing changed."""
    started = time.perf_counter()
    started_ns = time.time_ns()
    identity = model_identity(settings.model)
    expect = expected_manifest(identity)
    index_dir = settings.index
    with store.build_lock(index_dir, wait=wait):
        prev = Previous(None if full else index_dir, expect)
        try:
            plan = _plan(settings, prev, identity)
            for p in plan.problems:
                log(f"warning: {p}")
            old_hashes = prev.hashes()
            old_ids = prev.ids()
            kept = {r.id for r in plan.new} | {old_ids[i] for i in plan.reused}
            unchanged = len(plan.reused) + sum(old_hashes.get(r.id) == r.hash for r in plan.new)
            deleted = sum(i not in kept for i in old_hashes)
            if (
                prev.gen is not None
                and prev.reusable
                and unchanged == len(kept)
                and not deleted
                and {f[0] for f in plan.files} == set(prev.files)
                and prev.manifest.get("faiss") == _faiss_kind(prev.manifest["counts"]["chunks"], settings)
            ):
                stats = store.Stats(
                    articles=len(kept),
                    changed=0,
                    unchanged=unchanged,
                    deleted=0,
                    skipped=len(plan.problems),
                    chunks=prev.manifest["counts"]["chunks"],
                    embedded=0,
                    reused=prev.manifest["counts"]["chunks"],
                    seconds=round(time.perf_counter() - started, 3),
                )
                return BuildResult(prev.gen.name, stats, plan.problems)
            onnx_path = ensure_onnx(index_dir, identity, settings.cache)
            embedded, encoder = _embed(plan, prev, onnx_path, progress)
            gen = store.new_generation(index_dir)
            try:
                n_chunks, tombstones = _write(gen, plan, prev, settings)
                stats = store.Stats(
                    articles=len(plan.reused) + len(plan.new),
                    changed=len(plan.reused) + len(plan.new) - unchanged,
                    unchanged=unchanged,
                    deleted=deleted,
                    skipped=len(plan.problems),
                    chunks=n_chunks,
                    embedded=embedded,
                    reused=n_chunks - embedded,
                    seconds=round(time.perf_counter() - started, 3),
                )
                manifest = {
                    **expect,
                    "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "built_ns": started_ns,
                    "articles_dir": str(settings.articles.resolve()),
                    "git_commit": head_commit(settings.articles),
                    "onnx": f"models/{onnx_path.name}",
                    "tokenizer": f"models/{onnx_path.stem}.tokenizer.json",
                    "faiss": _faiss_kind(n_chunks, settings),
                    "dense_tombstones": tombstones,
                    "counts": stats.__dict__,
                    "skipped": plan.problems,
                }
                store.write_manifest(gen, manifest)
                _smoke_test(index_dir, manifest, encoder)
                store.publish(index_dir, gen)
            except BaseException:
                shutil.rmtree(gen, ignore_errors=True)
                raise
        finally:
            prev.close()
    return BuildResult(gen.name, stats, plan.problems)


def dense_index(kind: str) -> Any:
    """An empty FAISS index: exact inner product, or HNSW over fp16 vectors (half the memory;
    recall@10 against exact search is measured by bench/hnsw.py)."""
    import faiss

    if kind == "hnsw":
        index = faiss.IndexHNSWSQ(DIM, faiss.ScalarQuantizer.QT_fp16, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
        return index
    return faiss.IndexFlatIP(DIM)


def _faiss_kind(n_chunks: int, settings: Settings) -> str:
    choice = settings.faiss
    if choice not in ("auto", "flat", "hnsw"):
        raise KBError(f"unknown dense index kind {choice!r}: use flat, hnsw or auto")
    if choice == "auto":
        choice = "hnsw" if n_chunks >= HNSW_THRESHOLD else "flat"
    return choice


def _write(gen: Path, plan: _Plan, prev: Previous, settings: Settings) -> tuple[int, int]:
    """Write vectors, lexical and phrase indexes and metadata of the planned articles;
    returns the chunk count and the dense index's dead ids."""
    from scipy import sparse

    from kb.lexical import Lexical, count_matrix
    from kb.phrases import Phrases

    reused = np.array(plan.reused, dtype=np.int64)
    if len(reused):
        chunk_art = prev.chunk_articles()
        starts = np.searchsorted(chunk_art, reused, "left")
        ends = np.searchsorted(chunk_art, reused, "right")
        rows = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends, strict=True)])
    else:
        starts = ends = rows = np.zeros(0, dtype=np.int64)
    new_vectors = np.vstack(
        [np.zeros((0, DIM), dtype=np.float32)] + [r.vectors for r in plan.new if r.vectors is not None]
    )
    n_chunks = len(rows) + len(new_vectors)
    tombstones = _write_dense(gen, prev, rows, new_vectors, _faiss_kind(n_chunks, settings))

    # Lexical: previous count rows as they were, new rows over a vocabulary grown by new terms.
    if len(reused):
        old_counts = sparse.load_npz(prev.gen / "counts.npz").tocsr()[reused]  # type: ignore[operator]
        vocab = json.loads((prev.gen / "vocab.json").read_text(encoding="utf-8"))  # type: ignore[operator]
    else:
        old_counts, vocab = None, []
    new_counts, vocab = count_matrix([r.counts for r in plan.new], vocab)
    parts = [new_counts]
    if old_counts is not None:
        old_counts.resize((old_counts.shape[0], len(vocab)))
        parts.insert(0, old_counts)
    Lexical.from_counts(sparse.vstack(parts).tocsr(), vocab).save(gen)

    if len(reused):
        ph = Phrases.load(prev.gen)  # type: ignore[arg-type]
        old_ph = [np.asarray(ph.hashes[ph.offsets[i] : ph.offsets[i + 1]]) for i in reused]
    else:
        old_ph = []
    Phrases.from_arrays(old_ph + [r.phrases for r in plan.new]).save(gen)

    conn = store.connect(gen, readonly=False)
    with conn:
        if len(reused):
            conn.execute("ATTACH DATABASE ? AS old", (f"file:{prev.gen / 'meta.sqlite'}?mode=ro",))
            conn.execute("CREATE TEMP TABLE amap (old INTEGER PRIMARY KEY, new INTEGER, cdelta INTEGER)")
            new_starts = np.concatenate([[0], np.cumsum(ends - starts)[:-1]])
            conn.executemany(
                "INSERT INTO amap VALUES (?,?,?)",
                [(int(o), i, int(ns - s)) for i, (o, s, ns) in enumerate(zip(reused, starts, new_starts, strict=True))],
            )
            cols = ", ".join(f"a.{c}" for c in ARTICLE_COLUMNS)
            conn.execute(f"INSERT INTO articles SELECT m.new, {cols} FROM old.articles a JOIN amap m ON a.idx = m.old")
            ccols = ", ".join(f"c.{c}" for c in CHUNK_COLUMNS)
            conn.execute(
                f"INSERT INTO chunks SELECT c.idx + m.cdelta, m.new, {ccols} FROM old.chunks c "
                "JOIN amap m ON c.article = m.old"
            )
        base = len(reused)
        chunk_base = len(rows)
        art_rows, chunk_rows = [], []
        for j, rec in enumerate(plan.new):
            art_rows.append((base + j, *rec.row))
            for c in rec.chunks:
                chunk_rows.append((chunk_base, base + j, *c))
                chunk_base += 1
        conn.executemany(f"INSERT INTO articles VALUES ({','.join('?' * (len(ARTICLE_COLUMNS) + 1))})", art_rows)
        conn.executemany(f"INSERT INTO chunks VALUES ({','.join('?' * (len(CHUNK_COLUMNS) + 2))})", chunk_rows)
        conn.executemany("INSERT INTO files VALUES (?,?,?,?,?)", plan.files)
    if len(reused):
        conn.execute("DETACH DATABASE old")
    conn.close()
    return n_chunks, tombstones


def _write_dense(gen: Path, prev: Previous, rows: np.ndarray, new_vectors: np.ndarray, kind: str) -> int:
    """Write the dense index: the previous chunks `rows` (in their new order) then the new
    vectors. An HNSW graph is extended in place when the previous one is HNSW too and would not
    carry too many dead ids; returns how many dead ids the written index holds."""
    import faiss

    faiss.omp_set_num_threads(os.cpu_count() or 1)  # building a graph does parallelize well
    n_chunks = len(rows) + len(new_vectors)
    if kind == "hnsw" and prev.reusable and prev.manifest.get("faiss") == "hnsw":
        dense = prev.dense
        old_ids = prev.dense_ids()[rows]
        dead = dense.ntotal - len(rows)
        if dead <= MAX_TOMBSTONES * (dense.ntotal + len(new_vectors)):
            ids = np.concatenate([old_ids, np.arange(dense.ntotal, dense.ntotal + len(new_vectors))])
            dense.add(np.ascontiguousarray(new_vectors, dtype=np.float32))
            faiss.write_index(dense, str(gen / "dense.faiss"))
            if dead or not np.array_equal(ids, np.arange(n_chunks)):
                np.save(gen / "dense_ids.npy", ids.astype(np.int64))
            return dead
    vectors = np.vstack([prev.chunk_vectors(rows), new_vectors]) if len(rows) else new_vectors
    dense = dense_index(kind)
    dense.add(np.ascontiguousarray(vectors, dtype=np.float32))
    faiss.write_index(dense, str(gen / "dense.faiss"))
    return 0


def _smoke_test(index_dir: Path, manifest: dict[str, Any], loaded: Any = None) -> None:
    """Refuse to publish a generation whose query encoder does not load; the encoder this build
    already loaded from the same file is proof enough, and saves loading it twice."""
    encoder = loaded or OnnxEncoder(index_dir / manifest["onnx"], index_dir / manifest["tokenizer"])
    encoder.encode(["smoke test"])
