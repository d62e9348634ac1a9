"""Stand-in chunk vectors for the 100k benchmark, shaped like the real model's.

Embedding 434k chunks with the real model takes ~1.9 hours on this machine, so the 100k index
is built with stand-in vectors. Their geometry matters: an HNSW search over isotropic random
vectors costs ~4x what it costs over real embeddings (measured below), which would make the
benchmark measure a worst case nobody meets. The stand-in is a small model of the real one:

    vector(text) = normalize(mean_token_embedding(text) @ W + noise * sigma)

where `mean_token_embedding` averages the model's own input token embeddings over the text's
tokens (microseconds), `W` is a ridge regression onto the real ONNX vectors of a sample of the
same KB's chunks (fitted at build time), and the noise has the per-dimension spread of the fit's
residuals on held-out chunks (seeded by the text, so a text always gets the same vector).

    .venv/bin/python bench/standin.py INDEX_DIR   # validate against a really embedded index
"""

from __future__ import annotations

import random
import statistics
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb.embedding import (  # noqa: E402
    DIM,
    index_encoder,  # noqa: E402 - the real one, whatever run.py swaps into kb.indexer
    load_tokenizer,
    model_dir,
)

FIT_SAMPLE = 2000  # chunks embedded by the real model to fit the map (~30 s here)
HELD_OUT = 500  # of those, kept out of the fit to measure the residual spread
RIDGE = 1e-2


class StandInEncoder:
    """Drop-in for the indexer's encoder (`encode(texts, **kw)`); fits itself on its first call."""

    def __init__(self, onnx_path: Path) -> None:
        from safetensors.numpy import load_file

        self.real = index_encoder(onnx_path)
        weights = load_file(str(model_dir() / "model.safetensors"))
        self.tokens = next(v for k, v in weights.items() if k.endswith("word_embeddings.weight"))
        self.tokenizer = load_tokenizer(model_dir() / "tokenizer.json")
        self.map: np.ndarray | None = None
        self.sigma: np.ndarray | None = None

    def static(self, texts: list[str]) -> np.ndarray:
        """Mean of the model's input token embeddings over each text's tokens."""
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(texts), 4096):
            for j, enc in enumerate(self.tokenizer.encode_batch(texts[start : start + 4096])):
                ids = np.array(enc.ids, dtype=np.int64)[np.array(enc.attention_mask, dtype=bool)]
                out[start + j] = self.tokens[ids].mean(axis=0)
        return out

    def fit(self, texts: list[str]) -> dict[str, float]:
        sample = random.Random(11).sample(texts, min(FIT_SAMPLE, len(texts)))
        held = min(HELD_OUT, len(sample) // 4)
        y = self.real.encode(sample)
        x = self.static(sample)
        xf, yf = x[held:], y[held:]
        self.map = np.linalg.solve(xf.T @ xf + RIDGE * np.eye(DIM, dtype=np.float32), xf.T @ yf)
        self.sigma = (y[:held] - x[:held] @ self.map).std(axis=0)
        pred = x[:held] @ self.map
        pred /= np.linalg.norm(pred, axis=1, keepdims=True)
        return {"fit_chunks": len(sample) - held, "held_out_cosine": float((pred * y[:held]).sum(axis=1).mean())}

    def encode(self, texts: list[str], **kw: Any) -> np.ndarray:
        if self.map is None:
            self.fit(texts)
        assert self.map is not None and self.sigma is not None
        out = self.static(texts) @ self.map
        for i, text in enumerate(texts):
            noise = np.random.default_rng(zlib.crc32(text.encode())).standard_normal(DIM).astype(np.float32)
            out[i] += noise * self.sigma
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out.astype(np.float32)


def validate(index_dir: Path) -> None:
    """Real vectors of an index beside stand-ins for the same chunks and isotropic random ones:
    HNSW search time for real queries, recall@10, and the mean pairwise cosine."""
    import faiss

    from kb.config import Settings
    from kb.core import KnowledgeBase
    from kb.dense import DenseIndex, new_faiss
    from kb.normalize import normalize_document, normalize_query
    from kb.store import Generation

    sys.path.insert(0, str(ROOT / "bench"))
    from run import short_queries

    gen = Generation.current(index_dir)
    dense = DenseIndex.load(gen)
    real = dense.vectors(np.arange(dense.chunks)).astype(np.float32)
    texts = [normalize_document(r[0]) for r in gen.metadata().conn.execute("SELECT text FROM chunks ORDER BY idx")]
    standin = StandInEncoder(gen.model_file("onnx"))
    fit = standin.fit(texts)
    stand = standin.encode(texts)
    rng = np.random.default_rng(0)
    rand = rng.standard_normal(real.shape).astype(np.float32)
    rand /= np.linalg.norm(rand, axis=1, keepdims=True)
    idx = KnowledgeBase(Settings(index=index_dir)).index()
    queries = idx.dense.encoder.encode([normalize_query(q).dense for q in short_queries(300)])
    sample = rng.choice(len(real), min(2000, len(real)), replace=False)
    print(
        f"{index_dir}: {len(real):,} chunks; stand-in fitted on {fit['fit_chunks']} chunks, "
        f"held-out cosine to the real vectors {fit['held_out_cosine']:.3f}"
    )
    for name, vectors in (("real", real), ("stand-in", stand), ("random", rand)):
        faiss.omp_set_num_threads(2)
        index = new_faiss("hnsw")
        index.add(vectors)
        faiss.omp_set_num_threads(1)
        times = []
        for q in queries:
            started = time.perf_counter()
            index.search(q[None], 256)
            times.append((time.perf_counter() - started) * 1000)
        flat = faiss.IndexFlatIP(DIM)
        flat.add(vectors)
        _, exact = flat.search(queries, 10)
        _, approx = index.search(queries, 10)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, approx, strict=True)])
        sims = vectors[sample] @ vectors[sample].T
        pairwise = sims[np.triu_indices(len(sample), 1)].mean()
        print(
            f"  {name:8s}  HNSW search (k 256) p50 {statistics.median(times):.3f} ms, recall@10 {recall:.3f}, "
            f"mean pairwise cosine {pairwise:.3f}",
            flush=True,
        )


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        validate(Path(arg))
