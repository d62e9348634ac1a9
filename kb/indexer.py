"""`kb index`: articles to a new index generation, re-embedding only what changed."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kb import store
from kb.articles import Article, load_articles
from kb.chunking import Chunk, chunk_article, tokenizer_offsets
from kb.config import Settings
from kb.embedding import DIM, OnnxEncoder, TorchEncoder, export_onnx, model_identity
from kb.normalize import NORMALIZER_VERSION, lexical_terms, normalize_document

Log = Callable[[str], None]
HNSW_THRESHOLD = 200_000  # chunks; below it exact search is fast enough (see bench/README.md)


@dataclass
class BuildResult:
    generation: str
    stats: store.Stats
    problems: list[str] = field(default_factory=list)


def expected_manifest(identity: dict[str, str]) -> dict[str, Any]:
    """The manifest keys an index must match to be opened by this kb."""
    return {"format_version": store.FORMAT_VERSION, "model": identity["name"],
            "model_sha256": identity["sha256"], "dim": DIM,
            "normalizer_version": NORMALIZER_VERSION}


def chunk_hash(model_sha: str, text: str) -> str:
    return hashlib.sha1(f"{model_sha}\0{NORMALIZER_VERSION}\0{text}".encode()).hexdigest()


def article_terms(article: Article) -> list[str]:
    """What the lexical channel indexes: the title twice (it names the problem), then the rest."""
    sigs = " ".join(s.get("text") or _regex_words(s["regex"]) for s in article.signatures)
    summary = " ".join(str(article.meta.get(k) or "") for k in ("root_cause", "resolution"))
    text = f"{article.title}\n{article.title}\n{sigs}\n{summary}\n{article.body}"
    return lexical_terms(normalize_document(text))


def _regex_words(pattern: str) -> str:
    """The literal words of a regex signature, so its error text is also matched lexically."""
    return re.sub(r"\\[a-zA-Z][+*?]?|\{\d*,?\d*\}|[\\()?*+\[\]|^$.]", " ", pattern)


def git_commit(folder: Path) -> str | None:
    """The commit of the git repository holding `folder`, if any."""
    try:
        out = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def article_hash(article: Article) -> str:
    meta = json.dumps(article.meta, default=str, sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(f"{article.path}\0{meta}\0{article.body}".encode()).hexdigest()


def _previous(index_dir: Path, expect: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """From the current generation, when compatible: chunk hash -> vector, article id -> hash."""
    import faiss

    try:
        gen = store.current_path(index_dir)
        # Vectors stay valid across format changes: the chunk hash covers model and normalizer.
        same_model = {k: expect[k] for k in ("model_sha256", "dim")}
        store.check_compatible(gen, store.read_manifest(gen), same_model)
        conn = store.connect(gen)
        hashes = [r[0] for r in conn.execute("SELECT hash FROM chunks ORDER BY idx")]
        articles = dict(conn.execute("SELECT id, hash FROM articles").fetchall())
        conn.close()
        vectors = faiss.read_index(str(gen / "dense.faiss")).reconstruct_n(0, len(hashes))
    except Exception:  # noqa: BLE001 - an unusable old index only means a full build
        return {}, {}
    return dict(zip(hashes, vectors, strict=True)), articles


def ensure_onnx(index_dir: Path, identity: dict[str, str]) -> Path:
    """The query encoder for these weights, exported once and shared by generations."""
    models = index_dir / "models"
    models.mkdir(parents=True, exist_ok=True)
    onnx = models / f"{identity['sha256'][:16]}.onnx"
    tok = models / f"{identity['sha256'][:16]}.tokenizer.json"
    if not tok.is_file():
        shutil.copyfile(Path(identity["dir"]) / "tokenizer.json", tok)
    if not onnx.is_file():
        export_onnx(Path(identity["dir"]), onnx)
    return onnx


def build(settings: Settings, full: bool = False, log: Log = print, wait: float = 0.0,
          progress: bool | None = None) -> BuildResult:
    """Build a new generation from settings.articles and publish it."""
    import faiss

    started = time.perf_counter()
    loaded = load_articles(settings.articles)
    problems = [str(p) for p in loaded.problems]
    for p in problems:
        log(f"warning: {p}")
    identity = model_identity(settings.model)
    expect = expected_manifest(identity)
    index_dir = settings.index
    with store.build_lock(index_dir, wait=wait):
        previous, old_articles = ({}, {}) if full else _previous(index_dir, expect)
        onnx_path = ensure_onnx(index_dir, identity)
        from tokenizers import Tokenizer

        counter = Tokenizer.from_file(str(Path(identity["dir"]) / "tokenizer.json"))
        counter.no_truncation()
        counter.no_padding()
        offsets = tokenizer_offsets(counter)
        chunks: list[Chunk] = []
        owners: list[int] = []
        for i, art in enumerate(loaded.articles):
            for ch in chunk_article(art, offsets):
                chunks.append(ch)
                owners.append(i)
        texts = [normalize_document(c.text) for c in chunks]
        hashes = [chunk_hash(identity["sha256"], t) for t in texts]
        vectors = np.zeros((len(chunks), DIM), dtype=np.float32)
        todo = [i for i, h in enumerate(hashes) if h not in previous]
        for i, h in enumerate(hashes):
            if h in previous:
                vectors[i] = previous[h]
        if todo:
            encoder = TorchEncoder(Path(identity["dir"]))
            vectors[todo] = encoder.encode([texts[i] for i in todo], progress=progress)
        art_hashes = [article_hash(a) for a in loaded.articles]
        new_ids = {a.id for a in loaded.articles}
        unchanged = sum(old_articles.get(a.id) == h for a, h in zip(loaded.articles, art_hashes, strict=True))
        deleted = sum(i not in new_ids for i in old_articles)

        gen = store.new_generation(index_dir)
        try:
            dense = faiss.IndexFlatIP(DIM)
            if len(chunks) >= HNSW_THRESHOLD:
                dense = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT)
                dense.hnsw.efConstruction = 80
            dense.add(vectors)
            faiss.write_index(dense, str(gen / "dense.faiss"))
            from kb.lexical import Lexical
            from kb.phrases import Phrases

            Lexical.build([article_terms(a) for a in loaded.articles]).save(gen)
            Phrases.build([normalize_document(f"{a.title}\n{a.body}") for a in loaded.articles]).save(gen)
            _write_meta(gen, loaded.articles, art_hashes, chunks, owners, hashes)
            stats = store.Stats(articles=len(loaded.articles), changed=len(loaded.articles) - unchanged,
                                unchanged=unchanged, deleted=deleted, skipped=len(problems),
                                chunks=len(chunks), embedded=len(todo), reused=len(chunks) - len(todo),
                                seconds=round(time.perf_counter() - started, 3))
            manifest = {**expect, "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "articles_dir": str(settings.articles.resolve()),
                        "git_commit": git_commit(settings.articles),
                        "onnx": f"models/{onnx_path.name}",
                        "tokenizer": f"models/{onnx_path.stem}.tokenizer.json",
                        "faiss": type(dense).__name__, "counts": stats.__dict__,
                        "skipped": problems}
            store.write_manifest(gen, manifest)
            _smoke_test(gen, index_dir, manifest)
            store.publish(index_dir, gen)
        except BaseException:
            shutil.rmtree(gen, ignore_errors=True)
            raise
    return BuildResult(gen.name, stats, problems)


def _smoke_test(gen: Path, index_dir: Path, manifest: dict[str, Any]) -> None:
    """Refuse to publish a generation whose query encoder does not load."""
    OnnxEncoder(index_dir / manifest["onnx"], index_dir / manifest["tokenizer"]).encode(["smoke test"])


def _write_meta(gen: Path, articles: list[Article], art_hashes: list[str], chunks: list[Chunk],
                owners: list[int], hashes: list[str]) -> None:
    conn = store.connect(gen, readonly=False)
    with conn:
        conn.executemany(
            "INSERT INTO articles VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(i, a.id, a.path, a.title, a.type, a.status, json.dumps(a.services), json.dumps(a.tags),
              a.severity, a.created, a.updated, a.owner, a.root_cause, a.resolution,
              json.dumps(a.signatures), json.dumps(a.related),
              json.dumps(a.meta, default=str, ensure_ascii=False), a.body, art_hashes[i])
             for i, a in enumerate(articles)],
        )
        conn.executemany(
            "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?)",
            [(i, owners[i], c.heading, c.kind, c.start, c.end, c.text, hashes[i])
             for i, c in enumerate(chunks)],
        )
    conn.close()
