"""Near-duplicate articles: whole-article embeddings (the normalized mean of an article's chunk
vectors) compared across the knowledge base, for `kb check`'s W401 warning."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.articles import Article

if TYPE_CHECKING:
    from kb.check import ArticleFile, Problem

NEAR_DUPLICATE = 0.95  # whole-article cosine similarity; how it was chosen: README, "Near-duplicates"


def near_duplicates(
    targets: list[ArticleFile],
    pool: list[ArticleFile],
    index_dir: Path | None,
    model: str | None = None,
    threshold: float = NEAR_DUPLICATE,
    cache: Path | None = None,
) -> list[Problem]:
    """W401 for each target whose whole-article embedding is within `threshold` of another article.

    A pair of two targets is reported once, on the later one (by `created`, then path).
    """
    import numpy as np

    files = [f for f in pool if f.article]
    wanted = {id(f) for f in targets if f.article}
    if len(files) < 2 or not wanted:
        return []
    vectors = article_vectors([f.article for f in files], index_dir, model, cache)
    rows = [i for i, f in enumerate(files) if id(f) in wanted]
    order = {id(f): (str(f.article.meta.get("created") or ""), f.shown) for f in files if f.article}
    out = []
    for start in range(0, len(rows), 256):
        block = rows[start : start + 256]
        sims = vectors[block] @ vectors.T
        for r, i in enumerate(block):
            for j in np.flatnonzero(sims[r] >= threshold):
                a, b = files[i], files[j]
                if i == j or _superseded(a.article, b.article) or (id(b) in wanted and order[id(a)] < order[id(b)]):
                    continue
                out.append(
                    a.problem(a.line_of("title"), "W401", f"near-duplicate of {b.shown} (similarity {sims[r, j]:.3f})")
                )
    return out


def _superseded(a: Any, b: Any) -> bool:
    return a.meta.get("superseded_by") == b.id or b.meta.get("superseded_by") == a.id


EMBED_CHARS = 50_000  # of a body, for articles the index does not hold; bounds a 5 MB article


def article_vectors(
    articles: list[Article], index_dir: Path | None, model: str | None = None, cache: Path | None = None
) -> Any:
    """One normalized vector per article: the mean of its chunk vectors.

    Articles the index holds unchanged (same article hash) reuse its vectors; the others are
    chunked and embedded like `kb index` does, with the index's ONNX encoder. Without a usable
    index: with the ONNX export `kb index` keeps in `cache`, else with sentence-transformers.
    """
    import numpy as np

    from kb.embedding import DIM
    from kb.records import article_hash

    index = _open_index(index_dir, model)
    out = np.zeros((len(articles), DIM), dtype=np.float32)
    todo = list(range(len(articles)))
    if index is not None:
        stored = {r[0]: (r[1], r[2]) for r in index.conn.execute("SELECT id, idx, hash FROM articles")}
        reuse = {
            i: stored[a.id][0] for i, a in enumerate(articles) if a.id in stored and stored[a.id][1] == article_hash(a)
        }
        todo = [i for i in todo if i not in reuse]
        # Chunks are stored by article: article k's chunks are bounds[k]:bounds[k + 1].
        bounds = np.searchsorted(index.chunk_article, np.arange(len(index.ids) + 1))
        items = list(reuse.items())
        for start in range(0, len(items), 512):  # bounded memory on a large index
            part = items[start : start + 512]
            ids = np.concatenate([np.arange(bounds[k], bounds[k + 1]) for _, k in part]).astype(np.int64)
            chunk_vecs = index.chunk_vectors(ids)
            pos = 0
            for i, k in part:
                n = bounds[k + 1] - bounds[k]
                out[i] = chunk_vecs[pos : pos + n].mean(axis=0)
                pos += n
    if todo:
        out[todo] = _embed([articles[i] for i in todo], index, model, cache)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def _open_index(index_dir: Path | None, model: str | None) -> Any:
    if index_dir is None:
        return None
    from kb.config import Settings
    from kb.core import KnowledgeBase
    from kb.errors import KBError

    try:
        return KnowledgeBase(Settings(index=index_dir, model=model)).index()
    except KBError:
        return None


def _embed(articles: list[Article], index: Any, model: str | None, cache: Path | None = None) -> Any:
    """Mean chunk vectors of articles, chunked and normalized the way `kb index` does it."""
    import dataclasses

    import numpy as np

    from kb.chunking import chunk_article, tokenizer_offsets
    from kb.embedding import OnnxEncoder, TorchEncoder, export_name, model_identity
    from kb.normalize import normalize_document

    if index is not None:
        encoder: Any = index.encoder
        offsets = tokenizer_offsets(index.path.parent / index.manifest["tokenizer"])
    else:
        identity = model_identity(model)
        path = Path(identity["dir"])
        offsets = tokenizer_offsets(path / "tokenizer.json")
        onnx = cache / f"{export_name(identity)}.onnx" if cache is not None else None
        # The export `kb index` keeps of these very weights spares importing torch (~5 s).
        encoder = (
            OnnxEncoder(onnx, path / "tokenizer.json", threads=os.cpu_count())
            if onnx is not None and onnx.is_file()
            else TorchEncoder(path)
        )
    texts: list[str] = []
    owners: list[int] = []
    for i, art in enumerate(articles):
        art = dataclasses.replace(art, body=art.body[:EMBED_CHARS])
        for chunk in chunk_article(art, offsets):
            texts.append(normalize_document(chunk.text))
            owners.append(i)
    vectors = encoder.encode(texts)
    out = np.zeros((len(articles), vectors.shape[1]), dtype=np.float32)
    np.add.at(out, np.array(owners), vectors)
    counts = np.bincount(owners, minlength=len(articles)).astype(np.float32)
    return out / np.maximum(counts, 1)[:, None]
