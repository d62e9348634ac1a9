"""`make bench-history`: what votes on past searches do for the next ones, on the shared suites.

For each suite the dev queries are split by alert / event (the relevant article): of each
group's queries, alternate ones go to the history half and to the test half, so a test query's
siblings are in the history when it has any; a query without siblings (every post-mortem) goes
to one half or the other, alternately across the suite, so its test queries have no related
history and must come out identical. Then `kb eval --history` (the same code path) scores the
test half without and with the history replayed as "solved" on each history query's relevant
article, one client each.

It also replays a hostile history: one client voting "solved", on every history query, for the
article that ranks best without being relevant (the most plausible wrong answer), and reports
what that does to the test half; and it measures how alike (query-embedding cosine) sibling
queries are compared with queries of different alerts, which is where kb.history.SIMILAR
comes from.

Only the `query` field reaches the system; `relevant` builds the history, as users' votes would.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ROOT.parent / "shared" / "corpora"
SUITES = ["alerts", "alerts-openshift", "logs", "postmortems"]


def split(lines: list[dict]) -> tuple[list[dict], list[dict]]:
    groups: dict[tuple[str, ...], list[dict]] = defaultdict(list)
    for q in lines:
        groups[tuple(sorted(q["relevant"]))].append(q)
    history, test = [], []
    lone = 0
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda q: q["qid"])
        if len(members) == 1:
            (history if lone % 2 == 0 else test).append(members[0])
            lone += 1
            continue
        for n, q in enumerate(members):
            (history if n % 2 == 0 else test).append(q)
    return history, test


def bound(kb, idx, test: list[dict], hostile: Path, folder: Path) -> tuple[int, int, float]:
    """Under the hostile votes: how many strong rank-1 answers stay rank 1 and strong, of how many,
    and the largest change of any result's score."""
    from kb.evaluate import load_queries

    before = {q["qid"]: idx.search(q["query"], k=10) for q in test}
    folder.mkdir(parents=True, exist_ok=True)
    votes = kb._replay(idx, load_queries(hostile), folder)
    mine = idx.use_feedback(votes)
    kept = strong = 0
    shift = 0.0
    try:
        for q in test:
            b, a = before[q["qid"]], idx.search(q["query"], k=10)
            if b.results and b.results[0].confidence == "strong":
                strong += 1
                kept += a.results[0].id == b.results[0].id and a.results[0].confidence == "strong"
            old = {r.id: r.score for r in b.results}
            for r in a.results:
                if r.id in old and abs(r.score - old[r.id]) > abs(shift):
                    shift = r.score - old[r.id]
    finally:
        idx.use_feedback(mine)
        votes.journal.close()
    return kept, strong, shift


def write(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(q) + "\n" for q in lines), encoding="utf-8")
    return path


def main() -> int:
    from kb.config import Settings
    from kb.core import KnowledgeBase

    if not CORPORA.is_dir():
        print(f"no corpora at {CORPORA}", file=sys.stderr)
        return 1
    rows, alike = [], []
    tmp = Path(tempfile.mkdtemp(prefix="kb-bench-history-"))
    for suite in SUITES:
        lines = [json.loads(x) for x in (CORPORA / suite / "queries.dev.jsonl").read_text().splitlines() if x.strip()]
        history, test = split(lines)
        h, t = write(tmp / f"{suite}-history.jsonl", history), write(tmp / f"{suite}-test.jsonl", test)
        kb = KnowledgeBase.scratch(Settings(articles=CORPORA / suite))
        kb.build(log=lambda m: None, progress=False)
        idx = kb.index()
        related = sum(1 for q in test if any(set(q["relevant"]) == set(p["relevant"]) for p in history))
        honest = kb.evaluate(t, ("fused",), history=h).to_dict()
        wrong = []
        for q in history:
            ranked = idx.rank(q["query"], k=10).ids
            bad = next((a for a in ranked if a not in q["relevant"]), None)
            if bad:
                wrong.append({"qid": "mallory", "query": q["query"], "relevant": [bad]})
        hostile_file = write(tmp / f"{suite}-hostile.jsonl", wrong)
        hostile = kb.evaluate(t, ("fused",), history=hostile_file).to_dict()
        kept, strong, shift = bound(kb, idx, test, hostile_file, tmp / f"{suite}-hostile-journal")
        base, with_h, bad_h = honest["fused"]["all"], honest["history"]["all"], hostile["history"]["all"]
        rows.append((suite, len(history), len(test), related, base, with_h, bad_h, kept, strong, shift))
        vecs = {q["qid"]: idx.trace(q["query"]).vector for q in lines}
        keys = {q["qid"]: tuple(sorted(q["relevant"])) for q in lines}
        ids = sorted(vecs)
        m = np.array([vecs[i] for i in ids], dtype=np.float32)
        cos = m @ m.T
        same = np.array([[keys[a] == keys[b] for b in ids] for a in ids])
        upper = np.triu(np.ones_like(same), 1)
        alike.append((suite, cos[same & upper], cos[~same & upper]))
        print(f"{suite}: done", file=sys.stderr)
    print(
        "| suite | history / test queries | test queries with history | R@1 without | R@1 with | MRR@10 without | "
        "MRR@10 with | R@1 with a hostile history | strong answers kept (hostile) | largest score change (hostile) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for suite, nh, nt, related, base, with_h, bad_h, kept, strong, shift in rows:
        print(
            f"| {suite} | {nh} / {nt} | {related} | {base['R@1']:.3f} | {with_h['R@1']:.3f} | {base['MRR@10']:.3f} | "
            f"{with_h['MRR@10']:.3f} | {bad_h['R@1']:.3f} | {kept} of {strong} | {shift:+.3f} |"
        )
    print()
    print("query-embedding cosine: sibling pairs (same alert / event) above it, other pairs above it")
    print("| suite | " + " | ".join(f">= {t:.2f}" for t in (0.60, 0.70, 0.80, 0.90)) + " |")
    print("|---|" + "---|" * 4)
    for suite, sib, other in alike:
        cells = [
            f"{(sib >= t).mean() if len(sib) else 0:.2f} / {(other >= t).mean():.4f}" for t in (0.60, 0.70, 0.80, 0.90)
        ]
        print(f"| {suite} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
