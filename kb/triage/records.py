"""Lines to records: one record per event, however many lines it took.

A record starts at a line with a prefix (kb/triage/prefixes.py) or a JSON object; lines after
it fold into it when they continue it - indented lines and stack frames (`at ...`, `File
"..."`, Go's goroutine dumps), `Caused by:` and `Suppressed:` chains, Python's `Traceback` and
its final exception line - and, in a log whose lines mostly have a prefix, any line without
one. A JSON line is a record of its own, its `msg` / `error` / `stack_trace` keys read."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kb.triage.levels import ELEVATE, ERROR, FATAL, INFO, WARN, guess, of_word
from kb.triage.prefixes import Prefixes

MAX_RECORD_LINES = 1000  # a record that long is closed; the next line starts another
MSG_CHARS = 1000  # of a record's message, what is mined
SAMPLE_LINES = 400  # lines looked at to tell whether the log's lines have prefixes
_CONTINUES = (
    "at ",
    "Caused by:",
    "Suppressed:",
    "... ",
    "Traceback (most recent call last)",
    "During handling of the above exception",
    "The above exception was the direct cause",
    "goroutine ",
    "[signal ",
    "created by ",
)
# The lines of a folded trace that say what went wrong (the rest are frames).
_EXCEPTION_LINE = re.compile(
    r"^(?:Caused by: |Suppressed: |Exception in thread \"[^\"]*\" )?(?:[\w$]+\.)*[\w$]*"
    r"(?:Exception|Error|Throwable|Fault|Failure|Exit|Interrupt)\b|^panic: "
)
_GO_CALL = re.compile(r"^[\w./*()\[\]-]+\(.*\)$")
_MSG_KEYS = ("msg", "message", "@m", "@mt", "text", "event", "log")
_LEVEL_KEYS = ("level", "lvl", "severity", "levelname", "log.level", "@l", "loglevel")
_TS_KEYS = ("ts", "time", "timestamp", "@timestamp", "@t", "t", "datetime", "asctime")
_ERROR_KEYS = ("error", "err", "exception", "exc_info", "exc", "error.message")
_STACK_KEYS = ("stack_trace", "stacktrace", "stack", "error.stack_trace", "error.stack", "err.stack", "exc_info")


@dataclass(slots=True)
class Record:
    """One event of the log: lines `first`..`last` (indexes into the log's lines)."""

    first: int
    last: int
    ts: str | int | float | None
    level: int | None  # None until the record is closed: then it has one
    msg: str  # what is mined: the message, then the trace's first exception and root cause
    text: str | None = None  # JSON records: their message, error and stack as text (else the lines are it)
    exceptions: list[str] = field(default_factory=list)
    frames: int = 0


class Splitter:
    """Feeds lines, yields records: `feed` returns the record a line closed, `close` the last."""

    def __init__(self, sample: list[str]) -> None:
        self.prefixes = Prefixes()
        self.prefixed = _prefixed_share(sample)
        self.current: Record | None = None
        self.state = ""  # "python": inside a Traceback; "go": inside a goroutine dump

    def feed(self, i: int, line: str) -> Record | None:
        if not line or line.isspace():
            return None
        if line[0] == "{":
            rec = _json_record(i, line)
            if isinstance(rec, Record):
                return self._start(rec)
            if rec is not None:  # Docker json-file: the line it holds
                line = rec
                if not line or line.isspace():
                    return None
        cur = self.current
        if cur is not None and cur.last - cur.first < MAX_RECORD_LINES and self._continues(line):
            self._fold(cur, i, line)
            return None
        parsed = self.prefixes.parse(line)
        if parsed is None:
            if cur is not None and self._unprefixed_continues(cur, line):
                self._fold(cur, i, line)
                return None
            return self._start(Record(i, i, None, None, line.strip()[:MSG_CHARS]))
        return self._start(Record(i, i, parsed.ts, parsed.level, parsed.msg.strip()[:MSG_CHARS]))

    def close(self) -> Record | None:
        cur, self.current = self.current, None
        if cur is not None:
            _finish(cur)
        return cur

    def _start(self, rec: Record) -> Record | None:
        done = self.close()
        self.current = rec
        self.state = "python" if rec.msg.startswith("Traceback (most recent call last)") else ""
        return done

    def _continues(self, line: str) -> bool:
        if line[0] in " \t" or line.startswith(_CONTINUES):
            return True
        if self.state == "python":  # the exception line that ends a traceback is not indented
            self.state = "python-end"
            return True
        return self.state == "go" and (_GO_CALL.match(line) is not None or line.startswith("exit status"))

    def _unprefixed_continues(self, cur: Record, line: str) -> bool:
        """In a log whose lines have prefixes, a line without one continues the record before
        it: always when (nearly) every line has one; in a log that mixes formats, only when it
        names an exception (`java.lang.IllegalStateException: ...` after an ERROR line), closes
        a dump, or follows lines already folded."""
        if cur.last - cur.first >= MAX_RECORD_LINES or self.prefixed < 0.6:
            return False
        if self.prefixed >= 0.95 or cur.last > cur.first or line[0] in "}])":
            return True
        return _EXCEPTION_LINE.match(line) is not None

    def _fold(self, cur: Record, i: int, line: str) -> None:
        cur.last = i
        s = line.strip()
        if s.startswith("Traceback (most recent call last)"):
            self.state = "python"
        elif s.startswith("goroutine "):
            self.state = "go"
        elif self.state == "python-end":  # the traceback's last line: its exception, whatever its name
            self.state = ""
            cur.exceptions.append(s[:300])
            return
        if s.startswith(("at ", "File ", "... ")) or _GO_CALL.match(s):
            cur.frames += 1
        elif _EXCEPTION_LINE.match(s):
            cur.exceptions.append(s[:300])


def _finish(rec: Record) -> None:
    """The record's level and mined message, once all its lines are in."""
    if rec.exceptions:
        extra = rec.exceptions[:1] + (rec.exceptions[-1:] if len(rec.exceptions) > 1 else [])
        rec.msg = (rec.msg + " " + " ".join(extra)).strip()
    level = rec.level if rec.level is not None else guess(rec.msg)
    if level < ERROR and (rec.exceptions or rec.frames or ELEVATE.search(rec.msg)):
        level = ERROR  # an exception or an error code is an error whatever the level says
    rec.level = level


def _prefixed_share(sample: list[str]) -> float:
    """The share of the log's record-like lines that have a prefix kb knows."""
    p = Prefixes()
    lines = [ln for ln in sample if ln.strip() and ln[0] not in " \t{" and not ln.startswith(_CONTINUES)]
    lines = lines[:SAMPLE_LINES]
    return sum(p.parse(ln) is not None for ln in lines) / len(lines) if lines else 0.0


def _flat(obj: dict[str, Any]) -> dict[str, Any]:
    """Keys one level down as dotted keys (`{"error": {"message": ...}}` -> `error.message`)."""
    out = dict(obj)
    for k, v in obj.items():
        if isinstance(v, dict):
            for k2, v2 in v.items():
                out.setdefault(f"{k}.{k2}", v2)
    return out


def _first(d: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((d[k] for k in keys if d.get(k) not in (None, "", {}, [])), None)


def _error_text(d: dict[str, Any]) -> str:
    """`error: "..."`, or `err: {"type": ..., "message": ...}` as `type: message`."""
    for key in _ERROR_KEYS:
        value = d.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict):
            message, kind = value.get("message") or value.get("msg"), value.get("type") or value.get("kind")
            if isinstance(message, str):
                return f"{kind}: {message}" if isinstance(kind, str) and not message.startswith(kind) else message
    return ""


def _json_level(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):  # bunyan / pino: 60 fatal, 50 error, 40 warn, 30 info
        if value < 10:
            return None
        return FATAL if value >= 60 else ERROR if value >= 50 else WARN if value >= 40 else INFO if value >= 30 else 1
    return of_word(str(value).strip()) if isinstance(value, str) else None


def _json_record(i: int, line: str) -> Record | str | None:
    """A JSON-lines record; None when the line is not a JSON object. A Docker json-file line
    (`{"log": "...", "stream": ...}`) is the line it holds, returned as text."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    d = _flat(obj)
    msg = _first(d, _MSG_KEYS)
    if isinstance(msg, str) and "log" in d and msg is d["log"] and "stream" in d:  # Docker json-file
        return msg.rstrip("\n")
    text_msg = msg if isinstance(msg, str) else json.dumps(msg)[:MSG_CHARS] if msg is not None else ""
    error_text = _error_text(d)
    stack = _first(d, _STACK_KEYS)
    stack_text = stack if isinstance(stack, str) else "\n".join(map(str, stack)) if isinstance(stack, list) else ""
    rec = Record(i, i, _first(d, _TS_KEYS), _json_level(_first(d, _LEVEL_KEYS)), text_msg.strip()[:MSG_CHARS])
    parts = [text_msg, error_text, "\n".join(stack_text.split("\n")[:40])]
    rec.text = "\n".join(p for p in parts if p) or line
    if error_text:
        rec.msg = f"{rec.msg} {error_text.splitlines()[0][:300]}".strip() if error_text.strip() else rec.msg
    for s in (ln.strip() for ln in stack_text.split("\n")[1:]):
        if s.startswith(("at ", "File ")):
            rec.frames += 1
        elif _EXCEPTION_LINE.match(s):
            rec.exceptions.append(s[:300])
    if not rec.msg:
        rec.msg = line[:MSG_CHARS]
    return rec


def split(lines: list[str]) -> Iterator[Record]:
    """The records of a log's lines, in order."""
    splitter = Splitter(lines[: SAMPLE_LINES * 3])
    for i, line in enumerate(lines):
        rec = splitter.feed(i, line)
        if rec is not None:
            yield rec
    last = splitter.close()
    if last is not None:
        yield last
