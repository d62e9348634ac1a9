"""What a search answers: filters in, results and the response out (the API's JSON shape),
and the snippet of the best-matching section."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any

from kb.articles import TYPE_ALIASES
from kb.config import MAX_K, MAX_PASTE_CHARS
from kb.errors import BadQuery, QueryTooLong
from kb.normalize import Normalized

SNIPPET_CHARS = 320


@dataclass
class Filters:
    """Result filters; each list matches any of its values."""

    type: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    include_hidden: bool = False  # drafts and deprecated articles

    @classmethod
    def from_dict(cls, data: Any) -> Filters:
        """From the API's `filters` object (already checked against its schema)."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise BadQuery("`filters` must be an object with `type`, `services` or `tags` lists")
        out = cls(include_hidden=data.get("include_hidden") is True)
        for key in ("type", "services", "tags"):
            value = data.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise BadQuery(f"`filters.{key}` must be a list of strings")
            setattr(out, key, [v for v in value if v])
        return out

    def __post_init__(self) -> None:
        self.type = [TYPE_ALIASES.get(t.lower(), t) for t in self.type]


@dataclass
class Result:
    id: str
    title: str
    type: str
    score: float
    confidence: str
    url: str
    snippet: str
    section: str
    root_cause: str | None
    resolution: str | None
    services: list[str]
    tags: list[str]
    updated: str | None
    status: str
    root_cause_html: str | None = None  # sanitized Markdown, with a "more" link when shortened
    resolution_html: str | None = None
    highlights: list[list[int]] = field(default_factory=list)
    signature: str | None = None  # the signature that matched, when one did
    feedback: dict[str, Any] | None = None  # votes on searches like this one: solved, not_relevant, last_solved
    seen: dict[str, Any] | None = None  # how often it was the answer: count, last
    explain: dict[str, Any] | None = None


@dataclass(frozen=True)
class SimilarArticle:
    """An article near another one (`similar`), with the cosine of their mean vectors."""

    id: str
    title: str
    type: str
    score: float
    url: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "type": self.type, "score": self.score, "url": self.url}


@dataclass(frozen=True)
class Trace:
    """What the query log keeps of a search beyond its answer (never in the API's JSON)."""

    text: str  # the normalized paste
    vector: Any = None  # its embedding


@dataclass
class Response:
    query: str
    took_ms: float
    match: str
    novel: bool
    results: list[Result]
    normalized: dict[str, Any] | None = None
    input_lines: int = 0  # non-empty lines of the paste
    searched_lines: int = 0  # the lines it was searched on (all of a short paste; the salient ones of a log)
    warnings: list[str] = field(default_factory=list)  # e.g. a filter value no article has
    trace: Trace | None = None

    def to_dict(self) -> dict[str, Any]:
        """The API's JSON shape (shallow copies; `dataclasses.asdict` deep-copies and is slow)."""
        names = [f.name for f in fields(Result)]
        optional = ("explain", "feedback", "seen")
        results = [
            {n: getattr(r, n) for n in names if n not in optional or getattr(r, n) is not None} for r in self.results
        ]
        out = {
            "query": self.query,
            "took_ms": self.took_ms,
            "match": self.match,
            "novel": self.novel,
            "input_lines": self.input_lines,
            "searched_lines": self.searched_lines,
            "results": results,
        }
        if self.warnings:
            out["warnings"] = self.warnings
        if self.normalized is not None:
            out["normalized"] = self.normalized
        return out


_SPACES = re.compile(r"[ \t]+")
_FENCE_LINE = re.compile(r"^\s*(```|~~~)")


def validate_k(k: object, maximum: int = MAX_K) -> int:
    """`k` as an int from 1 to `maximum` (a numeric string is accepted from query strings)."""
    if isinstance(k, str):
        try:
            k = int(k.strip())
        except ValueError:
            raise BadQuery(f"`k` must be an integer from 1 to {maximum}") from None
    if isinstance(k, bool) or not isinstance(k, int):
        raise BadQuery(f"`k` must be an integer from 1 to {maximum}")
    if not 1 <= k <= maximum:
        raise BadQuery(f"`k` must be an integer from 1 to {maximum}, not {k}")
    return k


def validate(query: object, k: object) -> tuple[str, int]:
    """Check a query and k the same way for every surface."""
    if not isinstance(query, str) or not query.strip():
        raise BadQuery("the query is empty - paste an error message, log excerpt or symptom")
    if len(query) > MAX_PASTE_CHARS:
        raise QueryTooLong(
            f"the paste has {len(query):,} characters; the limit is {MAX_PASTE_CHARS:,} - search on the "
            "end of the log (`tail -c 5000000`)"
        )
    return query, validate_k(k)


def term_pattern(terms: list[str]) -> re.Pattern[str] | None:
    """One pattern for the query's terms (longest first, whole words only: "too" is not
    highlighted in "tools"), made once per query for its snippets."""
    words = sorted({t for t in terms if len(t) > 2}, key=lambda t: (-len(t), t))[:200]
    if not words:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)", re.I)


def make_snippet(text: str, rx: re.Pattern[str] | None) -> tuple[str, list[list[int]]]:
    """A window of a section chunk's text around the first query term (`rx`, from term_pattern),
    with term highlight ranges."""
    if "\n" in text:  # drop the "title: heading" prefix line that was embedded
        text = text.split("\n", 1)[1]
    text = "\n".join(ln for ln in text.split("\n") if not _FENCE_LINE.match(ln))  # never a ``` marker
    text = _SPACES.sub(" ", text).strip()
    start = 0
    if rx and len(text) > SNIPPET_CHARS:
        m = rx.search(text)
        if m and m.start() > SNIPPET_CHARS // 3:
            start = max(0, text.rfind(" ", 0, m.start() - SNIPPET_CHARS // 4) + 1)
    snippet = text[start : start + SNIPPET_CHARS]
    if start + SNIPPET_CHARS < len(text):
        snippet = snippet[: snippet.rfind(" ")] + " …" if " " in snippet else snippet + "…"
    if start > 0:
        snippet = "… " + snippet
    marks = [[m.start(), m.end()] for m in rx.finditer(snippet)] if rx else []
    return snippet, marks


def explain_query(norm: Normalized) -> dict[str, Any]:
    return {
        "text": norm.dense,
        "terms": list(dict.fromkeys(norm.terms))[:60],
        "identifiers": norm.identifiers,
        "dropped_lines": norm.dropped_lines,
    }
