"""What the journal shows a team: what recurs, what kb answered, and where its knowledge is
missing (`kb stats`, `kb gaps`, /insights).

A search *failed* when it ended in match none or weak, or when the same session searched again
within RESEARCH_WINDOW seconds for something else that is still the same problem (query
embeddings at least RESEARCH_SIMILAR alike): the first answer did not help. A failure whose
problem somebody later marked solved is not a gap.

Gaps are failed searches clustered in two steps: first by template (the normalized text without
numbers, kb/journal/keys.py), then those groups joined by leader clustering on their mean
embeddings: biggest group first, each joining the first cluster whose leader is at least
GAP_SIMILAR alike (bench/gaps.py measures purity on the dev queries of two suites mixed). A
cluster's rank is the number of distinct sessions that hit it.
"""

from __future__ import annotations

import datetime as dt
import shlex
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kb.journal import SearchRecord, VoteRecord
from kb.journal.keys import unpack

DAY = 86400.0
RESEARCH_WINDOW = 300.0  # seconds: a new search this soon in one session says the last one failed
RESEARCH_SIMILAR = 0.5  # ...when it is the same problem in other words
GAP_SIMILAR = 0.75  # failed-search groups at least this alike are one gap (bench/gaps.py)
REPEAT_SESSIONS = 3  # a problem seen in this many distinct sessions is a repeat issue
STALE_DAYS = 365  # an article not updated for longer needs review (the site marks it too)
MATCHES = ("strong", "possible", "weak", "none")


def is_stale(updated: str | None, today: dt.date | None = None) -> bool:
    """True when an article was last updated more than STALE_DAYS ago."""
    try:
        day = dt.date.fromisoformat(str(updated)[:10])
    except (TypeError, ValueError):
        return False
    return ((today or dt.date.today()) - day).days > STALE_DAYS


def iso(t: float | None) -> str | None:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds") if t else None


@dataclass(frozen=True)
class ArticleInfo:
    """What a report shows of an article of the served index."""

    title: str
    type: str
    updated: str | None
    status: str = "published"


@dataclass
class _Tally:
    answered: int = 0
    solved: int = 0
    not_relevant: int = 0
    first: float | None = None
    last: float | None = None
    weekly: list[int] = field(default_factory=list)

    def seen(self, at: float, week: int) -> None:
        self.answered += 1
        self.first = at if self.first is None else min(self.first, at)
        self.last = at if self.last is None else max(self.last, at)
        self.weekly[week] += 1


@dataclass
class Failed:
    record: SearchRecord
    reason: str  # "none" | "weak" | "re-searched"


@dataclass
class Gap:
    sessions: int
    searches: int
    examples: list[str]
    reasons: dict[str, int]
    last_seen: float
    nearest: str | None  # what kb answered the first example with, if anything
    title: str
    command: str  # the `kb new` command that turns it into a draft

    def to_dict(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "searches": self.searches,
            "examples": self.examples,
            "reasons": self.reasons,
            "last_seen": iso(self.last_seen),
            "nearest": self.nearest,
            "title": self.title,
            "command": self.command,
        }


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n else v


