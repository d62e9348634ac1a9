"""`make bench-triage` (quality): triage a log built from real log lines of 16 systems and
compare with searching each line alone.

The log: every `raw-line` query of ../shared/corpora/logs/queries.dev.jsonl (a real line of
one of 16 systems, each labelled with its event article), repeated a random number of times
(1-20, seeded), all interleaved at random; each line keeps its own system's timestamp. It
lives in bench/out (corpus text is never copied into the repository). The logs corpus is
indexed as `kb eval --articles` does (a cache folder of its own), and the log is triaged with
`--levels all`.

Reported: line-weighted accuracy (the share of input lines whose template's best match is
their own event article) against searching each line alone (the same lines, the same
weights); template purity (lines of a template's majority event over all lines); templates
against true events. Also, what the templates' own text (`<*>` dropped) would have matched
instead of their raw example, and purity / templates / accuracy for other Drain similarity
thresholds.

    .venv/bin/python bench/triage_quality.py [--seed 16] [--max-repeat 20]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpora" / "logs"
OUT = ROOT / "bench" / "out" / "triage"


def build_log(seed: int, max_repeat: int) -> tuple[list[str], list[str], dict[str, int]]:
    """The log's lines, each line's event article, and each distinct line's repeat count."""
    rng = random.Random(seed)
    queries = [json.loads(line) for line in (CORPUS / "queries.dev.jsonl").open()]
    raw = [q for q in queries if q["variant"] == "raw-line"]
    lines: list[tuple[str, str]] = []
    repeats: dict[str, int] = {}
    for q in raw:
        n = rng.randint(1, max_repeat)
        repeats[q["query"]] = repeats.get(q["query"], 0) + n
        lines += [(q["query"], q["relevant"][0])] * n
    rng.shuffle(lines)
    return [text for text, _ in lines], [event for _, event in lines], repeats


def relevant_of() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for line in (CORPUS / "queries.dev.jsonl").open():
        q = json.loads(line)
        if q["variant"] == "raw-line":
            out.setdefault(q["query"], set()).update(q["relevant"])
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--max-repeat", type=int, default=20)
    args = ap.parse_args()
    if not CORPUS.is_dir():
        print(f"no corpus at {CORPUS}", file=sys.stderr)
        return 1
    from kb.config import Settings
    from kb.core import KnowledgeBase
    from kb.triage import mining
    from kb.triage.options import TriageOptions

    OUT.mkdir(parents=True, exist_ok=True)
    lines, events, repeats = build_log(args.seed, args.max_repeat)
    (OUT / "logs-corpus.log").write_text("\n".join(lines) + "\n")
    relevant = relevant_of()
    kb = KnowledgeBase.scratch(Settings.from_env(None, articles=CORPUS))
    kb.build(log=lambda m: None, progress=False)
    idx = kb.index()
    true_events = len(set(events))
    print(f"log: {len(lines):,} lines, {len(repeats)} distinct, {true_events} events, 16 systems")

    # Per-line search: each distinct line alone, weighted by its repeats.
    started = time.perf_counter()
    alone_right = {}
    for text in repeats:
        ids = idx.rank(text, k=1).ids
        alone_right[text] = bool(ids) and ids[0] in relevant[text]
    per_line = sum(n for text, n in repeats.items() if alone_right[text]) / len(lines)
    per_line_distinct = sum(alone_right.values()) / len(alone_right)
    print(
        f"per-line search: {per_line:.4f} line-weighted ({per_line_distinct:.4f} over distinct lines), "
        f"{time.perf_counter() - started:.0f} s"
    )

    rows = []
    data = "\n".join(lines) + "\n"
    default = mining.SIM_TH
    for sim in dict.fromkeys((default, 0.5, 0.6, 0.7)):
        mining.SIM_TH = sim
        started = time.perf_counter()
        r = kb.triage(data, TriageOptions.parse("all", line_numbers=True))
        secs = time.perf_counter() - started
        template_of = {}
        for n, t in enumerate(r.templates):
            for line_no in t.line_numbers or []:
                template_of[line_no - 1] = n
        assert len(template_of) == len(lines), (len(template_of), len(lines))
        right = sum(
            1 for i, text in enumerate(lines) if (b := r.templates[template_of[i]].best) and b.id in relevant[text]
        )
        members: dict[int, Counter[str]] = defaultdict(Counter)
        for i, e in enumerate(events):
            members[template_of[i]][e] += 1
        purity = sum(c.most_common(1)[0][1] for c in members.values()) / len(lines)
        # The alternative: match each template by its own text (what varies dropped) instead of its example.
        texts = [" ".join(tok for tok in t.template.split() if tok != "<*>") or t.example for t in r.templates]
        by_text = idx.search_many(texts, k=1)
        top = [x.results[0].id if x.results else None for x in by_text]
        right_text = sum(1 for i, text in enumerate(lines) if top[template_of[i]] in relevant[text])
        row = {
            "sim_th": sim,
            "templates": len(r.templates),
            "events": true_events,
            "purity": purity,
            "accuracy": right / len(lines),
            "accuracy_by_template_text": right_text / len(lines),
            "per_line_accuracy": per_line,
            "seconds": secs,
            "timings_ms": {"read": r.read_ms, "mine": r.mine_ms, "match": r.match_ms},
        }
        rows.append(row)
        print(
            f"sim_th {sim}: {len(r.templates)} templates for {true_events} events, purity {purity:.4f}, "
            f"line-weighted accuracy {row['accuracy']:.4f} (template text: {row['accuracy_by_template_text']:.4f}; "
            f"per-line search {per_line:.4f}), triage {secs:.1f} s",
            flush=True,
        )
    mining.SIM_TH = default
    (OUT / "quality.json").write_text(json.dumps({"seed": args.seed, "lines": len(lines), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
