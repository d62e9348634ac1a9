"""`make bench-quality`: `kb eval` on the four shared suites (dev queries), one table.

The suites live in ../shared/corpora (not in this repository: other licenses). Each suite is
indexed into a cache folder on first use; later runs reuse it incrementally.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ROOT.parent / "shared" / "corpora"
SUITES = ["alerts", "alerts-openshift", "logs", "postmortems"]
KB = Path(sys.executable).with_name("kb")


def main() -> int:
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    if not CORPORA.is_dir():
        print(f"no corpora at {CORPORA}", file=sys.stderr)
        return 1
    rows = []
    for suite in SUITES:
        started = time.perf_counter()
        target = out / f"quality-{suite}.json"
        subprocess.run(
            [
                str(KB),
                "eval",
                str(CORPORA / suite / "queries.dev.jsonl"),
                "--articles",
                str(CORPORA / suite),
                "--json",
                str(target),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        rows.append((suite, json.loads(target.read_text()), time.perf_counter() - started))
    print("| suite (dev) | variant | n | fused R@1 | fused MRR@10 | lexical R@1 / MRR@10 | dense R@1 / MRR@10 |")
    print("|---|---|---|---|---|---|---|")
    for suite, r, _ in rows:
        for variant, m in r["fused"].items():
            lx, dn = r["lexical"][variant], r["dense"][variant]
            print(
                f"| {suite} | {variant} | {m['n']} | {m['R@1']:.3f} | {m['MRR@10']:.3f} | "
                f"{lx['R@1']:.3f} / {lx['MRR@10']:.3f} | {dn['R@1']:.3f} / {dn['MRR@10']:.3f} |"
            )
    print()
    print("| suite | precision of strong | share strong | match none while rank 1 right | seconds |")
    print("|---|---|---|---|---|")
    for suite, r, secs in rows:
        c = r["calibration"]
        print(
            f"| {suite} | {c.get('precision_strong', float('nan')):.3f} | {c.get('share_strong', 0):.3f} | "
            f"{c['none_while_top_right']:.3f} | {secs:.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
