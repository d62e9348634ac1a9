"""Long pastes: which lines of a whole log carry the failure.

A search embeds ~1,000 characters, so a 250 KB `kubectl logs` dump or a 5 MB pipe is reduced
first, in one linear pass over its lines: the distinct lines with failure words, error codes or
exception names (the most recent first), the exception line and top frames of the last stack
trace, and the last lines. Normalization then works on those candidates only.
"""

from __future__ import annotations

import re

import numpy as np

from kb.linear_regex import compile_linear

LONG_CHARS = 16_384  # pastes longer than this are reduced to candidate lines
MAX_LINE = 4_096  # longer lines are cut: what a log line says is at its start
MAX_CANDIDATES = 400
MAX_CANDIDATE_CHARS = 256 * 1024  # bounds what normalization works on, whatever the log holds
TAIL = 20  # the last lines are kept whatever they say
TRACE_FRAMES = 3
_DIGITS = re.compile(r"\d+")
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


# The same words for one pass over a whole log: RE2 scans 5 MB in ~60 ms where Python's `re`,
# trying the alternation at every position, takes ~3.5 s.
_SALIENT_LINEAR = compile_linear("(?i)" + SALIENT.pattern)


def salient_lines(text: str, lines: list[str]) -> list[int]:
    """The numbers of the lines of `text` (split into `lines` at "\\n") that hold a salient word."""
    starts = np.cumsum([0] + [len(ln) + 1 for ln in lines[:-1]])
    hits = np.fromiter((m.start() for m in _SALIENT_LINEAR.finditer(text)), dtype=np.int64)
    return np.unique(np.searchsorted(starts, hits, side="right") - 1).tolist()


def _is_frame(line: str) -> bool:
    s = line.lstrip()
    return s.startswith(_FRAME_START) or ".go:" in s


def candidates(text: str) -> list[str]:
    """The candidate lines of a long paste, cut to MAX_LINE, in their original order."""
    lines = text.split("\n")
    chosen: set[int] = set()
    nonempty = [i for i, ln in enumerate(lines) if ln.strip()]
    chosen.update(nonempty[-TAIL:])
    # The last stack trace: the line before its first frame (the exception), a few frames,
    # and its `Caused by:` lines.
    last_frame = next((i for i in reversed(nonempty) if _is_frame(lines[i])), None)
    if last_frame is not None:
        first = last_frame
        while first > 0 and (_is_frame(lines[first - 1]) or lines[first - 1].lstrip().startswith("Caused by")):
            first -= 1
        header = next((i for i in range(first - 1, -1, -1) if lines[i].strip()), None)
        if header is not None:
            chosen.add(header)
        frames = 0
        for i in range(first, last_frame + 1):
            if lines[i].lstrip().startswith("Caused by"):
                chosen.add(i)
            elif frames < TRACE_FRAMES and _is_frame(lines[i]):
                chosen.add(i)
                frames += 1
    # Distinct salient lines, the most recent first (repeats differ only in numbers).
    seen: set[str] = set()
    size = sum(min(len(lines[i]), MAX_LINE) for i in chosen)
    for i in reversed(salient_lines(text, lines)):
        if len(seen) >= MAX_CANDIDATES or size > MAX_CANDIDATE_CHARS:
            break
        key = _DIGITS.sub("", lines[i][:MAX_LINE])[:200]
        if key not in seen:
            seen.add(key)
            chosen.add(i)
            size += min(len(lines[i]), MAX_LINE)
    return [lines[i][:MAX_LINE] for i in sorted(chosen)]
