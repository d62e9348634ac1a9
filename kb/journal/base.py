"""The journal's records and its interface, apart from any backend (so that a backend imports
them without importing the package that chooses it)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kb.errors import KBError

VOTES = ("solved", "not_relevant")
CHANNELS = ("api", "site", "cli", "alertmanager", "grafana", "slack", "mattermost", "triage")
SCHEMA_VERSION = 1
FILE = "journal.sqlite"
LEGACY = "feedback.sqlite"  # before the journal, votes had a file of their own


class JournalUnavailable(KBError):
    """The journal cannot be used (damaged, from a newer kb, or its database is down)."""

    code = "journal_unavailable"
    status = 503


@dataclass(frozen=True)
class SearchRecord:
    """One search, as the query log keeps it (text masked of secrets, never the raw paste)."""

    at: float  # unix time
    channel: str  # one of CHANNELS
    client: str  # salted hash of the client
    session: str  # the client's session (a re-search within minutes in one session is a failed search)
    query: str  # the normalized text, secrets masked, at most 2,000 characters
    template: str  # the problem's key: the normalized text without numbers (kb.journal.keys)
    match: str  # strong | possible | weak | none
    top_ids: list[str] = field(default_factory=list)
    top_scores: list[float] = field(default_factory=list)
    took_ms: float = 0.0
    vector: bytes = b""  # the query's embedding, float16 (for similarity and clustering)
    services: list[str] = field(default_factory=list)  # of the top result


@dataclass(frozen=True)
class VoteRecord:
    at: float
    client: str
    query: str  # normalized, masked
    template: str
    article_id: str
    vote: str  # one of VOTES
    generation: str | None = None
    vector: bytes = b""


@dataclass(frozen=True)
class StoredVote:
    """A vote as the ranking reads them: `vote` is "withdrawn" for one taken back."""

    at: float
    client: str
    template: str
    article_id: str
    vote: str
    vector: bytes
    changed: float = 0.0  # when it was cast, replaced or withdrawn


@dataclass(frozen=True)
class Origin:
    """Who made a search or a vote, for the journal: the channel it came through, the client
    (an address, a chat user, a browser; hashed with the salt before it is stored) and the
    session that groups one person's searches a few minutes apart."""

    channel: str  # one of CHANNELS
    who: str = "local"
    session: str = ""


class Journal(Protocol):
    """Where votes and the query log live. Writes of votes are synchronous and durable (a vote
    acknowledged with 2xx is never lost); searches are written in batches by a writer thread."""

    path: str  # where it is, for people (a file, or a database URL without its password)

    def add_vote(self, vote: VoteRecord) -> int:
        """Store a vote (one per client, problem and article: a new one replaces it); its row id."""

    def withdraw(self, client: str, template: str, article_id: str, at: float) -> int:
        """Withdraw that client's vote for this problem and article; how many were withdrawn."""

    def votes(self, since: float = 0.0) -> list[StoredVote]:
        """Active votes cast (or changed) after `since`."""

    def add_searches(self, records: Iterable[SearchRecord]) -> None:
        """Append searches to the query log."""

    def searches(self, since: float, until: float | None = None) -> Iterator[SearchRecord]:
        """The logged searches in a time range, oldest first."""

    def vote_rows(self, since: float, until: float | None = None) -> Iterator[VoteRecord]:
        """Every vote cast in a time range (withdrawn ones too), oldest first."""

    def answers(self, after: int = 0) -> tuple[dict[str, tuple[int, float]], int]:
        """Per article, how many logged searches after row `after` had it as their answer (the
        first result of a search that matched) and when the last was; and the last row read."""

    def purge(self, before: float, votes: bool = True) -> tuple[int, int]:
        """Delete searches (and votes, unless `votes` is false) older than `before`; how many of each."""

    def ping(self) -> str | None:
        """None when the journal can be used now, else why not (for /readyz)."""

    def salt(self) -> str:
        """The installation's random salt for client hashes (the same for every replica)."""

    def close(self) -> None: ...


# The rows of both backends' tables, in their column order (kb/journal/sqlite.py, postgres.py):
# one encoding, so that a search or a vote reads back the same from either.
SEARCH_COLUMNS = (
    "at, channel, client, session, query, template, match, top_ids, top_scores, took_ms, vector, services, answer"
)
VOTE_COLUMNS = "at, client, query, template, article_id, vote, generation, vector, withdrawn"
STORED_COLUMNS = "at, client, template, article_id, vote, vector, withdrawn, changed"


def search_row(r: SearchRecord) -> tuple[Any, ...]:
    """A search as a row of SEARCH_COLUMNS; `answer` is its first result when it matched."""
    answer = r.top_ids[0] if r.top_ids and r.match != "none" else None
    top_ids, top_scores, services = json.dumps(r.top_ids), json.dumps(r.top_scores), json.dumps(r.services)
    return (
        r.at,
        r.channel,
        r.client,
        r.session,
        r.query,
        r.template,
        r.match,
        top_ids,
        top_scores,
        r.took_ms,
        r.vector,
        services,
        answer,
    )


def search_of(row: Sequence[Any]) -> SearchRecord:
    """A row of SEARCH_COLUMNS (without `answer`) as a search."""
    at, channel, client, session, query, template, match, top_ids, top_scores, took_ms, vector, services = row[:12]
    return SearchRecord(
        at,
        channel,
        client,
        session,
        query,
        template,
        match,
        json.loads(top_ids),
        json.loads(top_scores),
        took_ms,
        bytes(vector or b""),
        json.loads(services),
    )


def vote_of(row: Sequence[Any]) -> VoteRecord:
    """A row of VOTE_COLUMNS as a vote ("withdrawn" for one taken back)."""
    at, client, query, template, article_id, vote, generation, vector, withdrawn = row
    vote = vote if withdrawn is None else "withdrawn"
    return VoteRecord(at, client, query, template, article_id, vote, generation, bytes(vector or b""))


def stored_of(row: Sequence[Any]) -> StoredVote:
    """A row of STORED_COLUMNS as the ranking reads votes."""
    at, client, template, article_id, vote, vector, withdrawn, changed = row
    vote = vote if withdrawn is None else "withdrawn"
    return StoredVote(at, client, template, article_id, vote, bytes(vector or b""), changed)
