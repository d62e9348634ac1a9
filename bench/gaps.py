"""`make bench-gaps`: how pure the gap report's clusters are (kb/insights.py).

The dev queries of two suites (alerts and logs) are mixed and each is logged as a failed search
of its own session; `Analysis.gaps` clusters them (template, then leader clustering of the
templates' mean embeddings at GAP_SIMILAR). A cluster's class is the queries' relevant article
(the alert / the log event). Printed per threshold: clusters, purity (the share of queries in
their cluster's majority class), inverse purity (the share of each class's queries in its
biggest cluster: 1 means no class is split) and their harmonic mean; clusters that mix the two
suites are counted too.

    .venv/bin/python bench/gaps.py
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ROOT.parent / "shared" / "corpora"
SUITES = ["alerts", "logs"]


def main() -> int:
    import kb.insights as insights
    from kb.config import Settings
    from kb.core import KnowledgeBase
    from kb.journal import SearchRecord
    from kb.journal.keys import mask_secrets, pack, template_of

    if not CORPORA.is_dir():
        print(f"no corpora at {CORPORA}", file=sys.stderr)
        return 1
    kb = KnowledgeBase.scratch(Settings(articles=CORPORA / SUITES[0]))
    kb.build(log=lambda m: None, progress=False)
    idx = kb.index()
    records, classes = [], {}
    for suite in SUITES:
        for line in (CORPORA / suite / "queries.dev.jsonl").read_text().splitlines():
            if not line.strip():
                continue
            q = json.loads(line)
            trace = idx.trace(q["query"])
            text = mask_secrets(trace.text)
            n = len(records)
            records.append(
                SearchRecord(
                    float(n), "api", f"c{n}", f"s{n}", text, template_of(text), "none", [], [], 1.0, pack(trace.vector)
                )
            )
            classes[f"c{n}"] = f"{suite}:{sorted(q['relevant'])[0]}"
    print(f"{len(records)} queries of {', '.join(SUITES)}, {len(set(classes.values()))} classes")
    print("| GAP_SIMILAR | clusters | purity | inverse purity | F | clusters mixing suites |")
    print("|---|---|---|---|---|---|")
    for threshold in (0.60, 0.70, 0.75, 0.80, 0.85, 0.90, 1.01):
        insights.GAP_SIMILAR = threshold
        gaps = insights.Analysis(records, [], 0.0, float(len(records) + 1), {})._clusters()
        total = sum(len(g) for g in gaps)
        majority = sum(Counter(classes[r.client] for r in g).most_common(1)[0][1] for g in gaps)
        per_class: dict[str, Counter[int]] = defaultdict(Counter)
        for n, g in enumerate(gaps):
            for r in g:
                per_class[classes[r.client]][n] += 1
        inverse = sum(c.most_common(1)[0][1] for c in per_class.values())
        p, ip = majority / total, inverse / total
        mixed = sum(1 for g in gaps if len({classes[r.client].split(":")[0] for r in g}) > 1)
        label = "template only" if threshold > 1 else f"{threshold:.2f}"
        print(f"| {label} | {len(gaps)} | {p:.3f} | {ip:.3f} | {2 * p * ip / (p + ip):.3f} | {mixed} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
