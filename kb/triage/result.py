"""What a triage answers: one entry per template with kb's best match, and the counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kb.results import Response, Result


@dataclass
class TriageTemplate:
    """A distinct problem of the log: its template, how often and where, and kb's answer."""

    template: str
    count: int  # records
    level: str  # fatal | error | warn | info | debug
    first_line: int  # 1-based input lines where its first and last records start
    last_line: int
    first_seen: str | None  # their timestamps (ISO 8601 UTC when kb can read them, else as logged)
    last_seen: str | None
    example: str  # its first record as logged
    match: str  # strong | possible | weak | none, as a search of the example answers
    novel: bool  # kb has nothing like it
    results: list[Result] = field(default_factory=list)  # the best 3
    lines: int = 0  # input lines its records span
    line_numbers: list[int] | None = None
    response: Response | None = None  # the search it was answered by (the query log keeps it)

    @property
    def best(self) -> Result | None:
        return self.results[0] if self.results else None

    def to_dict(self) -> dict[str, Any]:
        """The API's and `kb triage --json`'s shape of one template."""
        results = self.response.to_dict()["results"] if self.response is not None else []
        out: dict[str, Any] = {
            "template": self.template,
            "count": self.count,
            "level": self.level,
            "first_line": self.first_line,
            "last_line": self.last_line,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "example": self.example,
            "match": self.match,
            "novel": self.novel,
            "results": results,
            "lines": self.lines,
        }
        if self.line_numbers is not None:
            out["line_numbers"] = self.line_numbers
        return out


@dataclass
class Triage:
    """A whole log triaged: most severe, then most frequent, templates first."""

    lines: int  # input lines
    records: int  # records they make (a stack trace is one)
    kept: int  # records at the chosen levels (and in the time window)
    levels: str  # the chosen levels, e.g. "error,warn"
    templates: list[TriageTemplate]
    took_ms: float
    read_ms: float = 0.0
    mine_ms: float = 0.0
    match_ms: float = 0.0
    dropped: int = 0  # records past the template cap
    notes: list[str] = field(default_factory=list)  # how the log was read, caps reached, nothing kept

    @property
    def novel(self) -> list[TriageTemplate]:
        return [t for t in self.templates if t.novel]

    def to_dict(self) -> dict[str, Any]:
        """The API's JSON shape."""
        return {
            "records": self.records,
            "lines": self.lines,
            "kept": self.kept,
            "levels": self.levels,
            "dropped": self.dropped,
            "took_ms": self.took_ms,
            "timings": {"read_ms": self.read_ms, "mine_ms": self.mine_ms, "match_ms": self.match_ms},
            "notes": self.notes,
            "templates": [t.to_dict() for t in self.templates],
        }
