"""Generate a synthetic but realistic knowledge base for benchmarks.

Articles are composed from the sections of the demo KB (articles/) and the fixture KB
(tests/data/kb/), with varied services, hosts, numbers and error lines, so sizes and text
statistics resemble real articles without copying any outside text.

    .venv/bin/python bench/generate.py OUT_DIR N [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb.articles import load_articles  # noqa: E402

FOLDERS = {"postmortem": "postmortems", "known-issue": "known-issues", "runbook": "runbooks", "kb": "kb"}
SERVICES = [
    f"{a}-{b}"
    for a in (
        "orders",
        "billing",
        "ledger",
        "search",
        "auth",
        "cart",
        "media",
        "geo",
        "pricing",
        "notify",
        "catalog",
        "fraud",
        "payout",
        "reports",
        "sso",
    )
    for b in ("api", "worker", "gateway", "db", "cache", "consumer", "cron")
]
_SECTION = re.compile(r"^##\s+(.+)$", re.M)
_NUM = re.compile(r"\d+")


def sections(body: str) -> list[tuple[str, str]]:
    heads = list(_SECTION.finditer(body))
    out = []
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(body)
        text = body[m.end() : end].strip()
        if 80 < len(text):
            out.append((m.group(1).strip(), text[:600]))
    return out


def vary(text: str, rng: random.Random, service: str) -> str:
    text = _NUM.sub(lambda m: str(rng.randint(1, 10 ** len(m.group(0)) - 1)), text)
    for word in ("orders", "checkout", "payments", "inventory", "notifications", "search"):
        text = text.replace(word, service) if rng.random() < 0.5 else text
    return text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("n", type=int)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    pool: dict[str, list[tuple[str, str]]] = {t: [] for t in FOLDERS}
    titles: dict[str, list[str]] = {t: [] for t in FOLDERS}
    errors: list[str] = []
    for root in (ROOT / "articles", ROOT / "tests" / "data" / "kb"):
        for a in load_articles(root).articles:
            pool[a.type].extend(sections(a.body))
            titles[a.type].append(a.title)
            errors.extend(
                ln.strip()
                for ln in re.findall(r"```[a-z]*\n(.*?)```", a.body, re.S)
                for ln in [ln]
                if 30 < len(ln.strip()) < 200
            )
            errors.extend(s["text"] for s in a.signatures if "text" in s)
    errors = [e for e in errors if "\n" not in e]
    for t in FOLDERS:
        (args.out / FOLDERS[t]).mkdir(parents=True, exist_ok=True)
    kinds = list(FOLDERS)
    for i in range(args.n):
        kind = kinds[i % 4]
        service = rng.choice(SERVICES)
        err = vary(rng.choice(errors), rng, service)
        title = f"{vary(rng.choice(titles[kind]), rng, service)} ({service} #{i})"
        chosen = rng.sample(pool[kind], k=min(len(pool[kind]), 2))
        body = [f"## Error\n\n```\n{err}\n```\n"] + [f"## {h}\n\n{vary(s, rng, service)}\n" for h, s in chosen]
        fm = [
            f"title: {json.dumps(title)}",
            f"type: {kind}",
            f"services: [{service}]",
            f"tags: [synthetic, {kind}]",
            f"updated: 2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        ]
        if kind == "postmortem":
            fm.append(f"severity: SEV{rng.randint(1, 4)}")
        if kind == "known-issue":
            fm.append(f"signatures: [{json.dumps(err[:120])}]")
        path = args.out / FOLDERS[kind] / f"syn-{i:06d}.md"
        path.write_text("---\n" + "\n".join(fm) + "\n---\n" + "\n".join(body), encoding="utf-8")
    print(f"wrote {args.n} articles to {args.out}")


if __name__ == "__main__":
    main()
