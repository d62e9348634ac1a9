"""Near-duplicate detection: a pure function over article vectors (kb/article_vectors.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NEAR_DUPLICATE = 0.95  # whole-article cosine similarity; how it was chosen: README, "Near-duplicates"
BLOCK = 256  # target rows compared at once (bounds memory on a large KB)


@dataclass(frozen=True)
class Pair:
    """A target article and another article at least `threshold` alike (rows of the vectors)."""

    target: int
    other: int
    similarity: float


def near_duplicates(vectors: np.ndarray, targets: Sequence[int], threshold: float = NEAR_DUPLICATE) -> list[Pair]:
    """Every (target, other) pair of distinct rows whose cosine is >= threshold; `vectors` are
    normalized, one row per article. A pair of two targets appears once from each side."""
    out: list[Pair] = []
    rows = list(targets)
    for start in range(0, len(rows), BLOCK):
        block = rows[start : start + BLOCK]
        sims = vectors[block] @ vectors.T
        for r, i in enumerate(block):
            for j in np.flatnonzero(sims[r] >= threshold).tolist():
                if j != i:
                    out.append(Pair(i, j, float(sims[r, j])))
    return out
