"""Log levels: the five kb ranks records by, the words logs spell them with, and the
`--levels` option."""

from __future__ import annotations

import difflib
import re

from kb.errors import BadQuery
from kb.linear_regex import compile_linear

DEBUG, INFO, WARN, ERROR, FATAL = 1, 2, 3, 4, 5
NAMES = {DEBUG: "debug", INFO: "info", WARN: "warn", ERROR: "error", FATAL: "fatal"}
RANKS = {name: rank for rank, name in NAMES.items()}
DEFAULT_LEVELS = frozenset((WARN, ERROR, FATAL))
ALL_LEVELS = frozenset(NAMES)

# How logs spell them (lowercased). Single letters come from klog, glog and logcat columns.
WORDS = {
    "fatal": FATAL,
    "critical": FATAL,
    "crit": FATAL,
    "emerg": FATAL,
    "emergency": FATAL,
    "alert": FATAL,
    "panic": FATAL,
    "f": FATAL,
    "severe": ERROR,
    "error": ERROR,
    "err": ERROR,
    "e": ERROR,
    "warning": WARN,
    "warn": WARN,
    "w": WARN,
    "notice": INFO,
    "info": INFO,
    "information": INFO,
    "informational": INFO,
    "i": INFO,
    "debug": DEBUG,
    "dbug": DEBUG,
    "trace": DEBUG,
    "fine": DEBUG,
    "finer": DEBUG,
    "finest": DEBUG,
    "verbose": DEBUG,
    "d": DEBUG,
    "v": DEBUG,
}
_ALIASES = {"warning": "warn", "critical": "fatal", "crit": "fatal", "err": "error", "notice": "info", "trace": "debug"}

# A record whatever its level counts as an error when it names an exception or carries an error
# code (the rule); one with no level at all is an error or a warning by its words.
# RE2: ~4 us a line where `re` took ~20 (it runs on every INFO line).
ELEVATE = compile_linear(
    r"(?:Exception|Error|Throwable)\b|SQLSTATE|\berrno\b|^Traceback|\bpanic: |"
    r"\b[A-Z][A-Z0-9]{1,9}-[A-Z]?\d{3,6}\b|\bE(?:CONNREFUSED|CONNRESET|TIMEDOUT|NOSPC|ACCES|PERM|NOENT|PIPE|"
    r"HOSTUNREACH|NETUNREACH|ADDRINUSE|MFILE|NOMEM)\b|\bexit (?:code|status) [1-9]"
)
ERROR_WORDS = re.compile(
    r"\b(?:error|errors|exception|fail|failed|failure|fatal|panic|refused|denied|timed out|timeout|killed|"
    r"oom|unavailable|unreachable|cannot|can't|could not|unable|invalid|expired|rejected|exceeded|not found|"
    r"no such|too many|crash\w*|abort\w*|deadlock\w*|corrupt\w*|segfault|no space left|out of memory|disk full|"
    r"broken pipe|connection reset)\b",
    re.I,
)
WARN_WORDS = re.compile(r"\b(?:warn|warning|deprecated|retry(?:ing)?|slow)\b", re.I)


def of_word(word: str) -> int | None:
    """The rank of a level word as a log spells it (`ERROR`, `warning`, `E`), None if it is not one."""
    return WORDS.get(word.lower())


def guess(message: str) -> int:
    """The level of a record that names none: by its words."""
    if ERROR_WORDS.search(message):
        return ERROR
    return WARN if WARN_WORDS.search(message) else INFO


def parse_levels(value: object) -> frozenset[int]:
    """`error,warn`, `all`, or a list of names; `error` also keeps fatal records (fatal is an error)."""
    if value is None or value == "":
        return DEFAULT_LEVELS
    if isinstance(value, str):
        names = [v.strip().lower() for v in value.split(",") if v.strip()]
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        names = [v.strip().lower() for v in value]
    else:
        raise BadQuery("`levels` must be a comma-separated list such as error,warn, or all")
    ranks: set[int] = set()
    for name in names:
        if name == "all":
            return ALL_LEVELS
        name = _ALIASES.get(name, name)
        if name not in RANKS:
            close = difflib.get_close_matches(name, [*RANKS, "all"], n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise BadQuery(f"unknown level {name[:20]!r}{hint}; use fatal, error, warn, info, debug or all")
        ranks.add(RANKS[name])
        if name == "error":
            ranks.add(FATAL)
    if not ranks:
        raise BadQuery("`levels` is empty; use for instance error,warn, or all")
    return frozenset(ranks)


def describe(levels: frozenset[int]) -> str:
    """`error,warn` for people (fatal is implied by error)."""
    if levels == ALL_LEVELS:
        return "all"
    shown = [NAMES[r] for r in sorted(levels, reverse=True) if not (r == FATAL and ERROR in levels)]
    return ",".join(shown)
