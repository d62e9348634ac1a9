"""What past votes say about a search: the history channel.

A new search looks up the votes cast on past searches that were the same problem and counts,
per article, "solved" for and "not relevant" against, each vote decayed by its age (half-life
HALF_LIFE_DAYS); one client counts once per article, however often it votes, and a client with
more than TRUSTED active votes counts TRUSTED / votes for each: all its votes together weigh
what TRUSTED votes do (one client spraying votes over every problem cannot steer them all). A past search is
the same problem when it has the same template (kb.journal.keys: the text without numbers) -
it counts in full - or, for "solved", when its query embedding is the nearest of all voted
searches, at least SIMILAR alike, and ahead of every other article's voted searches: it counts
from 0 at that runner-up's cosine to 1 at MARGIN above it (`similar_weights`). "Not relevant"
votes count for near-identical searches only (from SAME). bench/history.py measures it.

Fusion adds at most fusion.WEIGHTS["history"] (0.25) either way, after everything else, and
bounds it: votes never lift an article over a signature match, never take a strong answer below
strong, and never lift an article over the best strong answer no vote was against
(kb/fusion.py)."""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from kb.channels import EMPTY, Channel, Hits, OpenContext, Query
from kb.journal import Journal, StoredVote
from kb.journal.keys import template_of, unpack

SIMILAR = 0.60  # query-embedding cosine from which a past search may be the same problem (bench/history.py)
MARGIN = 0.05  # ...and how far above every other problem's past searches it must be to count in full
SAME = 0.90  # from this cosine a "not relevant" vote counts (near-identical searches only)
HALF_LIFE_DAYS = 30.0
TRUSTED = 20  # a client's votes count in full up to this many; beyond, each TRUSTED / votes (20 in all)
REFRESH = 5.0  # seconds between two reads of new votes (other replicas' too)
OVERLAP = 60.0  # seconds before the last vote seen that each read goes back over (replicas' clocks, late commits)


@dataclass(frozen=True)
class Evidence:
    """What the votes on similar past searches say about one article."""

    solved: int
    not_relevant: int
    last_solved: float | None
    net: float  # decayed, weighted, one client once: solved minus not relevant

    def to_dict(self) -> dict[str, Any]:
        at = self.last_solved
        last = dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="seconds") if at else None
        return {"solved": self.solved, "not_relevant": self.not_relevant, "last_solved": last}


class _Arrays(NamedTuple):
    votes: list[StoredVote]
    matrix: np.ndarray
    by_template: dict[str, list[int]]
    codes: np.ndarray
    solved: np.ndarray
    trust: np.ndarray


class JournalReader:
    """What a search reads from the journal, kept in memory and read again every `refresh`
    seconds: now when forced or never read yet, else on a thread of its own, so that a slow
    journal database never holds up a search. Subclasses read in `_read`, under `_lock`."""

    thread_name = "kb-journal-reader"

    def __init__(self, journal: Journal, refresh: float) -> None:
        self.journal = journal
        self.refresh_every = refresh
        self._lock = threading.Lock()
        self._read_at = -1e9

    def refresh(self, force: bool = False) -> None:
        if force or self._read_at < 0:
            self._read()
        elif time.monotonic() - self._read_at >= self.refresh_every and not self._lock.locked():
            self._read_at = time.monotonic()
            threading.Thread(target=self._read, name=self.thread_name, daemon=True).start()

    def _read(self) -> None:
        raise NotImplementedError


