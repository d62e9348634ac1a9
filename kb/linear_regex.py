"""Regular expressions that run on pasted text in linear time: google-re2 (RE2's automata
cannot backtrack), for the `regex:` signatures authors write. Python's `re` backtracks, so a
signature such as `(a+)+$` could hold the server for minutes on one paste; RE2 refuses the few
constructs it cannot run in linear time (lookaround, backreferences) instead."""

from __future__ import annotations

from typing import Any, Protocol

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a pattern RE2 refuses is reported by `kb check`, not on stderr


class Pattern(Protocol):
    def search(self, text: str) -> Any: ...

    def finditer(self, text: str) -> Any: ...


def compile_linear(pattern: str) -> Pattern:
    """The pattern compiled by RE2; ValueError (with RE2's reason) when RE2 cannot run it."""
    try:
        compiled: Pattern = re2.compile(pattern, _OPTIONS)
    except re2.error as e:
        reason = e.args[0].decode() if e.args and isinstance(e.args[0], bytes) else str(e)
        raise ValueError(reason) from None
    return compiled
