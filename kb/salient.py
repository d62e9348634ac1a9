"""Long pastes: which lines of a whole log carry the failure.

A search embeds ~1,000 characters, so a 250 KB `kubectl logs` dump or a 5 MB pipe is reduced
first, in one linear pass over its lines: the distinct lines with failure words, error codes or
exception names (the most recent first), the exception line and top frames of the last stack
trace, and the last lines. Normalization then works on those candidates only.
"""

from __future__ import annotations

import re

from kb.linear_regex import compile_linear

LONG_CHARS = 16_384  # pastes longer than this are reduced to candidate lines
MAX_LINE = 4_096  # longer lines are cut: what a log line says is at its start
MAX_CANDIDATES = 400
MAX_CANDIDATE_CHARS = 256 * 1024  # bounds what normalization works on, whatever the log holds
TAIL = 20  # the last lines are kept whatever they say
TRACE_FRAMES = 3
# Words, codes and names that say something failed. Linear: `\b` before `\w+` makes each word
# one start (without it, `\w+(Error|...)` backtracked quadratically on a long word).
SALIENT = re.compile(
    r"error|exception|fail|fatal|panic|refused|denied|timed? ?out|timeout|killed|oom|unavailable|"
    r"unreachable|cannot|can't|could not|unable|invalid|expired|reset|rejected|exceeded|not found|"
    r"no such|too many|full|crash|back-?off|abort|deadlock|firing|alert|critical|warn|caused by|"
    r"\b[A-Z][A-Z0-9]{1,9}[-_]\d{2,6}\b|\b[45]\d\d\b|\b\w+(?:Error|Exception|Fault)\b",
    re.I,
)
_FRAME_START = ("at ", "File ", "goroutine ", "...")


# The same words for long pastes: RE2 checks a 4 KB line in a few microseconds, where Python's
# `re` tries the alternation at every position (~50 us for a 90-character line).
_SALIENT_LINEAR = compile_linear("(?i)" + SALIENT.pattern)
_NO_DIGITS = str.maketrans("", "", "0123456789")
TRACE_WINDOW = 20_000  # the last stack trace is looked for among the last lines
MAX_CHECKED = 50_000  # distinct lines checked for salient words, the most recent first


def _is_frame(line: str) -> bool:
    s = line.lstrip()
    return s.startswith(_FRAME_START) or ".go:" in s


def _last_trace(lines: list[str]) -> list[int]:
    """The exception line, first frames and `Caused by:` lines of the last stack trace."""
    low = max(0, len(lines) - TRACE_WINDOW)
    last = next((i for i in range(len(lines) - 1, low - 1, -1) if lines[i].strip() and _is_frame(lines[i])), None)
    if last is None:
        return []
    first = last
    while first > low and (_is_frame(lines[first - 1]) or lines[first - 1].lstrip().startswith("Caused by")):
        first -= 1
    out = [next((i for i in range(first - 1, max(low, first - 50) - 1, -1) if lines[i].strip()), first)]
    frames = 0
    for i in range(first, last + 1):
        if lines[i].lstrip().startswith("Caused by"):
            out.append(i)
        elif frames < TRACE_FRAMES and _is_frame(lines[i]):
            out.append(i)
            frames += 1
    return out


def candidates(text: str) -> list[str]:
    """The candidate lines of a long paste, cut to MAX_LINE, in their original order."""
    lines = text.split("\n")
    chosen: set[int] = set()
    i = len(lines) - 1
    while i >= 0 and len(chosen) < TAIL:  # the last lines
        if lines[i].strip():
            chosen.add(i)
        i -= 1
    chosen.update(_last_trace(lines))
    # Distinct salient lines, the most recent first. Repeats of a line differ in numbers only;
    # deduplicating first makes a log of 60,000 identical errors cost one check, not 60,000.
    latest = {key[:200]: n for n, key in enumerate(text.translate(_NO_DIGITS).split("\n"))}
    found = 0
    size = sum(min(len(lines[n]), MAX_LINE) for n in chosen)
    for checked, n in enumerate(sorted(latest.values(), reverse=True)):
        if found >= MAX_CANDIDATES or size > MAX_CANDIDATE_CHARS or checked >= MAX_CHECKED:
            break
        line = lines[n][:MAX_LINE]
        if _SALIENT_LINEAR.search(line):
            found += 1
            chosen.add(n)
            size += len(line)
    return [lines[n][:MAX_LINE] for n in sorted(chosen)]
