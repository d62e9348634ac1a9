"""Fusion of the channels into one 0..1 score per article, and the calibrated thresholds that
turn a score into words (strong / possible / weak / none)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# One weight per channel (kb/channels.py), tuned on the dev queries of the shared suites with
# bench/tune_fusion.py; README "Retrieval quality" has the table. The first-stage channels
# (dense, lexical, signatures) score every candidate; the re-ranking ones only the best RERANK.
WEIGHTS: dict[str, float] = {
    "dense": 0.6,  # best chunk cosine, 0.15..0.85 mapped onto 0..1
    "lexical": 0.4,  # relative BM25 x IDF share of the query's terms in the article
    "phrases": 0.3,  # share of the query found verbatim (tokens and bigrams, case kept)
    "identifiers": 0.4,  # share of the query's identifiers (error codes, CamelCase names) in the article
    "signatures": 0.0,  # no weight: a match lifts the score to SIGNATURE_SCORE instead
}
TOTAL = sum(WEIGHTS.values())
RERANK = 30  # candidates that the re-ranking channels score
SIGNATURE_SCORE = 0.95
# Calibrated with bench/calibrate.py on the dev queries of the four shared suites, asking each
# knowledge base its own queries and, as "never seen before" pastes, the other suites' queries:
# score >= 0.50 is right at rank 1 98% of the time (pooled); a top score under 0.25 hides 1.2%
# of right answers (3.9% on the worst suite) and catches 97% of foreign queries; under 0.20, 89%.
STRONG, POSSIBLE, NONE_BELOW = 0.50, 0.30, 0.25
NOVEL_BELOW = 0.20


@dataclass
class Candidate:
    """One article's evidence: its first-stage score and its re-ranking channels' scores."""

    article: int
    base: float  # first-stage score (first_stage)
    rerank: dict[str, float] = field(default_factory=dict)  # re-ranking channel -> score, for the best RERANK
    signature: str | None = None  # the signature that matched
    chunk: int = -1  # the best dense chunk, -1 when the dense channel found none
    score: float = 0.0


def first_stage(scores: dict[str, np.ndarray]) -> np.ndarray:
    """The first-stage score of many candidates: the weighted sum of the first-stage channels."""
    total: np.ndarray | None = None
    for name, values in scores.items():
        part = WEIGHTS[name] * values
        total = part if total is None else total + part
    assert total is not None
    return total


def fuse(cands: list[Candidate]) -> list[Candidate]:
    """Final 0..1 scores (after the re-ranking channels are set), best first."""
    for c in cands:
        raw = c.base
        for name, value in c.rerank.items():
            raw += WEIGHTS[name] * value
        c.score = raw / TOTAL
        if c.signature:
            c.score = max(c.score, SIGNATURE_SCORE) + 0.01 * c.score
        c.score = min(1.0, max(0.0, c.score))
    return sorted(cands, key=lambda c: (-c.score, c.article))


def confidence_of(c: Candidate) -> str:
    if c.signature or c.score >= STRONG:
        return "strong"
    return "possible" if c.score >= POSSIBLE else "weak"


def match_of(top: Candidate | None) -> str:
    """The answer's overall match: the top result's confidence, or none when it is too low."""
    if top is None or (top.score < NONE_BELOW and not top.signature):
        return "none"
    return confidence_of(top)


def is_novel(top: Candidate | None) -> bool:
    """True when the query is unlike anything in the KB (for alerting integrations)."""
    return top is None or (not top.signature and top.score < NOVEL_BELOW)