class FeedbackIndex(JournalReader):
    """The active votes in memory, read from the journal when new ones may have come."""

    thread_name = "kb-votes"

    def __init__(self, journal: Journal, refresh: float = REFRESH) -> None:
        super().__init__(journal, refresh)
        self._votes: dict[tuple[str, str, str], StoredVote] = {}  # (client, template, article) -> vote
        self._changed = 0.0
        # What a search reads, swapped in whole by a refresh (a search on another thread never
        # sees half of one): the votes, their vectors, by template, and per vote its article as
        # a small integer, whether it is "solved", and its client's weight (1 up to TRUSTED votes).
        self._arrays: _Arrays = _Arrays([], np.zeros((0, 0)), {}, np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0))

    def _read(self) -> None:
        with self._lock:
            self._read_at = time.monotonic()
            try:
                # Re-read a window before the last change seen: a vote another replica committed
                # late with an earlier time is still picked up (reading one twice changes nothing).
                new = self.journal.votes(since=self._changed - OVERLAP)
            except Exception:  # noqa: BLE001 - the journal is down: rank with what is known
                return
            changed = False
            for v in new:
                key = (v.client, v.template, v.article_id)
                if v.vote == "withdrawn":
                    changed |= self._votes.pop(key, None) is not None
                elif self._votes.get(key) != v:
                    self._votes[key] = v
                    changed = True
                self._changed = max(self._changed, v.changed)
            if not changed and self._arrays[0]:
                return
            votes = list(self._votes.values())
            vectors = [unpack(v.vector) for v in votes]
            dim = max((len(x) for x in vectors), default=0)
            matrix = np.array([x if len(x) == dim else np.zeros(dim) for x in vectors], dtype=np.float32)
            by_template: dict[str, list[int]] = {}
            for i, v in enumerate(votes):
                by_template.setdefault(v.template, []).append(i)
            codes: dict[str, int] = {}
            per_client = Counter(v.client for v in votes)  # a client voting on everything counts less each time
            self._arrays = _Arrays(
                votes,
                matrix.reshape(len(votes), dim),
                by_template,
                np.array([codes.setdefault(v.article_id, len(codes)) for v in votes], dtype=np.int64),
                np.array([v.vote == "solved" for v in votes], dtype=bool),
                np.array([min(1.0, TRUSTED / per_client[v.client]) for v in votes]),
            )

    def __len__(self) -> int:
        return len(self._arrays[0])

    def totals(self, article_id: str) -> dict[str, int]:
        """Active votes on an article over every problem: {"solved": n, "not_relevant": n}."""
        self.refresh()
        out = {"solved": 0, "not_relevant": 0}
        for v in self._arrays[0]:
            if v.article_id == article_id:
                out[v.vote] += 1
        return out

    def evidence(self, template: str, vector: np.ndarray | None, now: float | None = None) -> dict[str, Evidence]:
        """article id -> what the votes on searches like this one say."""
        self.refresh()
        votes, matrix, by_template, codes, solved, trust = self._arrays
        if not votes:
            return {}
        weight = np.zeros(len(votes), dtype=np.float32)
        if vector is not None and matrix.shape[1] == len(vector.reshape(-1)):
            weight = similar_weights(matrix @ vector.reshape(-1), solved, codes)
        for i in by_template.get(template, ()):
            weight[i] = 1.0
        now = time.time() if now is None else now
        per: dict[str, dict[str, Any]] = {}
        for i in np.flatnonzero(weight).tolist():
            v = votes[i]
            w = float(weight[i] * trust[i]) * 0.5 ** (max(0.0, now - v.at) / 86400.0 / HALF_LIFE_DAYS)
            sign = 1.0 if v.vote == "solved" else -1.0
            e = per.setdefault(v.article_id, {"solved": 0, "not_relevant": 0, "last": None, "clients": {}})
            if sign > 0:
                e["solved"] += 1
                e["last"] = max(e["last"] or 0.0, v.at)
            else:
                e["not_relevant"] += 1
            best = e["clients"].get(v.client)  # one client counts once: its strongest vote
            if best is None or abs(w) > abs(best):
                e["clients"][v.client] = sign * w
        return {
            a: Evidence(e["solved"], e["not_relevant"], e["last"], sum(e["clients"].values())) for a, e in per.items()
        }