class Analysis:
    """One pass over a window of the journal."""

    def __init__(
        self,
        searches: Iterable[SearchRecord],
        votes: Iterable[VoteRecord],
        since: float,
        until: float,
        articles: Mapping[str, ArticleInfo],
    ) -> None:
        self.since, self.until, self.articles = since, until, articles
        self.weeks = max(1, int(np.ceil((until - since) / (7 * DAY))))
        self.days: dict[str, Counter[str]] = defaultdict(Counter)
        self.channels: Counter[str] = Counter()
        self.per_article: dict[str, _Tally] = defaultdict(self._tally)
        self.per_service: dict[str, _Tally] = defaultdict(self._tally)
        self.total = 0
        self.took: list[float] = []
        self.sessions: set[str] = set()
        self.failed: dict[int, Failed] = {}
        template_sessions: dict[str, set[str]] = defaultdict(set)
        template_example: dict[str, SearchRecord] = {}
        template_count: Counter[str] = Counter()
        last: dict[str, tuple[int, SearchRecord]] = {}
        for n, r in enumerate(searches):
            self.total += 1
            session = r.session or r.client
            self.sessions.add(session)
            self.days[dt.datetime.fromtimestamp(r.at, dt.UTC).date().isoformat()][r.match] += 1
            self.channels[r.channel] += 1
            self.took.append(r.took_ms)
            week = min(self.weeks - 1, int((r.at - since) // (7 * DAY)))
            if r.match != "none" and r.top_ids:
                self.per_article[r.top_ids[0]].seen(r.at, week)
                for s in r.services:
                    self.per_service[s].seen(r.at, week)
            template_sessions[r.template].add(session)
            template_example.setdefault(r.template, r)
            template_count[r.template] += 1
            if r.match in ("none", "weak"):
                self.failed[n] = Failed(r, r.match)
            before = last.get(session)
            if (
                before is not None
                and 0 < r.at - before[1].at <= RESEARCH_WINDOW
                and r.template != before[1].template
                and before[0] not in self.failed
                and _alike(before[1], r) >= RESEARCH_SIMILAR
            ):
                self.failed[before[0]] = Failed(before[1], "re-searched")
            last[session] = (n, r)
        self.solved_templates: set[str] = set()
        self.votes: Counter[str] = Counter()
        for v in votes:
            if v.vote == "withdrawn":
                continue
            self.votes[v.vote] += 1
            tally = self.per_article[v.article_id]
            if v.vote == "solved":
                tally.solved += 1
                self.solved_templates.add(v.template)
            else:
                tally.not_relevant += 1
        self.repeats = sorted(
            (
                (len(sess), template_count[t], template_example[t])
                for t, sess in template_sessions.items()
                if len(sess) >= REPEAT_SESSIONS
            ),
            key=lambda x: (-x[0], -x[1], x[2].template),
        )

    def _tally(self) -> _Tally:
        return _Tally(weekly=[0] * self.weeks)

    # -- reports ---------------------------------------------------------------------------

    def gaps(self, limit: int = 20) -> list[Gap]:
        """Failed searches nobody marked solved, clustered, most sessions first."""
        failures = {id(f.record): f for f in self.failed.values()}
        gaps = [self._gap([failures[id(r)] for r in members]) for members in self._clusters()]
        gaps.sort(key=lambda g: (-g.sessions, -g.searches, -g.last_seen))
        return gaps[:limit]

    def _clusters(self) -> list[list[SearchRecord]]:
        """The failed searches grouped by template, then groups joined by leader clustering of
        their mean embeddings (biggest group first; GAP_SIMILAR)."""
        groups: dict[str, list[SearchRecord]] = defaultdict(list)
        for f in self.failed.values():
            if f.record.template not in self.solved_templates:
                groups[f.record.template].append(f.record)
        ordered = sorted(
            groups.values(), key=lambda g: (-len({r.session or r.client for r in g}), -len(g), g[0].template)
        )
        clusters: list[tuple[np.ndarray | None, list[SearchRecord]]] = []
        for group in ordered:
            vecs = [v for v in (unpack(r.vector) for r in group) if len(v)]
            mean = _unit(np.mean(vecs, axis=0)) if vecs else None
            for leader, members in clusters:
                if mean is not None and leader is not None and len(leader) == len(mean):
                    if float(leader @ mean) >= GAP_SIMILAR:
                        members.extend(group)
                        break
            else:
                clusters.append((mean, list(group)))
        return [members for _, members in clusters]

    def _gap(self, members: list[Failed]) -> Gap:
        from kb.generalize import draft_title

        examples: list[str] = []
        for f in sorted(members, key=lambda f: -f.record.at):
            if f.record.query not in examples:
                examples.append(f.record.query)
            if len(examples) == 3:
                break
        first = examples[0]
        title = draft_title(first)
        nearest = next((f.record.top_ids[0] for f in members if f.record.top_ids), None)
        return Gap(
            sessions=len({f.record.session or f.record.client for f in members}),
            searches=len(members),
            examples=examples,
            reasons=dict(Counter(f.reason for f in members)),
            last_seen=max(f.record.at for f in members),
            nearest=nearest,
            title=title,
            command=f"kb new known-issue {shlex.quote(title)} --from-query {shlex.quote(first[:500])}",
        )

    def stale_used(self) -> list[dict[str, Any]]:
        out = []
        for article_id, t in self.per_article.items():
            info = self.articles.get(article_id)
            if info and t.answered and (is_stale(info.updated) or info.status == "deprecated"):
                out.append(
                    {
                        "id": article_id,
                        "title": info.title,
                        "updated": info.updated,
                        "status": info.status,
                        "answered": t.answered,
                        "last_seen": iso(t.last),
                    }
                )
        return sorted(out, key=lambda a: (-a["answered"], a["id"]))

    def summary(self, limit: int = 10) -> dict[str, Any]:
        days: list[dict[str, Any]] = []
        day = dt.datetime.fromtimestamp(self.since, dt.UTC).date()
        end = dt.datetime.fromtimestamp(self.until, dt.UTC).date()
        while day <= end:
            key = day.isoformat()
            days.append({"day": key, **{m: self.days[key][m] for m in MATCHES}})
            day += dt.timedelta(days=1)
        failed = len(self.failed)
        none = sum(d["none"] for d in days)
        researched = sum(1 for f in self.failed.values() if f.reason == "re-searched")
        return {
            "window": {
                "since": iso(self.since),
                "until": iso(self.until),
                "days": round((self.until - self.since) / DAY),
            },
            "totals": {
                "searches": self.total,
                "sessions": len(self.sessions),
                "no_match_rate": round(none / self.total, 4) if self.total else 0.0,
                "failed_rate": round(failed / self.total, 4) if self.total else 0.0,
                "re_searched": researched,
                "solved": self.votes["solved"],
                "not_relevant": self.votes["not_relevant"],
                "median_took_ms": round(statistics.median(self.took), 2) if self.took else None,
            },
            "per_day": days,
            "channels": dict(self.channels.most_common()),
            "top_articles": self._top(self.per_article, limit, with_titles=True),
            "services": self._top(self.per_service, limit, with_titles=False),
            "repeat_issues": [
                {
                    "example": r.query,
                    "sessions": s,
                    "searches": c,
                    "answer": r.top_ids[0] if r.top_ids and r.match != "none" else None,
                }
                for s, c, r in self.repeats[:limit]
            ],
            "gaps": [g.to_dict() for g in self.gaps(limit=5)],
            "stale_used": self.stale_used()[:limit],
        }

    def _top(self, tallies: Mapping[str, _Tally], limit: int, with_titles: bool) -> list[dict[str, Any]]:
        ranked = sorted(tallies.items(), key=lambda kv: (-kv[1].answered, -kv[1].solved, kv[0]))
        out = []
        for key, t in ranked[:limit]:
            if not t.answered and not t.solved:
                continue
            row: dict[str, Any] = {"id" if with_titles else "service": key}
            if with_titles:
                info = self.articles.get(key)
                row["title"] = info.title if info else None  # None: no longer in the index
            row.update(
                answered=t.answered,
                solved=t.solved,
                not_relevant=t.not_relevant,
                first_seen=iso(t.first),
                last_seen=iso(t.last),
                weekly=t.weekly,
            )
            out.append(row)
        return out


def _alike(a: SearchRecord, b: SearchRecord) -> float:
    va, vb = unpack(a.vector), unpack(b.vector)
    if not len(va) or len(va) != len(vb):
        return 0.0
    return float(_unit(va) @ _unit(vb))
