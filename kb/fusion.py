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
    "technologies": -0.5,  # evidence against: the paste names another database, broker, cache... (1 = conflict)
    "history": 0.25,  # votes on the same problem, -1..1: a bounded nudge after the rest (see fuse)
}
ADJUSTS = ("history",)
TOTAL = sum(w for n, w in WEIGHTS.items() if w > 0 and n not in ADJUSTS)  # 1 = every positive channel at its best
RERANK = 30  # candidates that the re-ranking channels score
SIGNATURE_SCORE = 0.95
# Calibrated with bench/calibrate.py on the dev queries of the four shared suites, asking each
# knowledge base its own queries and, as "never seen before" pastes, the other suites' queries
# (README, "Confidence"): a top score >= 0.50, or >= 0.30 with a lead of 0.25 over the next
# article, is right at rank 1 >= 95.7% of the time on alerts, openshift and logs (87.5% on the
# post-mortems, whose misses are texts filed twice); a top score under 0.24 hides at most 1.3% of
# right answers and catches 97% of foreign queries; under 0.20, 89% are flagged novel.
STRONG, POSSIBLE, NONE_BELOW = 0.50, 0.30, 0.24
STRONG_LEAD = 0.25  # a top result this far ahead of the next is strong from POSSIBLE on
NOVEL_BELOW = 0.20


@dataclass
class Candidate:
    """One article's evidence: its first-stage score and its re-ranking channels' scores."""

    article: int
    base: float  # first-stage score (first_stage)
    rerank: dict[str, float] = field(default_factory=dict)  # re-ranking channel -> score, for the best RERANK
    signature: str | None = None  # the signature that matched
    coverage: float = 0.0  # the share of the paste that signature covers
    actionability: float = 0.0  # runbook 1 .. post-mortem 0.2 (signatures.ACTIONABILITY)
    chunk: int = -1  # the best dense chunk, -1 when the dense channel found none
    history: float = 0.0  # what votes on the same problem say, -1..1
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
    """Final 0..1 scores (after the re-ranking channels are set), best first.

    Votes come last and are bounded: they move a score by at most WEIGHTS["history"], never lift
    an article without a signature to a signature match's score nor take a signature match below
    it, and never take a strong one below STRONG (so votes alone cannot push a strong answer off
    the page)."""
    for c in cands:
        raw = c.base
        for name, value in c.rerank.items():
            raw += WEIGHTS[name] * value
        c.score = raw / TOTAL
        if c.signature:  # ties between equal matches: paste covered, then actionability, then the rest
            c.score = SIGNATURE_SCORE + 0.025 * c.coverage + 0.015 * c.actionability + 0.01 * c.score
        c.score = min(1.0, max(0.0, c.score))
    if any(c.history for c in cands):
        _apply_history(cands)
    return sorted(cands, key=lambda c: (-c.score, c.article))


def _apply_history(cands: list[Candidate]) -> None:
    """Votes move each score by at most WEIGHTS["history"], then three bounds hold: an article
    without a signature stays below a signature match, a strong one stays strong, and an
    article the votes lifted does not pass the best strong answer that no vote was against (nor
    come within STRONG_LEAD of a top result that is strong by its lead) - votes re-rank what kb
    is unsure of; they do not overrule what it is sure of."""
    sure = max((c.score for c in cands if (c.signature or c.score >= STRONG) and c.history >= 0), default=None)
    ranked = sorted(cands, key=lambda c: (-c.score, c.article))
    top, lead = ranked[0], lead_of(ranked)
    ahead = None  # a top result strong by its lead alone keeps that lead over what votes lift
    if top.history >= 0 and not (top.signature or top.score >= STRONG) and confidence_of(top, lead) == "strong":
        ahead = top.score - STRONG_LEAD - 0.0001
    for c in cands:
        if not c.history:
            continue
        was, strong = c.score, c.signature is not None or c.score >= STRONG
        c.score = min(1.0, max(0.0, c.score + WEIGHTS["history"] * c.history))
        if c.signature:
            c.score = max(c.score, SIGNATURE_SCORE)
        else:  # (an article already above that without votes is not lowered by them)
            c.score = min(c.score, max(was, SIGNATURE_SCORE - 0.005))
        if strong:
            c.score = max(c.score, STRONG)
        if sure is not None and c.history > 0 and was < sure:
            c.score = min(c.score, sure - 0.0001)
        if ahead is not None and c.history > 0 and c is not top:
            c.score = min(c.score, max(was, ahead))


def confidence_of(c: Candidate, lead: float = 0.0) -> str:
    """strong / possible / weak; `lead` is how far the top result is ahead of the next (0 for the others)."""
    if c.signature or c.score >= STRONG or (c.score >= POSSIBLE and lead >= STRONG_LEAD):
        return "strong"
    return "possible" if c.score >= POSSIBLE else "weak"


def lead_of(ranked: list[Candidate]) -> float:
    """How far the first candidate is ahead of the second."""
    return ranked[0].score - ranked[1].score if len(ranked) > 1 else (ranked[0].score if ranked else 0.0)


def match_of(top: Candidate | None, lead: float = 0.0) -> str:
    """The answer's overall match: the top result's confidence, or none when it is too low."""
    if top is None or (top.score < NONE_BELOW and not top.signature):
        return "none"
    return confidence_of(top, lead)


def is_novel(top: Candidate | None) -> bool:
    """True when the query is unlike anything in the KB (for alerting integrations)."""
    return top is None or (not top.signature and top.score < NOVEL_BELOW)
