"""The shape every retrieval channel has.

A channel is one module with a `Channel` subclass (after txtai's `ann/` base class, one
implementation per backend; bm25s's index/retrieve/save/load over a pure scoring module). The
search pipeline (kb/search.py) opens each channel of a loaded generation, asks every one for
its `Hits` on a query, takes the union of what the first-stage channels propose, scores every
candidate on each of them, keeps the best, scores those on the re-ranking channels, and fuses
the scores with one weight per channel (kb/fusion.py). Adding a channel is one module, its
class in `search.CHANNELS` and its weight in `fusion.WEIGHTS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from kb.metadata import Catalog
from kb.normalize import Normalized
from kb.store import Generation

EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class Query:
    """What every channel sees of one search."""

    raw: str  # as pasted: signatures match it
    norm: Normalized  # what is embedded and tokenized
    alone: bool = False  # no other search is in its first stage: a channel may use every core
    shared: dict[str, Any] = field(default_factory=dict)  # what one channel offers the next: "vector"
    vector: Any = None  # its embedding when the caller has it already (a batch: kb triage)


@dataclass
class OpenContext:
    """What a channel is opened with."""

    generation: Generation
    catalog: Catalog
    opened: Mapping[str, Channel] = field(default_factory=dict)  # the channels opened before it
    lone_threads: int = 1  # threads the dense channel may use for a search running alone
    feedback: Any = None  # the votes in memory (kb.history.FeedbackIndex), when there is a journal


class Hits(ABC):
    """One channel's evidence for one query. The pipeline asks every channel for its hits before
    it reads any, so a channel may still be working (the dense channel embeds on another thread)."""

    @property
    def proposed(self) -> np.ndarray:
        """The articles this channel brings up (sorted, unique); none for a re-ranking channel."""
        return EMPTY

    @property
    def pinned(self) -> np.ndarray:
        """Articles that must survive the first-stage cut whatever their score (signature matches)."""
        return EMPTY

    @abstractmethod
    def scores(self, articles: np.ndarray) -> np.ndarray:
        """This channel's evidence for each of `articles`, 0..1."""

    def explain(self, article: int) -> dict[str, Any]:
        """What `--explain` shows of this channel for one article."""
        return {}

    def ranked(self) -> list[int]:
        """The channel's own ranking of what it proposes, best first (`kb eval` per channel)."""
        return self.proposed.tolist()


class Channel(ABC):
    """One retrieval channel over one loaded generation."""

    name: ClassVar[str]  # the key of its fusion weight
    rerank: ClassVar[bool] = False  # scored only for the best first-stage candidates
    adjusts: ClassVar[bool] = False  # a bounded nudge after the weighted sum (votes), not a term of it

    @classmethod
    @abstractmethod
    def open(cls, ctx: OpenContext) -> Channel:
        """Load this channel's files of a generation, checked against its catalog."""

    @abstractmethod
    def candidates(self, query: Query, allowed: np.ndarray) -> Hits:
        """The channel's hits for a query among the `allowed` articles (a boolean mask)."""

    def close(self) -> None:  # noqa: B027 - most channels hold nothing to release
        """Release what the channel holds open."""
