"""The identifier channel: how much of the query's identifiers (error codes, CamelCase alert and
exception names) an article contains, read from the lexical channel's postings.

An identifier that every library raises (`ConnectionError`, `TimeoutError`,
`NullPointerException`, ...) says little about which problem a paste is: it counts a quarter of
a specific one (`OOMKilled`, `ORA-00942`, `KubeAPIDown`), so a generic exception name shared
with an article can no longer carry that article to the top on its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kb.channels import Channel, Hits, OpenContext, Query
from kb.lexical import Lexical, LexicalChannel

GENERIC_WEIGHT = 0.25
GENERIC = frozenset(
    s.lower()
    for s in (
        "Exception Error RuntimeError ValueError TypeError KeyError IndexError AttributeError NameError "
        "OSError IOError EnvironmentError ConnectionError ConnectionRefusedError ConnectionResetError "
        "ConnectionAbortedError BrokenPipeError TimeoutError TimeoutException SocketTimeoutException "
        "SocketException IOException UncheckedIOException RuntimeException IllegalStateException "
        "IllegalArgumentException NullPointerException UnsupportedOperationException ExecutionException "
        "InterruptedException CancellationException ClientError ServerError HTTPError URLError "
        "RequestException ProtocolError ReadTimeout ConnectTimeout ReadTimeoutError NewConnectionError "
        "MaxRetryError OperationalError DatabaseError InternalError ProgrammingError AssertionError "
        "SystemError UnknownError"
    ).split()
)


def weight(identifier: str) -> float:
    """A query identifier's weight: a quarter for a generic exception name (also dotted:
    `redis.exceptions.ConnectionError`), one for anything more specific."""
    tail = identifier.rsplit(".", 1)[-1].lower()
    return GENERIC_WEIGHT if tail in GENERIC else 1.0


class IdentifierChannel(Channel):
    name = "identifiers"
    rerank = True

    def __init__(self, lexical: Lexical) -> None:
        self.lexical = lexical

    @classmethod
    def open(cls, ctx: OpenContext) -> IdentifierChannel:
        lexical = ctx.opened[LexicalChannel.name]
        assert isinstance(lexical, LexicalChannel)
        return cls(lexical.index)

    def candidates(self, query: Query, allowed: np.ndarray) -> IdentifierHits:
        return IdentifierHits(self.lexical, list(dict.fromkeys(i.lower() for i in query.norm.identifiers)))


class IdentifierHits(Hits):
    def __init__(self, lexical: Lexical, identifiers: list[str]) -> None:
        self._lexical = lexical
        self.identifiers = identifiers
        self._weights = np.array([weight(i) for i in identifiers], dtype=np.float64)

    def scores(self, articles: np.ndarray) -> np.ndarray:
        """The weighted share of the query's identifiers each article holds; a query whose only
        identifiers are generic ones can score a quarter at most."""
        if not self.identifiers:
            return np.zeros(len(articles))
        held = self._weights @ self._lexical.presence(self.identifiers, articles)
        return held / max(1.0, float(self._weights.sum()))

    def explain(self, article: int) -> dict[str, Any]:
        return {"identifiers": round(float(self.scores(np.array([article]))[0]), 3)}