def similar_weights(cos: np.ndarray, solved: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """How much each vote counts for a search whose query embedding has cosine `cos` with the
    vote's search (the same template counts 1, set by the caller).

    "Solved" votes are contrastive, like a nearest-neighbour vote: only the article whose past
    searches the new one most resembles gets them, and only as far as it stands out - its votes
    count from 0 at the best cosine of any other article's solved searches (or SIMILAR, if
    higher) to 1 at MARGIN above that. Near-identical texts of two different problems (log
    events that differ in one field) then cancel out instead of voting for one of them.
    "Not relevant" votes count for near-identical searches only (from SAME)."""
    weight = np.zeros(len(cos), dtype=np.float32)
    against = ~solved
    weight[against] = np.clip((cos[against] - SAME) / (1.0 - SAME), 0.0, 1.0)
    if solved.any():
        best = np.full(int(codes.max()) + 1, -1.0, dtype=np.float32)
        np.maximum.at(best, codes[solved], cos[solved])
        first = int(np.argmax(best))
        runner_up = float(np.max(np.delete(best, first))) if len(best) > 1 else -1.0
        mine = solved & (codes == first)
        floor = max(runner_up, SIMILAR)
        weight[mine] = np.clip((cos[mine] - floor) / MARGIN, 0.0, 1.0)
    return weight


class HistoryChannel(Channel):
    """Votes on past searches of the same problem: proposes the articles they solved, and says
    for or against each candidate (a score from -1 to 1, applied by fusion as a bounded nudge)."""

    name = "history"
    adjusts = True  # applied after the weighted sum, bounded (kb/fusion.py)

    def __init__(self, feedback: FeedbackIndex | None, ids: list[str], by_id: dict[str, int]) -> None:
        self.feedback = feedback
        self.ids = ids
        self.by_id = by_id

    @classmethod
    def open(cls, ctx: OpenContext) -> HistoryChannel:
        return cls(ctx.feedback, ctx.catalog.ids, ctx.catalog.by_id)

    def candidates(self, query: Query, allowed: np.ndarray) -> HistoryHits:
        return HistoryHits(self, query, allowed)


class HistoryHits(Hits):
    def __init__(self, channel: HistoryChannel, query: Query, allowed: np.ndarray) -> None:
        self._channel = channel
        self._query = query
        self._allowed = allowed
        self._evidence: dict[int, Evidence] | None = None

    def evidence(self) -> dict[int, Evidence]:
        if self._evidence is None:
            feedback = self._channel.feedback
            out: dict[int, Evidence] = {}
            if feedback is not None:
                feedback.refresh()
            if feedback is not None and len(feedback):
                vector = self._query.shared.get("vector")
                found = feedback.evidence(template_of(self._query.norm.dense), vector() if vector else None)
                for article_id, ev in found.items():
                    idx = self._channel.by_id.get(article_id)
                    if idx is not None and self._allowed[idx]:
                        out[idx] = ev
            self._evidence = out
        return self._evidence

    @property
    def proposed(self) -> np.ndarray:
        solved = sorted(a for a, e in self.evidence().items() if e.net > 0)
        return np.array(solved, dtype=np.int64) if solved else EMPTY

    def scores(self, articles: np.ndarray) -> np.ndarray:
        """tanh(net / 2): one fresh vote on the same problem 0.46, three 0.91, against negative."""
        ev = self.evidence()
        return np.array([math.tanh(ev[a].net / 2) if a in ev else 0.0 for a in articles.tolist()], dtype=np.float32)

    def of(self, article: int) -> Evidence | None:
        return self.evidence().get(article)

    def explain(self, article: int) -> dict[str, Any]:
        ev = self.evidence().get(article)
        return {"history": round(math.tanh(ev.net / 2), 3)} if ev else {}


class Recurrence(JournalReader):
    """How often each article was the answer of a logged search, and when last: read from the
    journal incrementally (the rows after the last one read) every `refresh` seconds, and
    afresh every hour (so what retention pruned drops out)."""

    thread_name = "kb-recurrence"

    def __init__(self, journal: Journal, refresh: float = 30.0) -> None:
        super().__init__(journal, refresh)
        self._counts: dict[str, tuple[int, float]] = {}
        self._after = 0
        self._full_at = -1e9

    def _read(self) -> None:
        with self._lock:
            now = self._read_at = time.monotonic()
            if now - self._full_at > 3600:
                self._full_at, self._after, self._counts = now, 0, {}
            try:
                new, self._after = self.journal.answers(self._after)
            except Exception:  # noqa: BLE001 - the journal is down: what is known stays
                return
            for article_id, (count, last) in new.items():
                had, was = self._counts.get(article_id, (0, 0.0))
                self._counts[article_id] = (had + count, max(was, last))

    def of(self, article_id: str) -> dict[str, Any] | None:
        """{"count": times it was the answer, "last": ISO time of the last} or None."""
        self.refresh()
        found = self._counts.get(article_id)
        if not found:
            return None
        last = dt.datetime.fromtimestamp(found[1], dt.UTC).isoformat(timespec="seconds")
        return {"count": found[0], "last": last}
