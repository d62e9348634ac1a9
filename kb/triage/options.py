"""What a triage is asked for: the levels, the smallest count, a time window, line numbers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from kb.errors import BadQuery
from kb.triage.levels import DEFAULT_LEVELS, parse_levels
from kb.triage.times import parse_bound

MAX_TEMPLATES = 1000  # templates a triage keeps; records of others are counted as dropped
RESULTS = 3  # results per template, as a search answers them


@dataclass(frozen=True)
class TriageOptions:
    levels: frozenset[int] = DEFAULT_LEVELS
    min_count: int = 1
    since: dt.datetime | None = None  # naive UTC
    until: dt.datetime | None = None
    line_numbers: bool = False  # every input line of each template
    max_templates: int = MAX_TEMPLATES

    @classmethod
    def parse(
        cls,
        levels: object = None,
        min_count: object = None,
        since: object = None,
        until: object = None,
        line_numbers: object = False,
    ) -> TriageOptions:
        """From the CLI's options or a request's fields; BadQuery naming a bad one."""
        if min_count is None or min_count == "":
            count = 1
        else:
            try:
                count = int(str(min_count)) if not isinstance(min_count, bool) else -1
            except ValueError:
                count = -1
            if count < 1:
                raise BadQuery(f"`min_count` must be a whole number of at least 1, not {str(min_count)[:20]!r}")
        start, end = parse_bound(since, "since"), parse_bound(until, "until")
        if start and end and start > end:
            raise BadQuery("`since` is after `until`: nothing can be in that window")
        flag = line_numbers is True or str(line_numbers).lower() in ("1", "true", "yes", "on")
        return cls(parse_levels(levels), count, start, end, flag)
