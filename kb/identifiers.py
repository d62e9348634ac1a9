"""The identifier channel: the share of the query's identifiers (error codes, CamelCase alert
and exception names) that an article contains, read from the lexical channel's postings."""

from __future__ import annotations

from typing import Any

import numpy as np

from kb.channels import Channel, Hits, OpenContext, Query
from kb.lexical import Lexical, LexicalChannel


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

    def scores(self, articles: np.ndarray) -> np.ndarray:
        if not self.identifiers:
            return np.zeros(len(articles))
        return self._lexical.presence(self.identifiers, articles).mean(axis=0)

    def explain(self, article: int) -> dict[str, Any]:
        return {"identifiers": round(float(self.scores(np.array([article]))[0]), 3)}
