"""Records to templates with the Drain algorithm (`drain3.drain.Drain`, from the
`drain3-improved` package: drain3's API with current dependency pins).

One Drain tree per key (the record's protected tokens, kb/triage/masking.py), so records with
different error codes, exception names or HTTP statuses never share a template. A record
whose masked text was seen before goes to that template at once (a log repeats itself: the
tree is searched once per distinct text). Past `max_templates`, records that fit no existing
template seen so far (their masked text seen before) are counted as dropped, not kept: time,
memory and the matching stay bounded."""

from __future__ import annotations

import functools
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from drain3.drain import Drain, LogCluster

from kb.triage.masking import mask
from kb.triage.records import Record

DEPTH = 4  # drain3's default: token count, then the first token, then the clusters
SIM_TH = 0.4  # drain3's default; with words kept (WordDrain) 0.4-0.7 give the same purity (README)
MAX_CHILDREN = 100
MEMO = 200_000  # distinct masked texts remembered


_EDGES = "()[]{}<>,;:.!?'\""


@functools.lru_cache(maxsize=1 << 16)  # Drain compares the same tokens over and over
def wordy(token: str) -> bool:
    """A word (letters, maybe `_` or `-`, at most 24): `Started`, `UNASSIGNED`, `true`; not a
    quoted one (`"orders"`: a value)."""
    if token[:1] in "\"'`":
        return False
    core = token.strip(_EDGES)
    return 0 < len(core) <= 24 and core.replace("_", "").replace("-", "").isalpha()


class WordDrain(Drain):
    """Drain that never turns a word into a parameter: records that differ in a word (`VM
    Started` / `VM Paused`, `down true` / `down false`, `Before` / `After Scheduling`) are
    different events far more often than the same one, so they get templates of their own.
    What varies as <*> is what holds a digit (masked before), quotes, a path or punctuation."""

    def get_seq_distance(self, seq1: Sequence[str], seq2: Sequence[str], include_params: bool) -> tuple[float, int]:
        if not seq1:
            return 1.0, 0
        similar = params = 0
        param = self.param_str
        for template, token in zip(seq1, seq2, strict=True):
            if template == param:
                params += 1
            elif template == token:
                similar += 1
            elif wordy(template) and wordy(token):
                return -1.0, 0  # never the same template
        if include_params:
            similar += params
        return similar / len(seq1), params


@dataclass
class Group:
    """The records of one template, as they are mined."""

    cluster: LogCluster
    key: tuple[str, ...]
    example: Record
    last: Record
    level: int
    count: int = 0
    lines: int = 0
    starts: array[int] = field(default_factory=lambda: array("i"))
    ends: array[int] = field(default_factory=lambda: array("i"))

    @property
    def template(self) -> str:
        return self.cluster.get_template()


class Miner:
    """Templates of the records added, at most `max_templates` of them."""

    def __init__(self, max_templates: int, keep_lines: bool = False, sim_th: float | None = None) -> None:
        self.max_templates = max_templates
        self.keep_lines = keep_lines
        self.sim_th = SIM_TH if sim_th is None else sim_th
        self.trees: dict[tuple[str, ...], Drain] = {}
        self.groups: dict[int, Group] = {}  # id(cluster) -> group
        self.memo: dict[str, Group] = {}
        self.masked: dict[str, tuple[tuple[str, ...], str]] = {}
        self.dropped = 0  # records that fit no template once the cap was reached
        self.dropped_lines = 0

    def add(self, rec: Record) -> None:
        seen = self.masked.get(rec.msg)  # a message logged before word for word: masked once
        if seen is None:
            seen = mask(rec.msg)
            if len(self.masked) < MEMO:
                self.masked[rec.msg] = seen
        key, masked = seen
        memo_key = masked if not key else f"{masked}\x00{'|'.join(key)}"
        group = self.memo.get(memo_key)
        if group is None:
            group = self._find(key, masked)
            if group is None:
                self.dropped += 1
                self.dropped_lines += rec.last - rec.first + 1
                return
            if len(self.memo) < MEMO:
                self.memo[memo_key] = group
        if not group.count:
            group.example = rec
        group.count += 1
        group.lines += rec.last - rec.first + 1
        group.last = rec
        level = rec.level or 0
        if level > group.level:
            group.level = level
        group.starts.append(rec.first)
        if self.keep_lines:
            group.ends.append(rec.last)

    def _find(self, key: tuple[str, ...], masked: str) -> Group | None:
        """The group of a text not seen before; None once the cap is reached. (Searching the
        trees for a place past the cap cost ~1 ms a record against a thousand templates, 20
        minutes for a million distinct lines; a text seen before is found by the memo instead.)"""
        if len(self.groups) >= self.max_templates:
            return None
        tree = self.trees.get(key)
        if tree is None:
            tree = self.trees[key] = WordDrain(depth=DEPTH, sim_th=self.sim_th, max_children=MAX_CHILDREN)
        cluster: Any
        cluster, _ = tree.add_log_message(masked)
        group = self.groups.get(id(cluster))
        if group is None:
            group = self.groups[id(cluster)] = Group(cluster, key, _PENDING, _PENDING, 0)
        return group

    def templates(self) -> list[Group]:
        """Every template with at least one record."""
        return [g for g in self.groups.values() if g.count]


_PENDING = Record(-1, -1, None, 0, "")  # a group's example and last record before its first
