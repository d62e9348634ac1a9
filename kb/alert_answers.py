"""kb's answer to an alert notification: per firing alert its best articles, an article the alert
names (its `runbook_url`, or an article's `runbook_url` or `alert` frontmatter key) first.

All alerts of a notification are searched in one batch. Alerts that differ only in what varies
(numbers, pod and instance names: the same problem template) share one search, and at most
MAX_SEARCHES distinct ones are searched, so 1,000 alerts in a payload are answered well within
Alertmanager's timeout; resolved alerts are acknowledged and not searched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from kb.alerts import Alert, AlertGroup
from kb.journal import Origin
from kb.journal.keys import template_of_masked
from kb.normalize import mask_volatile
from kb.seen import Memory, Seen

if TYPE_CHECKING:
    from kb.core import KnowledgeBase
    from kb.results import Result
    from kb.search import Index

RESULTS = 3  # articles per alert
MAX_SEARCHES = 100  # distinct alert texts searched per notification; more are acknowledged unsearched


@dataclass(frozen=True)
class AlertResult:
    """One article for an alert, as hooks, forwards and chat show it."""

    id: str
    title: str
    url: str  # absolute
    confidence: str  # strong | possible | weak
    score: float
    root_cause: str | None
    resolution: str | None
    exact: bool = False  # named by the alert (runbook_url) or naming it (`alert`, `runbook_url` keys)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "title": self.title,
            "url": self.url,
            "confidence": self.confidence,
            "score": self.score,
            "root_cause": self.root_cause,
            "resolution": self.resolution,
        }
        if self.exact:
            out["exact"] = True
        return out


@dataclass
class AlertAnswer:
    """What kb answers for one alert of a notification."""

    alert: Alert
    query: str
    match: str  # exact | strong | possible | weak | none
    results: list[AlertResult] = field(default_factory=list)
    searched: bool = False
    note: str | None = None  # why it was not searched

    @property
    def best(self) -> AlertResult | None:
        return self.results[0] if self.results else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "fingerprint": self.alert.fingerprint,
            "alertname": self.alert.name,
            "status": self.alert.status,
            "query": self.query,
            "match": self.match,
            "searched": self.searched,
            "results": [r.to_dict() for r in self.results],
        }
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class GroupAnswer:
    group: AlertGroup
    alerts: list[AlertAnswer]
    searches: int  # distinct searches made
    took_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "alerts": [a.to_dict() for a in self.alerts],
            "searches": self.searches,
            "took_ms": self.took_ms,
        }


def _plain_url(url: str) -> str:
    return url.strip().rstrip("/")


def _linked_id(url: str, idx: Index) -> str | None:
    """The article a URL points at: kb's own `/a/<id>` page (on any host: kb's public name is
    not always known), or `.../<id>.md` in the articles' repository."""
    path = unquote(urlparse(url.strip()).path).rstrip("/")
    parts = path.split("/a/")
    for i in range(1, len(parts)):
        candidate = "/a/".join(parts[i:])
        if idx.has(candidate):
            return candidate
    if path.endswith(".md"):
        segments = path[:-3].split("/")
        for i in range(len(segments)):
            candidate = "/".join(segments[i:])
            if candidate and idx.has(candidate):
                return candidate
    return None


class ExactMatches:
    """Articles that name alerts or runbook URLs in their frontmatter, for one generation."""

    def __init__(self, idx: Index) -> None:
        self.generation = idx.generation
        self.by_url: dict[str, list[str]] = {}
        self.by_alert: dict[str, list[str]] = {}
        for i, status, url, alert in idx.meta.alert_keys():
            if status != "published":
                continue
            art = idx.ids[i]
            if isinstance(url, str) and url.strip():
                self.by_url.setdefault(_plain_url(url), []).append(art)
            for name in alert if isinstance(alert, list) else [alert]:
                if isinstance(name, str) and name.strip():
                    self.by_alert.setdefault(name.strip(), []).append(art)

    def find(self, alert: Alert, idx: Index) -> list[str]:
        """The ids of the articles this alert names or that name it, most explicit first."""
        found: list[str] = []
        url = alert.runbook_url
        if url:
            linked = _linked_id(url, idx)
            found += [linked] if linked else []
            found += self.by_url.get(_plain_url(url), [])
        if alert.name:
            found += self.by_alert.get(alert.name, [])
        return list(dict.fromkeys(found))


