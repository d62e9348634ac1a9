"""A signature from a paste, for `kb new --from-query` and the no-match page's draft: its most
salient line, as a regex that matches the next occurrence of the same error.

The values that differ between occurrences become typed wildcards: numbers and sizes
(`excess: 4.061`, `1.70 GiB`), IPs, ports, UUIDs, hex ids, pod-name hashes, paths and
double-quoted values (`zone "api_limit"`, `request: "GET /v1/orders"`). Single-quoted ones stay
(`'maxmemory'`, `KeyError: 'user_id'`: mostly names), and so do error codes (`ORA-00942`,
`SQLSTATE 53300`, `ERROR 1040`, HTTP statuses) and the text. The line starts at its first word
(a log prefix, a level, `*548591` are dropped) and ends at the message's first clause, within
120 characters. The result runs on RE2.
"""

from __future__ import annotations

import re

from kb.linear_regex import compile_linear
from kb.normalize import identifiers, normalize_query, strip_prefix
from kb.salient import SALIENT

WINDOW = 120
_TOKEN = re.compile(
    r"(?P<uuid>\b[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b)"
    r"|(?P<pod>(?<![\w-])[a-z][a-z0-9]*(?:-[a-z][a-z0-9]*)*-[a-z0-9]{6,10}-[a-z0-9]{5}(?![a-z0-9-]))"
    r"|(?P<ip>\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b)"
    r"|(?P<hex>\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b)"
    r"|(?P<dq>\"[^\"\n]*\")"
    r"|(?P<path>(?<![\w.:/])/[^\s\"',;)]+)"
    r"|(?P<num>(?<![\w.])\d+(?:[.,]\d+)*(?!\w))"
)
_CLASSES = {
    "uuid": r"[0-9a-fA-F-]{36}",
    "ip": r"\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?",
    "hex": r"(?:0x)?[0-9a-fA-F]+",
    "dq": r'"[^"]*"',
    "path": r"/\S*",
    "num": r"\d+(?:[.,]\d+)*",
}
_CODE_WORDS = re.compile(r"(?i)(?:error|code|status|errno|exit|sqlstate|returned|http/\d\.\d|http)\W{0,3}$")
_LEVELS = frozenset("trace debug info notice warn warning error err fatal critical crit severe panic".split())
_WORD = re.compile(r"[A-Za-z]{3,}")


def _escape(text: str) -> str:
    """re.escape for people: only the characters that mean something in a regex; spaces flexible."""
    out = re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", text)
    return re.sub(r"\s+", r"\\s+", out)


def _salient_line(text: str) -> str | None:
    """The raw line (log prefix removed) whose normalized form has the most failure words."""
    norm = normalize_query(text)
    if not norm.lines:
        return None
    best = max(norm.lines, key=lambda ln: len(SALIENT.findall(ln)))  # max keeps the first on ties
    words = set(_WORD.findall(best.lower()))
    raws = [strip_prefix(ln).strip() for ln in (norm.source or text).replace("\r\n", "\n").split("\n")]
    scored = [(len(words & set(_WORD.findall(r.lower()))), -i, r) for i, r in enumerate(raws) if r]
    return max(scored)[2] if scored else None


_LEVEL_CODE = re.compile(r"(?i)\b(?:error|err|fatal)\s+\d{3,6}\b")  # `ERROR 1040 (HY000)`: MySQL's code


def _window(line: str) -> str:
    """From the first word that is not a log level (or a level followed by its error code), to the
    first clause boundary after the message (a `, ` or `; ` from 48 characters on), at most WINDOW."""
    coded = _LEVEL_CODE.search(line)
    words = (m.start() for m in _WORD.finditer(line) if m.group(0).lower() not in _LEVELS)
    start = min(coded.start() if coded else len(line), next(words, 0))
    rest = line[start:]
    bounds = [m.start() for m in re.finditer(r"[,;] ", rest) if 48 <= m.start() <= WINDOW]
    if bounds:
        return rest[: bounds[0]].rstrip(" ,;:")
    if len(rest) <= WINDOW:
        return rest.rstrip(" ,;:")
    cut = rest.rfind(" ", 0, WINDOW)
    return rest[: cut if cut > 0 else WINDOW].rstrip(" ,;:")


def generalize(line: str) -> str:
    """The regex for one line: text literal, volatile values as typed wildcards."""
    protected = [(m.start(), m.end()) for code in identifiers(line) for m in re.finditer(re.escape(code), line)]
    out: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(line):
        kind = m.lastgroup or ""
        if any(a <= m.start() < b for a, b in protected):
            continue
        value = m.group(0)
        if kind == "num" and "." not in value and "," not in value:
            before = line[: m.start()]
            if _CODE_WORDS.search(before) or (len(value) == 3 and 400 <= int(value) <= 599):
                continue  # an error code or an HTTP status: it identifies the error
        out.append(_escape(line[pos : m.start()]))
        if kind == "pod":
            prefix = value.rsplit("-", 2)[0]
            out.append(_escape(prefix) + r"-[a-z0-9]+-[a-z0-9]+")
        else:
            out.append(_CLASSES[kind])
        pos = m.end()
    out.append(_escape(line[pos:]))
    return "".join(out)


def signature_from(text: str) -> str | dict[str, str] | None:
    """A signature for pasted text: plain text when its salient line holds nothing volatile,
    else a regex; None when the paste has no line worth one."""
    line = _salient_line(text)
    if not line:
        return None
    window = _window(line)
    if len(_WORD.findall(window)) < 2:
        return None
    pattern = generalize(window)
    if pattern == _escape(window):  # nothing volatile: the text itself
        return window
    try:
        if compile_linear(pattern).search(text) is None:
            return window if window in text else None
    except ValueError:
        return window if window in text else None
    return {"regex": pattern}


def draft_title(text: str, limit: int = 70) -> str:
    """A title for a draft from its paste: the salient line (log prefix dropped), cut at a word."""
    raw = _salient_line(text)
    line = (_window(raw) if raw else "") or " ".join(text.split())
    if len(line) <= limit:
        return line
    return line[:limit].rsplit(" ", 1)[0].rstrip(" ,;:") or line[:limit]
