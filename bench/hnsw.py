"""When to switch from exact (flat) to approximate (HNSW) dense search.

1. Search time per query, flat vs HNSW, at growing sizes (random unit vectors, 384-d: exact
   search costs the same on any vectors, HNSW about 4x what it costs on real embeddings,
   see bench/standin.py, so its column is an upper bound).
2. Recall@10 of HNSW against flat on real embeddings: the chunk vectors of the given indexes,
   queried with real queries encoded by the same ONNX model.

    .venv/bin/python bench/hnsw.py INDEX_DIR[:QUERIES.jsonl] ...
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb.config import Settings  # noqa: E402
from kb.core import KnowledgeBase  # noqa: E402
from kb.dense import new_faiss  # noqa: E402
from kb.normalize import normalize_query  # noqa: E402


def hnsw(vectors: np.ndarray) -> faiss.Index:
    """The approximate index exactly as `kb index` builds it."""
    index = new_faiss("hnsw")
    index.add(vectors)
    return index


def timing() -> None:
    rng = np.random.default_rng(0)
    queries = rng.standard_normal((200, 384)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    print("chunks   flat p50 ms   hnsw p50 ms")
    for n in (25_000, 50_000, 100_000, 200_000, 400_000):
        vectors = rng.standard_normal((n, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        flat = faiss.IndexFlatIP(384)
        flat.add(vectors)
        row = []
        for index in (flat, hnsw(vectors) if n <= 200_000 else None):
            if index is None:
                row.append(float("nan"))
                continue
            times = []
            for q in queries:
                t = time.perf_counter()
                index.search(q[None, :], 256)
                times.append((time.perf_counter() - t) * 1000)
            row.append(statistics.median(times))
        print(f"{n:>7}   {row[0]:>10.2f}   {row[1]:>10.2f}", flush=True)


def recall(spec: str) -> None:
    index_dir, _, queries_path = spec.partition(":")
    idx = KnowledgeBase(Settings(index=Path(index_dir))).index()
    vectors = idx.dense.index.vectors(np.arange(idx.dense.index.chunks))
    if queries_path:
        texts = [json.loads(line)["query"] for line in Path(queries_path).read_text().splitlines() if line.strip()]
    else:  # the articles' own titles, as paraphrase-free queries
        texts = [r[0] for r in idx.meta.conn.execute("SELECT title FROM articles LIMIT 500")]
    q = idx.dense.encoder.encode([normalize_query(t).dense for t in texts[:500]])
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    _, exact = flat.search(q, 10)
    _, approx = hnsw(vectors).search(q, 10)
    r = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, approx, strict=True)])
    print(f"{index_dir}: {len(vectors)} chunk vectors, {len(q)} queries: HNSW recall@10 vs flat = {r:.4f}")


if __name__ == "__main__":
    for spec in sys.argv[1:]:
        recall(spec)
    timing()