def _problem(query: str) -> str:
    """What alerts that differ only in what varies (numbers, pod and instance names, ids) share:
    the query's lines masked as search masks them, then the journal's problem template."""
    return template_of_masked("\n".join(mask_volatile(line) for line in query.split("\n")))


def _result(r: Result, base: str) -> AlertResult:
    return AlertResult(r.id, r.title, base + r.url, r.confidence, r.score, r.root_cause, r.resolution)


class AlertDesk:
    """Answers alert notifications over a KnowledgeBase; remembers which alerts it has logged, so
    a repeat notification of the same firing is answered again but not logged again."""

    def __init__(self, kb: KnowledgeBase, logged: Memory | None = None) -> None:
        self.kb = kb
        self._exact: ExactMatches | None = None
        self._exact_lock = threading.Lock()
        self.logged = logged if logged is not None else Seen()

    def exact_matches(self, idx: Index) -> ExactMatches:
        """The frontmatter keys of the serving generation (read again when a new one serves)."""
        with self._exact_lock:
            if self._exact is None or self._exact.generation != idx.generation:
                self._exact = ExactMatches(idx)
            return self._exact

    def answer(self, group: AlertGroup, base_url: str, origin: Origin) -> GroupAnswer:
        """Every alert of the notification answered; IndexMissing (503) when there is no index.
        `origin` names the channel and the client; each distinct search is its own session."""
        started = time.perf_counter()
        base = base_url.rstrip("/")
        idx = self.kb.index()
        exact = self.exact_matches(idx)
        answers = [AlertAnswer(a, a.query(), "none") for a in group.alerts]
        batches: dict[str, list[AlertAnswer]] = {}
        keys: dict[str, str] = {}  # query -> its problem
        for ans in answers:
            if ans.alert.status == "resolved":
                ans.note = "resolved: acknowledged, not searched"
            elif not ans.query:
                ans.note = "no alertname, summary or description to search"
            else:
                key = keys.get(ans.query) or keys.setdefault(ans.query, _problem(ans.query))
                if key in batches or len(batches) < MAX_SEARCHES:
                    batches.setdefault(key, []).append(ans)
                else:
                    ans.note = f"not searched: more than {MAX_SEARCHES} distinct alerts (problems) in one notification"
        problems = list(batches)
        origins = [self._origin(origin, group, key, batches[key]) for key in problems]
        responses = self.kb.search_many([batches[k][0].query for k in problems], k=RESULTS + 2, origins=origins)
        named_results: dict[tuple[str, ...], list[AlertResult]] = {}  # 1,000 alerts name few articles
        for key, response in zip(problems, responses, strict=True):
            for ans in batches[key]:
                ans.searched = True
                named = tuple(exact.find(ans.alert, idx))
                if named not in named_results:
                    named_results[named] = self._exact_results(list(named), idx, base)
                found = [_result(r, base) for r in response.results if r.id not in named]
                ans.results = (named_results[named] + found)[:RESULTS]
                ans.match = "exact" if named else response.match
        took = round((time.perf_counter() - started) * 1000, 2)
        return GroupAnswer(group, answers, len(problems), took)

    def _origin(self, origin: Origin, group: AlertGroup, key: str, answers: Iterable[AlertAnswer]) -> Origin | None:
        """Log a search when one of its alerts is a firing not logged before."""
        new = [self.logged.add(a.alert.key) for a in answers]
        if not any(new):
            return None
        return Origin(origin.channel, origin.who, f"{group.group_key or group.receiver}|{key}"[:200])

    @staticmethod
    def _exact_results(ids: list[str], idx: Index, base: str) -> list[AlertResult]:
        if not ids:
            return []
        rows = idx.meta.summaries([idx.catalog.by_id[i] for i in ids])
        by_id = {row.id: row for row in rows.values()}
        return [
            AlertResult(
                i, by_id[i].title, f"{base}/a/{i}", "strong", 1.0, by_id[i].root_cause, by_id[i].resolution, True
            )
            for i in ids
            if i in by_id
        ]
