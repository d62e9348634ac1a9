"""`kb index`: articles to a new index generation, re-embedding only what changed."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse

from kb import store
from kb.articles import article_paths, duplicate_id, parse_file
from kb.chunking import tokenizer_offsets
from kb.config import Settings
from kb.dense import DenseIndex, faiss_kind, vectors_by_hash
from kb.embedding import DIM, ModelIdentity, OnnxEncoder, ensure_onnx, index_encoder, model_identity
from kb.errors import ArticleError, ArticlesMissing
from kb.gitinfo import head_commit, last_commit_dates
from kb.lexical import Lexical, count_matrix
from kb.metadata import FileEntry, ReusedChunks
from kb.phrases import Phrases
from kb.records import Record, new_record
from kb.store import Generation, expected_manifest

Log = Callable[[str], None]
# A file whose mtime is this close to the previous build's start is re-read anyway: it may
# have changed again within one timestamp tick after that build read it.
RACY_NS = 50_000_000
PROGRESS_LINES_FROM = 200  # chunks to embed from which a build without a terminal logs its progress
PROGRESS_STEP = 256  # at least this many chunks between two such lines (a tenth of them otherwise)


@dataclass
class BuildResult:
    generation: str
    stats: store.Stats
    problems: list[str] = field(default_factory=list)


@dataclass
class _Base:
    """The previous generation as the base of an incremental build (empty for a full one)."""

    gen: Generation | None
    reusable: bool = False  # whole article records can be copied (same format, model, normalizer)
    _dense: DenseIndex | None = None

    @property
    def files(self) -> dict[str, FileEntry]:
        return self.gen.metadata().files() if self.gen is not None and self.reusable else {}

    @property
    def built_ns(self) -> int:
        return int(self.gen.manifest.get("built_ns", 0)) if self.gen is not None and self.reusable else 0

    def ids(self) -> dict[int, str]:
        return self.gen.metadata().article_ids() if self.gen is not None else {}

    def hashes(self) -> dict[str, str]:
        return self.gen.metadata().hashes() if self.gen is not None else {}

    def dense(self) -> DenseIndex:
        """The previous dense index (read once)."""
        assert self.gen is not None
        if self._dense is None:
            self._dense = DenseIndex.load(self.gen)
        return self._dense

    def vectors(self, wanted: set[str]) -> dict[str, np.ndarray]:
        """chunk hash -> previous vector for the wanted hashes it holds."""
        return vectors_by_hash(self.gen, self.dense(), wanted) if self.gen is not None and wanted else {}


@dataclass
class _Plan:
    """What the new generation holds: articles copied from the previous one, and new records."""

    reused: list[int] = field(default_factory=list)  # previous article idx, in order
    new: list[Record] = field(default_factory=list)
    files: list[FileEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _plan(settings: Settings, base: _Base, identity: ModelIdentity) -> _Plan:
    """Stat every file; copy unchanged ones from the previous generation, parse the rest."""
    root = settings.articles
    if not root.is_dir():
        raise ArticlesMissing(root)
    plan = _Plan()
    old_files, built_ns = base.files, base.built_ns
    old_ids = base.ids() if base.reusable else {}
    seen: dict[str, str] = {}
    offsets = None
    committed: dict[str, str] | None = None
    new_files: list[tuple[str, int, int, int]] = []  # rel, size, mtime, index into plan.new
    for path in article_paths(root):
        rel = path.relative_to(root).as_posix()
        st = path.stat()
        old = old_files.get(rel)
        fresh = (
            old is not None
            and old.size == st.st_size
            and old.mtime_ns == st.st_mtime_ns
            and st.st_mtime_ns < built_ns - RACY_NS
        )
        if fresh and old is not None and old.article is None and old.problem:  # unchanged and still unreadable
            plan.problems.append(old.problem)
            plan.files.append(FileEntry(rel, st.st_size, st.st_mtime_ns, None, old.problem))
            continue
        if fresh and old is not None and old.article is not None:
            art_id = old_ids[old.article]
            if art_id not in seen:
                seen[art_id] = rel
                plan.files.append(FileEntry(rel, st.st_size, st.st_mtime_ns, len(plan.reused), None))
                plan.reused.append(old.article)
                continue
        try:
            article = parse_file(path, root)
        except ArticleError as e:
            plan.problems.append(str(e))
            plan.files.append(FileEntry(rel, st.st_size, st.st_mtime_ns, None, str(e)))
            continue
        if article.id in seen:
            plan.problems.append(str(duplicate_id(path, article.id, seen[article.id])))
            plan.files.append(FileEntry(rel, st.st_size, st.st_mtime_ns, None, None))  # re-read next time
            continue
        seen[article.id] = rel
        offsets = offsets or tokenizer_offsets(identity.dir / "tokenizer.json")
        if committed is None and not article.meta_text("updated"):
            committed = last_commit_dates(root)  # one `git log` for the folder, only when needed
        new_files.append((rel, st.st_size, st.st_mtime_ns, len(plan.new)))
        plan.new.append(new_record(article, offsets, identity.sha256, (committed or {}).get(rel)))
    # A reused article whose id a newly parsed file took earlier in path order loses: rare, and
    # resolved by re-reading that file next time.
    n = len(plan.reused)
    plan.files += [FileEntry(rel, size, mtime, n + j, None) for rel, size, mtime, j in new_files]
    return plan


def _embed(
    plan: _Plan, base: _Base, onnx_path: Path, progress: bool | None, log: Log = print
) -> tuple[int, OnnxEncoder | None]:
    """Give every new record its vectors, embedding only chunks not seen before; returns how many,
    and the encoder when one was loaded. A progress bar on a terminal; else a line every tenth."""
    known = base.vectors({c.hash for rec in plan.new for c in rec.chunks})
    todo: dict[str, str] = {}
    for rec in plan.new:
        for c, text in zip(rec.chunks, rec.embedded, strict=True):
            if c.hash not in known:
                todo.setdefault(c.hash, text)
    encoder = None
    if todo:
        encoder = index_encoder(onnx_path)
        texts = list(todo.values())
        bar = sys.stderr.isatty() if progress is None else progress
        if bar or len(texts) < PROGRESS_LINES_FROM:
            vecs = encoder.encode(texts, progress=bar)
        else:  # a log, a CI job: lines, not a bar that only a terminal redraws
            started, parts = time.perf_counter(), []
            step = max(PROGRESS_STEP, -(-len(texts) // 10))
            for at in range(0, len(texts), step):
                parts.append(encoder.encode(texts[at : at + step]))
                done = min(at + step, len(texts))
                rate = done / max(time.perf_counter() - started, 1e-9)
                left = (len(texts) - done) / rate
                log(f"embedded {done:,} of {len(texts):,} chunks ({rate:.0f}/s, {left:.0f} s left)")
            vecs = np.vstack(parts)
        known.update(zip(todo, vecs, strict=True))
    for rec in plan.new:
        rec.vectors = np.array([known[c.hash] for c in rec.chunks], dtype=np.float32).reshape(-1, DIM)
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
        store.prune(index_dir)  # what killed builds left behind
        prev = None if full else Generation.previous(index_dir, expect)
        base = _Base(prev, prev is not None and prev.reusable(expect))
        try:
            plan = _plan(settings, base, identity)
            for p in plan.problems:
                log(f"warning: {p}")
            old_hashes, old_ids = base.hashes(), base.ids()
            kept = {r.id for r in plan.new} | {old_ids[i] for i in plan.reused}
            unchanged = len(plan.reused) + sum(old_hashes.get(r.id) == r.hash for r in plan.new)
            deleted = sum(i not in kept for i in old_hashes)
            if prev is not None and base.reusable and unchanged == len(kept) and not deleted:
                chunks = prev.manifest["counts"]["chunks"]
                if {f.path for f in plan.files} == set(base.files) and prev.manifest.get("faiss") == faiss_kind(
                    chunks, settings.faiss
                ):
                    seconds = round(time.perf_counter() - started, 3)
                    stats = store.Stats(len(kept), 0, unchanged, 0, len(plan.problems), chunks, 0, chunks, seconds)
                    return BuildResult(prev.name, stats, plan.problems)
            onnx_path = ensure_onnx(index_dir, identity, settings.cache, log)
            embedded, encoder = _embed(plan, base, onnx_path, progress, log)
            gen = Generation.create(index_dir)
            try:
                n_chunks, dense = _write(gen, plan, base, settings)
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
                gen.write_manifest(
                    {
                        **expect,
                        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "built_ns": started_ns,
                        "articles_dir": str(settings.articles.resolve()),
                        "git_commit": head_commit(settings.articles),
                        "onnx": f"models/{onnx_path.name}",
                        "tokenizer": f"models/{onnx_path.stem}.tokenizer.json",
                        "faiss": faiss_kind(n_chunks, settings.faiss),
                        "dense_tombstones": dense.tombstones,
                        "counts": stats.__dict__,
                        "skipped": plan.problems,
                        "files": gen.checksums(),  # verified by every process that loads it
                    }
                )
                _smoke_test(gen, encoder)
                store.publish(gen)
            except BaseException:
                gen.remove()
                raise
        finally:
            if prev is not None:
                prev.close()
    return BuildResult(gen.name, stats, plan.problems)


def _write(gen: Generation, plan: _Plan, base: _Base, settings: Settings) -> tuple[int, DenseIndex]:
    """Write every channel's files and the metadata of the planned articles; returns the chunk
    count and the dense index written."""
    reused = np.array(plan.reused, dtype=np.int64)
    prev = base.gen
    chunks = prev.metadata().reused_chunks(reused) if prev is not None and len(reused) else ReusedChunks(reused, reused)
    new_vectors = np.vstack(
        [np.zeros((0, DIM), dtype=np.float32)] + [r.vectors for r in plan.new if r.vectors is not None]
    )
    n_chunks = len(chunks.rows) + len(new_vectors)
    kind = faiss_kind(n_chunks, settings.faiss)
    previous_dense = base.dense() if prev is not None and (len(reused) or _extends(base, kind)) else None
    dense = DenseIndex.assemble(previous_dense, _extends(base, kind), chunks.rows, new_vectors, kind)
    dense.save(gen)

    # Lexical: previous count rows as they were, new rows over a vocabulary grown by new terms.
    old_counts, vocab = Lexical.stored_counts(prev, reused) if prev is not None and len(reused) else (None, [])
    new_counts, vocab = count_matrix([r.counts for r in plan.new], vocab)
    parts = [new_counts]
    if old_counts is not None:
        old_counts.resize((old_counts.shape[0], len(vocab)))
        parts.insert(0, old_counts)
    Lexical.from_counts(sparse.vstack(parts).tocsr(), vocab).save(gen)

    old_ph: list[np.ndarray] = []
    if prev is not None and len(reused):
        ph = Phrases.load(prev)
        old_ph = [np.asarray(ph.of(i)) for i in reused.tolist()]
    Phrases.from_arrays(old_ph + [r.phrases for r in plan.new]).save(gen)

    meta = gen.create_metadata()
    try:
        previous_db = prev.file("meta") if prev is not None else None
        meta.write(previous_db, reused, chunks, [(r.row, r.chunks) for r in plan.new], plan.files)
    finally:
        meta.close()
    return n_chunks, dense


def _extends(base: _Base, kind: str) -> bool:
    """Whether the previous HNSW graph may be extended in place for a new generation of `kind`."""
    return base.gen is not None and base.reusable and kind == "hnsw" and base.gen.manifest.get("faiss") == "hnsw"


def _smoke_test(gen: Generation, loaded: OnnxEncoder | None = None) -> None:
    """Refuse to publish a generation whose query encoder does not load; the encoder this build
    already loaded from the same file is proof enough, and saves loading it twice."""
    encoder = loaded or OnnxEncoder(gen.model_file("onnx"), gen.model_file("tokenizer"))
    encoder.encode(["smoke test"])
