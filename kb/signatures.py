"""Frontmatter `signatures`: exact strings or regexes that identify an error. A match is the
strongest signal kb has. Each signature is keyed by one word it cannot match without, so a
query only tries the signatures whose key word it contains (plus the few that have none)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any

_WORD = re.compile(r"[a-z0-9_]{4,}")
_UNSAFE_REGEX = re.compile(r"\||\?|\*|\{0|\(\?[^:]|\\[bB]|\[")  # a literal word might be optional


def _words(text: str) -> list[str]:
    """Words of text that are whole wherever text matches: not at either edge."""
    return [m.group(0) for m in _WORD.finditer(text) if m.start() > 0 and m.end() < len(text)]


class SignatureMatcher:
    """Matches a raw query against every article's signatures."""

    def __init__(self, entries: list[tuple[int, dict[str, str]]]) -> None:
        self.keyed: dict[str, list[tuple[int, str, Any, str]]] = defaultdict(list)
        self.always: list[tuple[int, str, Any, str]] = []
        prepared: list[tuple[tuple[int, str, Any, str], list[str]]] = []
        for article, sig in entries:
            if "regex" in sig:
                try:
                    rx = re.compile(sig["regex"])
                except re.error:
                    continue  # `kb check` reports it; search ignores it
                safe = not _UNSAFE_REGEX.search(sig["regex"])
                words = _words(re.sub(r"\\.", " ", sig["regex"].lower())) if safe else []
                prepared.append(((article, "regex", rx, sig["regex"]), words))
            else:
                text = " ".join(sig["text"].split()).lower()
                if len(text) >= 4:
                    prepared.append(((article, "text", text, sig["text"]), _words(text)))
        # Key each signature by its rarest word, so a query tries few signatures per word.
        counts = Counter(w for _, words in prepared for w in set(words))
        for entry, words in prepared:
            if words:
                self.keyed[min(words, key=lambda w: (counts[w], -len(w)))].append(entry)
            else:
                self.always.append(entry)

    def __len__(self) -> int:
        return len(self.always) + sum(len(v) for v in self.keyed.values())

    def matches(self, raw: str, allowed: Any) -> dict[int, str]:
        """article -> the first signature of it that the query matches."""
        flat = " ".join(raw.split()).lower()
        words = set(_WORD.findall(flat))
        hits: dict[int, str] = {}
        candidates = list(self.always)
        for w in words:
            candidates.extend(self.keyed.get(w, ()))
        for article, kind, pattern, label in candidates:
            if article in hits or not allowed[article]:
                continue
            if (kind == "text" and pattern in flat) or (kind == "regex" and pattern.search(raw)):
                hits[article] = label
        return hits
