"""Whole-article vectors: the normalized mean of an article's chunk vectors, chunked and
embedded as `kb index` does it. `kb check` compares them for near-duplicates; it reads the
current generation's stored vectors directly (no search index is loaded)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from kb.articles import Article
from kb.chunking import TokenOffsets, chunk_article, tokenizer_offsets
from kb.dense import DenseIndex
from kb.embedding import DIM, ModelIdentity, OnnxEncoder, TorchEncoder, export_name, model_identity
from kb.errors import KBError
from kb.records import article_hash
from kb.store import Generation, expected_manifest

EMBED_CHARS = 50_000  # of a body, for articles the index does not hold; bounds a 5 MB article


class Encoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


def article_vectors(
    articles: list[Article], index_dir: Path | None, model: str | None = None, cache: Path | None = None
) -> np.ndarray:
    """One normalized vector per article.

    Articles the current generation holds unchanged (same article hash) reuse its vectors; the
    others are embedded with the generation's ONNX encoder. Without a usable generation: with
    the ONNX export `kb index` keeps in `cache`, else with sentence-transformers.
    """
    identity = model_identity(model)
    gen = _generation(index_dir, identity)
    out = np.zeros((len(articles), DIM), dtype=np.float32)
    todo = list(range(len(articles)))
    try:
        if gen is not None:
            stored = gen.metadata().stored_hashes()
            reuse = {
                i: stored[a.id][0]
                for i, a in enumerate(articles)
                if a.id in stored and stored[a.id][1] == article_hash(a)
            }
            if reuse:
                dense = DenseIndex.load(gen)
                chunk_article = gen.metadata().chunk_articles()
                out[list(reuse)] = dense.article_means(chunk_article, np.fromiter(reuse.values(), dtype=np.int64))
            todo = [i for i in todo if i not in reuse]
        if todo:
            encoder, offsets = _encoder(gen, identity, cache)
            out[todo] = embed_articles([articles[i] for i in todo], encoder, offsets)
    finally:
        if gen is not None:
            gen.close()
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def _generation(index_dir: Path | None, identity: ModelIdentity) -> Generation | None:
    """The current generation when it was built by this kb with this model, else None."""
    if index_dir is None:
        return None
    try:
        gen = Generation.current(index_dir)
        gen.check(expected_manifest(identity))
        gen.verify()
        gen.metadata()
    except KBError:
        return None
    return gen


def _encoder(gen: Generation | None, identity: ModelIdentity, cache: Path | None) -> tuple[Encoder, TokenOffsets]:
    """The generation's ONNX encoder; else the export `kb index` keeps of these very weights in
    `cache` (spares importing torch, ~5 s); else sentence-transformers."""
    threads = os.cpu_count() or 1
    if gen is not None:
        tokenizer = gen.model_file("tokenizer")
        return OnnxEncoder(gen.model_file("onnx"), tokenizer, threads=threads), tokenizer_offsets(tokenizer)
    tokenizer = identity.dir / "tokenizer.json"
    onnx = cache / f"{export_name(identity)}.onnx" if cache is not None else None
    if onnx is not None and onnx.is_file():
        return OnnxEncoder(onnx, tokenizer, threads=threads), tokenizer_offsets(tokenizer)
    return TorchEncoder(identity.dir), tokenizer_offsets(tokenizer)


def embed_articles(articles: list[Article], encoder: Encoder, offsets: TokenOffsets) -> np.ndarray:
    """The mean chunk vector of each article (not normalized), chunked the way `kb index` does."""
    texts: list[str] = []
    owners: list[int] = []
    for i, art in enumerate(articles):
        art = dataclasses.replace(art, body=art.body[:EMBED_CHARS])
        for chunk in chunk_article(art, offsets):
            texts.append(chunk.embedded)
            owners.append(i)
    vectors = encoder.encode(texts)
    out = np.zeros((len(articles), DIM), dtype=np.float32)
    np.add.at(out, np.array(owners, dtype=np.int64), vectors)
    counts = np.bincount(owners, minlength=len(articles)).astype(np.float32)
    return out / np.maximum(counts, 1)[:, None]
