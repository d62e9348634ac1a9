"""`kb eval`: Recall@1/5/10, MRR@10 and nDCG@10 of a query set, per variant and per channel,
plus how honest the confidence labels are."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.errors import KBError
from kb.search import RANKINGS, Index


@dataclass
class Query:
    qid: str
    query: str
    relevant: set[str]
    variant: str = "all"


def load_queries(path: Path) -> list[Query]:
    """Read `{"qid","query","relevant":[ids],"variant"?}` lines; only `query` reaches search."""
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise KBError(f"cannot read {path}: {e.strerror}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            out.append(Query(str(d["qid"]), d["query"], set(d["relevant"]), str(d.get("variant") or "all")))
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise KBError(f"{path}:{n}: not a query line ({e})") from None
    if not out:
        raise KBError(f"{path} holds no queries")
    return out


@dataclass
class Scores:
    n: int = 0
    r1: float = 0.0
    r5: float = 0.0
    r10: float = 0.0
    mrr: float = 0.0
    ndcg: float = 0.0

    def add(self, ranked: list[str], relevant: set[str]) -> None:
        self.n += 1
        hits = [i for i, a in enumerate(ranked[:10]) if a in relevant]
        self.r1 += any(h < 1 for h in hits)
        self.r5 += len([h for h in hits if h < 5]) / min(len(relevant), 5)
        self.r10 += len(hits) / min(len(relevant), 10)
        self.mrr += 1 / (hits[0] + 1) if hits else 0.0
        dcg = sum(1 / math.log2(h + 2) for h in hits)
        ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
        self.ndcg += dcg / ideal if ideal else 0.0

    def table(self) -> dict[str, float]:
        n = max(self.n, 1)
        return {
            "n": self.n,
            "R@1": self.r1 / n,
            "R@5": self.r5 / n,
            "R@10": self.r10 / n,
            "MRR@10": self.mrr / n,
            "nDCG@10": self.ndcg / n,
        }


@dataclass
class Calibration:
    """How often each confidence word is right at rank 1."""

    labels: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    none_but_right: int = 0
    n: int = 0
    points: list[tuple[float, bool]] = field(default_factory=list)  # (top score, right at rank 1)

    def add(self, confidence: str, match: str, correct: bool, score: float) -> None:
        self.n += 1
        self.points.append((round(score, 4), correct))
        self.labels[confidence][0] += correct
        self.labels[confidence][1] += 1
        self.none_but_right += match == "none" and correct

    def table(self) -> dict[str, Any]:
        out: dict[str, Any] = {f"precision_{k}": v[0] / v[1] for k, v in sorted(self.labels.items()) if v[1]}
        out.update({f"share_{k}": v[1] / max(self.n, 1) for k, v in sorted(self.labels.items())})
        out["none_while_top_right"] = self.none_but_right / max(self.n, 1)
        out["points"] = self.points
        return out


@dataclass
class Evaluation:
    """Metrics per ranking and variant, and the calibration of the fused confidence labels."""

    rankings: dict[str, dict[str, dict[str, float]]]  # ranking -> variant -> metric -> value
    calibration: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """`kb eval --json`: {ranking: {variant: metrics}, "calibration": {...}}."""
        out: dict[str, Any] = dict(self.rankings)
        if self.calibration is not None:
            out["calibration"] = self.calibration
        return out


def evaluate(index: Index, queries: list[Query], rankings: tuple[str, ...] = RANKINGS) -> Evaluation:
    """Score every query on each ranking (fused, or one channel alone)."""
    result: dict[str, dict[str, dict[str, float]]] = {}
    calib = Calibration()
    for ranking in rankings:
        per: dict[str, Scores] = defaultdict(Scores)
        for q in queries:
            r = index.rank(q.query, k=10, channel=ranking)
            per["all"].add(r.ids, q.relevant)
            if q.variant != "all":
                per[q.variant].add(r.ids, q.relevant)
            if ranking == "fused" and r.confidence is not None:
                calib.add(r.confidence, r.match, bool(r.ids) and r.ids[0] in q.relevant, r.score)
        result[ranking] = {v: s.table() for v, s in sorted(per.items(), key=lambda kv: kv[0] != "all")}
    return Evaluation(result, calib.table() if "fused" in rankings else None)


def format_table(evaluation: Evaluation) -> str:
    """A plain-text table: one row per variant and ranking."""
    result = evaluation.to_dict()
    lines = [f"{'variant':<24} {'channel':<8} {'n':>5} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR@10':>7} {'nDCG@10':>8}"]
    channels = [c for c in (*RANKINGS, "history") if c in result]
    for variant in result[channels[0]]:
        for c in channels:
            m = result[c][variant]
            lines.append(
                f"{variant:<24} {c:<8} {m['n']:>5} {m['R@1']:>6.3f} {m['R@5']:>6.3f} {m['R@10']:>6.3f} "
                f"{m['MRR@10']:>7.3f} {m['nDCG@10']:>8.3f}"
            )
    if "calibration" in result:
        cal = result["calibration"]
        lines.append("confidence at rank 1: " + ", ".join(f"{k}={v:.3f}" for k, v in cal.items() if k != "points"))
    return "\n".join(lines)
