"""Frontmatter `signatures`: exact strings or regexes that identify an error. A match is the
strongest signal kb has. Each signature is keyed by a substring or word it cannot match
without, so a query only tries the signatures whose key it contains (plus regexes that have
no such word)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import numpy as np

from kb.channels import EMPTY, Channel, Hits, OpenContext, Query
from kb.config import MIN_SIGNATURE_CHARS
from kb.linear_regex import compile_linear

GRAM = MIN_SIGNATURE_CHARS  # a text signature is at least this long, so it has one substring this long
_WORD = re.compile(r"[a-z0-9_]{4,}")
_UNSAFE_REGEX = re.compile(r"\||\?|\*|\{0|\(\?[^:]|\\[bB]|\[")  # a literal word might be optional


def _grams(text: str) -> Iterator[str]:
    """Every GRAM-character substring of text."""
    return (text[i : i + GRAM] for i in range(len(text) - GRAM + 1))


def _words(text: str) -> list[str]:
    """Words of text that are whole wherever text matches: not at either edge."""
    return [m.group(0) for m in _WORD.finditer(text) if m.start() > 0 and m.end() < len(text)]


class SignatureMatcher:
    """Matches a raw query against every article's signatures.

    Identical signatures (a template's, copied into many articles) are tried once: each
    distinct (kind, pattern) holds the articles that carry it.
    """

    def __init__(self, entries: list[tuple[int, dict[str, str]]]) -> None:
        self.keyed: dict[str, list[_Pattern]] = defaultdict(list)
        self.by_gram: dict[str, list[_Pattern]] = defaultdict(list)
        self.always: list[_Pattern] = []
        patterns: dict[tuple[str, str], _Pattern] = {}
        for article, sig in entries:
            if "regex" in sig:
                key = ("regex", sig["regex"])
                if key not in patterns:
                    try:
                        re.compile(sig["regex"])  # what authors write is Python's syntax
                        rx = compile_linear(sig["regex"])  # what runs on pastes is RE2
                    except (re.error, ValueError):
                        continue  # `kb check` reports it (E205, E215); search ignores it
                    safe = not _UNSAFE_REGEX.search(sig["regex"])
                    words = _words(re.sub(r"\\.", " ", sig["regex"].lower())) if safe else []
                    patterns[key] = _Pattern(len(patterns), "regex", rx, sig["regex"], words)
            else:
                text = " ".join(sig["text"].split()).lower()
                if len(text) < MIN_SIGNATURE_CHARS:
                    continue
                key = ("text", text)
                if key not in patterns:
                    patterns[key] = _Pattern(len(patterns), "text", text, sig["text"], [])
            patterns[key].articles.append(article)
        # Each text signature is keyed by its rarest 4-character substring, which a query holding
        # the signature holds too; each regex by its rarest inner word (a word at an edge may sit
        # inside a longer word of the query). A query tries only the signatures whose key it holds.
        # (Counted pattern by pattern: holding every pattern's substrings at once took ~100 MB at
        # 100k articles, which the process kept.)
        gram_counts: Counter[str] = Counter()
        for p in patterns.values():
            if p.kind == "text":
                gram_counts.update(set(_grams(p.pattern)))
        counts = Counter(w for p in patterns.values() for w in set(p.words))
        for p in patterns.values():
            p.seal()
            if p.kind == "text":
                self.by_gram[min(_grams(p.pattern), key=gram_counts.__getitem__)].append(p)
            elif p.words:
                self.keyed[min(p.words, key=lambda w: (counts[w], -len(w)))].append(p)
            else:
                self.always.append(p)

    def patterns(self) -> list[_Pattern]:
        return [p for keyed in (self.keyed, self.by_gram) for ps in keyed.values() for p in ps] + self.always

    def __len__(self) -> int:
        return sum(len(p.articles) for p in self.patterns())

    def matches(self, raw: str, allowed: Any) -> dict[int, tuple[str, int]]:
        """article -> the first signature of it that the query matches, and the length of the
        text it matched."""
        flat = " ".join(raw.split()).lower()
        hits: dict[int, tuple[str, int]] = {}
        candidates = list(self.always)
        if self.keyed:
            for w in set(_WORD.findall(flat)):
                candidates.extend(self.keyed.get(w, ()))
        if len(self.by_gram) <= 16:  # a few keys: a substring search each beats slicing the query
            candidates += [p for g, ps in self.by_gram.items() if g in flat for p in ps]
        elif self.by_gram:
            for g in set(_grams(flat)):
                candidates.extend(self.by_gram.get(g, ()))
        matched: list[tuple[_Pattern, int]] = []
        for p in candidates:
            if p.kind == "text":
                if p.pattern in flat:
                    matched.append((p, len(p.pattern)))
            elif (m := p.pattern.search(raw)) is not None:
                matched.append((p, m.end() - m.start()))
        # In the order the signatures first appear (article order, then frontmatter order), so
        # the label reported for an article does not depend on set iteration order.
        for p, span in sorted(matched, key=lambda pm: pm[0].order):
            for article in p.articles[allowed[p.articles]].tolist():
                hits.setdefault(article, (p.label, span))
        return hits


class _Pattern:
    """One distinct signature and the articles that carry it."""

    __slots__ = ("order", "kind", "pattern", "label", "words", "articles")

    def __init__(self, order: int, kind: str, pattern: Any, label: str, words: list[str]) -> None:
        self.order, self.kind, self.pattern, self.label, self.words = order, kind, pattern, label, words
        self.articles: Any = []

    def seal(self) -> None:
        self.articles = np.array(self.articles, dtype=np.int64)


# How much a responder can act on an article of each type: among articles a paste's signature
# matches equally, the runbook comes before the post-mortem of one incident of it.
ACTIONABILITY = {"runbook": 1.0, "known-issue": 0.8, "kb": 0.5, "postmortem": 0.2}
_NAME = re.compile(r"[A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+")  # CamelCase: alert and exception names
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]{7,}")


class SignatureChannel(Channel):
    """Frontmatter signatures found in the raw paste: the strongest evidence kb has. An article's
    own name (a CamelCase title or id tail, such as an alert's `KubeAPIDown`) given verbatim in the
    paste counts as one too: that article, not a sibling whose name shares its words, answers it.
    Matches are proposed and pinned through the first-stage cut; fusion lifts them
    (fusion.SIGNATURE_SCORE), ordered by how much of the paste they cover, then by actionability."""

    name = "signatures"

    def __init__(self, matcher: SignatureMatcher, names: dict[str, np.ndarray], actionability: np.ndarray) -> None:
        self.matcher = matcher
        self.names = names
        self.actionability = actionability

    @classmethod
    def open(cls, ctx: OpenContext) -> SignatureChannel:
        cat = ctx.catalog
        titles = ctx.generation.metadata().titles()
        names: dict[str, list[int]] = {}
        for i, (art_id, title) in enumerate(zip(cat.ids, titles, strict=True)):
            for candidate in {art_id.rsplit("/", 1)[-1], title.strip()}:
                if _NAME.fullmatch(candidate):
                    names.setdefault(candidate.lower(), []).append(i)
        act = np.zeros(cat.count, dtype=np.float32)
        for kind, arts in cat.by_value["type"].items():
            act[arts] = ACTIONABILITY.get(kind, 0.5)
        return cls(SignatureMatcher(cat.signatures), {k: np.array(v, dtype=np.int64) for k, v in names.items()}, act)

    def candidates(self, query: Query, allowed: np.ndarray) -> SignatureHits:
        # A long paste is matched on its candidate lines (kb/salient.py), not its megabytes.
        source = query.norm.source or query.raw
        hits = self.matcher.matches(source, allowed)
        if self.names:
            for token in set(_TOKEN.findall(source)):
                arts = self.names.get(token.lower())
                if arts is not None:
                    for a in arts[allowed[arts]].tolist():
                        hits.setdefault(a, (token, len(token)))
        length = max(1, len(" ".join(source.split())))
        return SignatureHits(hits, length, self.actionability)


class SignatureHits(Hits):
    def __init__(self, hits: dict[int, tuple[str, int]], length: int, actionability: np.ndarray) -> None:
        self.labels = {a: label for a, (label, _) in hits.items()}  # article -> the signature that matched
        self.coverage = {a: min(1.0, span / length) for a, (_, span) in hits.items()}  # share of the paste
        self._actionability = actionability
        self._proposed = np.array(sorted(hits), dtype=np.int64) if hits else EMPTY

    @property
    def proposed(self) -> np.ndarray:
        return self._proposed

    @property
    def pinned(self) -> np.ndarray:
        return self._proposed

    def scores(self, articles: np.ndarray) -> np.ndarray:
        return np.isin(articles, self._proposed).astype(np.float32)

    def label(self, article: int) -> str | None:
        return self.labels.get(article)

    def tie_break(self, article: int) -> tuple[float, float]:
        """How much of the paste the article's signature covers, and how actionable the article is."""
        return self.coverage.get(article, 0.0), float(self._actionability[article])

    def explain(self, article: int) -> dict[str, Any]:
        if article not in self.labels:
            return {"signature": None}
        coverage, actionability = self.tie_break(article)
        return {
            "signature": self.labels[article],
            "signature_coverage": round(coverage, 3),
            "actionability": round(actionability, 2),
        }
