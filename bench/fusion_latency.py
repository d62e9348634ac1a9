"""Fusion's cost: `Index.search` beside a dense-only search of the same index, same queries.

The dense-only path is what a plain embedding search would do with this index: normalize and
embed the query, search FAISS and keep each article's best chunk (the index's own dense step),
and build the same k results (snippet included). Both run in this process, interleaved, over
distinct short queries.

    .venv/bin/python bench/fusion_latency.py INDEX_DIR [INDEX_DIR ...]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
from run import short_queries  # noqa: E402

from kb.channels import Query  # noqa: E402
from kb.config import Settings  # noqa: E402
from kb.core import KnowledgeBase  # noqa: E402
from kb.fusion import Candidate  # noqa: E402
from kb.normalize import normalize_query  # noqa: E402


def dense_only(idx, query: str, k: int = 10) -> list:
    """The dense channel alone, with the same result assembly as a fused search."""
    norm = normalize_query(query)
    hits = idx.dense.candidates(Query(query, norm), idx.catalog.published)
    arts = hits.ranked()[:k]
    ids = np.array(arts, dtype=np.int64)
    cosine, chunks = hits.cosine(ids).tolist(), hits.chunks(ids).tolist()
    cands = [Candidate(a, c, chunk=ch, score=c) for a, c, ch in zip(arts, cosine, chunks, strict=True)]
    return idx._results(cands, {}, norm, False)


def main() -> None:
    queries = short_queries(600)
    for index_dir in sys.argv[1:]:
        idx = KnowledgeBase(Settings(index=Path(index_dir))).index()
        for q in queries[:20]:
            idx.search(q)
            dense_only(idx, q)
        fused, dense = [], []
        for q in queries[20:]:
            t = time.perf_counter()
            dense_only(idx, q)
            dense.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            idx.search(q)
            fused.append((time.perf_counter() - t) * 1000)
        d, f = statistics.median(dense), statistics.median(fused)
        print(
            f"{index_dir}: {idx.article_count} articles, short query p50 dense-only {d:.2f} ms, "
            f"fused {f:.2f} ms, fusion adds {f - d:+.2f} ms",
            flush=True,
        )


if __name__ == "__main__":
    main()
