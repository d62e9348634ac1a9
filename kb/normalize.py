"""Pasted text to what we embed and match: strip log noise, mask volatile tokens, keep the
identifiers and error codes that make an error recognisable, and pick the salient lines."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kb.errors import QueryTooComplex
from kb.salient import LONG_CHARS, SALIENT, candidates

NORMALIZER_VERSION = 3
DENSE_CHAR_BUDGET = 1000  # ~200-250 word pieces: what fits the model window

# Colour codes and terminal titles; `[^\x07\x1b]*` stops at the next escape, so a run of
# unterminated `ESC ]` costs linear time (`[^\x07]*` rescanned to the end from each one).
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*\x07")
# Log prefixes: timestamps, levels, syslog host/process, bracketed thread or pid fields.
_PREFIXES = [
    re.compile(r"^\s*\[?\d{4}-\d{2}-\d{2}[T _]\d{1,2}:\d{2}(:\d{2}([.,]\d+)?)?\s*(Z|[+-]\d{2}:?\d{2}|UTC)?\]?\s*"),
    re.compile(r"^\s*\[?\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}(\s*[+-]\d{4})?\]?\s*"),
    re.compile(r"^\s*[A-Z][a-z]{2}\s+\d{1,2}\s+\d{2}:\d{2}:\d{2}(\s+[\w.-]+)?(\s+[\w./-]+(\[\d+\])?:)?\s*"),
    re.compile(r"^\s*\d{2}:\d{2}:\d{2}([.,]\d+)?\s*"),
    re.compile(r"^\s*\d{6,8}\s+\d{6}\s+"),  # 081109 203615 (HDFS-style)
    re.compile(r"^\s*[IWEF]\d{4}\s+\d{2}:\d{2}:\d{2}\.\d+\s+\d+\s+[\w.]+:\d+\]\s*"),  # klog
    # Levels only when bracketed or padded like a log column; a bare "FATAL:" or "Error ..."
    # is part of the message (Postgres, Go) and stays.
    re.compile(r"^\s*\[(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|FATAL|CRITICAL|CRIT|SEVERE|PANIC)\]\s*", re.I),
    re.compile(r"^\s*(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|FATAL|CRITICAL|SEVERE)\s+(?=\d+\s+---|\[)"),
    re.compile(r"^\s*\[[\w.@/ -]{1,40}\]\s*"),  # [main], [pool-1-thread-3], [12345]
    re.compile(r"^\s*\d+\s+---\s+\[[^\]]*\]\s+[\w.$]+\s*:\s*"),  # Spring Boot: pid --- [thread] logger :
    re.compile(r"^\s*(level|lvl|severity)=\w+\s*", re.I),
    re.compile(r"^\s*(ts|time|timestamp)=\S+\s*", re.I),
]
# A network endpoint, `redis-cart:6379`, `ip-10-0-3-189.eu-west-1.compute.internal:9100`: which
# host and port failed says nothing about why, and the words in a host's name (`redis-`) used to
# carry a DNS failure to the Redis articles. A name with a hyphen or a dot, then a port; not
# `file.py:42` nor `memory:1024`.
_ENDPOINT = re.compile(
    r"(?<![\w.:/-])(?=[a-z0-9.-]*[-.])[a-z][a-z0-9.-]*[a-z0-9](?<!\.py)(?<!\.go)(?<!\.js)(?<!\.rb)(?<!\.ts)"
    r"(?<!\.rs)(?<!\.java)(?<!\.scala)(?<!\.cpp)(?<!\.c)(?<!\.h):\d{2,5}\b(?![\d:]|\.\d)"
)
_VOLATILE = [
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), " "),
    (_ENDPOINT, " "),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}([.,]\d+)?)?(Z|[+-]\d{2}:?\d{2})?"), " "),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b"), " "),  # IPv4 and port
    (re.compile(r"\b(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}\b", re.I), " "),  # IPv6
    (re.compile(r"\b0x[0-9a-f]{4,}\b", re.I), " "),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{10,}\b", re.I), " "),  # hashes, trace ids
    # (Kubernetes generated pod-name suffixes are removed here, by _mask_pod_names.)
    (re.compile(r"(?<![\w.-])\d+(?:\.\d+)?\s?(?:ms|us|µs|ns|s|sec|secs|seconds|m|min|mins|minutes|h|hours)\b"), " "),
    # Long numbers, but not a SQLSTATE code such as `SQLSTATE 53300`.
    (re.compile(r"(?<!SQLSTATE )(?<!SQLSTATE: )(?<!SQLSTATE=)(?<![\w-])\d{5,}(?:\.\d+)?(?![\w-])"), " "),
    (re.compile(r"(?<=[A-Za-z0-9_.-]):\d{2,5}\b(?![\d.:])"), " "),  # host:8080, File.java:630
]
_PODS_AT = 7  # pod-name suffixes are masked before the durations (the 8th pattern)
_JAVA_FRAME = re.compile(r"^\s*at\s+[\w$.<>]+\(.*\)\s*$")
_MORE = re.compile(r"^\s*\.\.\.\s*\d+\s+(more|common frames omitted)")
_PY_FRAME = re.compile(r'^\s*File\s+"[^"]+",\s+line\s+\d+')
_GO_FRAME = re.compile(r"^\s*(goroutine \d+ \[|[\w/.-]+\.go:\d+|[\w./*()-]+\(0x[0-9a-f, .]*\)$)")
STOPWORDS = frozenset(
    "a an and are as at be been but by can did do does for from had has have how i if in into is it "
    "its me my no not of on or our so than that the their then there these they this to was we were "
    "what when where which while who why will with you your".split()
)
_TOKEN = re.compile(r"[a-z0-9_]+(?:[-.:/'][a-z0-9_]+)*", re.I)


@dataclass
class Normalized:
    """A normalized query: `dense` is embedded, `terms` are matched lexically."""

    original: str
    dense: str
    terms: list[str]
    lines: list[str] = field(default_factory=list)
    dropped_lines: int = 0
    identifiers: list[str] = field(default_factory=list)
    source: str = ""  # what signatures are matched against: the paste, or its candidate lines when long
    input_lines: int = 0  # non-empty lines of the paste


_LEVEL_COLUMN = re.compile(r"^(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|FATAL|CRITICAL|SEVERE)\s+")


def strip_prefix(line: str) -> str:
    """Remove timestamps, levels, hosts and similar log-line prefixes (repeatedly)."""
    original = line
    for _ in range(4):
        before = line
        for rx in _PREFIXES:
            line = rx.sub("", line, count=1)
        if line != original:  # after a timestamp, a bare upper-case level is a column
            line = _LEVEL_COLUMN.sub("", line, count=1)
        if line == before:
            break
    return line


def mask_volatile(text: str) -> str:
    """Remove tokens that differ between occurrences of the same error (ids, IPs, numbers)."""
    for i, (rx, repl) in enumerate(_VOLATILE):
        if i == _PODS_AT:
            text = _mask_pod_names(text)
        text = rx.sub(repl, text)
    return _SPACES.sub(" ", text).strip()


# Kubernetes pod names: <deployment>-<replica-set hash>-<pod hash> and <statefulset or job>-<hash>.
# Each maximal run of word characters and hyphens is split at its hyphens once and checked in
# Python, in time linear in its length: the equivalent regex backtracks quadratically on a long
# hyphenated run (`a-a-a-...`: 7 s for 20,000 characters).
_RUN = re.compile(r"(?<![\w-])[\w-]++")
_SPACES = re.compile(r"[ \t]{2,}")
_NAME_PART = re.compile(r"[a-z][a-z0-9]*")
_RS_HASH = re.compile(r"[a-z0-9]{6,10}")
_POD_HASH = re.compile(r"[a-z0-9]{5}")


def _hashlike(rx: re.Pattern[str], part: str) -> bool:
    return rx.fullmatch(part) is not None and any(c.isdigit() for c in part)


def _deployment_pod(parts: list[str], j: int) -> bool:
    return _hashlike(_RS_HASH, parts[j]) and _POD_HASH.fullmatch(parts[j + 1]) is not None


def _set_pod(parts: list[str], j: int) -> bool:
    return _hashlike(_POD_HASH, parts[j])


def _strip_suffix(parts: list[str], suffix: Callable[[list[str], int], bool], min_name: int, width: int) -> list[str]:
    """Drop `width` hash parts after every name of at least `min_name` parts (`[a-z][a-z0-9]*`
    each): the leftmost name, and of it the longest that is followed by hash parts."""
    out: list[str] = []
    i, n = 0, len(parts)
    while i < n:
        if not _NAME_PART.fullmatch(parts[i]):
            out.append(parts[i])
            i += 1
            continue
        m = i + 1
        while m < n and _NAME_PART.fullmatch(parts[m]):
            m += 1
        j = next((j for j in range(min(m, n - width), i + min_name - 1, -1) if suffix(parts, j)), None)
        if j is None:  # no later start in this name can match either: its candidates are a subset
            out.extend(parts[i:m])
            i = m
        else:
            out.extend(parts[i:j])
            i = j + width
    return out


def _pods_in_run(m: re.Match[str]) -> str:
    run = m.group(0)
    if run.count("-") < 2:
        return run
    parts = _strip_suffix(run.split("-"), _deployment_pod, 1, 2)
    return "-".join(_strip_suffix(parts, _set_pod, 2, 1))


def _mask_pod_names(text: str) -> str:
    return _RUN.sub(_pods_in_run, text) if "-" in text else text


def _collapse_traces(lines: list[str]) -> list[str]:
    """Stack traces to exception lines plus their top frames."""
    out: list[str] = []
    java_frames = 0
    py_frames: list[str] = []
    in_py = False
    for line in lines:
        s = line.strip()
        if _JAVA_FRAME.match(line) or _GO_FRAME.match(s):
            java_frames += 1
            if java_frames <= 3:
                out.append(s)
            continue
        java_frames = 0
        if _MORE.match(line):
            continue
        if s.startswith("Traceback (most recent call last)"):
            in_py, py_frames = True, []
            continue
        if in_py:
            if _PY_FRAME.match(line) or line.startswith(("    ", "\t")) or set(s) <= set("^~ "):
                if _PY_FRAME.match(line):
                    py_frames.append(s)
                continue
            out.extend(py_frames[-2:])  # the innermost frames say where it broke
            in_py = False
        out.append(line)
    return out


def normalize_query(text: str, char_budget: int = DENSE_CHAR_BUDGET, deadline: float | None = None) -> Normalized:
    """Normalize pasted text (error, log excerpt, trace, alert) for search; past `deadline`
    (time.monotonic()) it gives up with QueryTooComplex."""
    raw = _ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    raw_lines = raw.split("\n")
    input_lines = sum(1 for ln in raw_lines if ln.strip())
    long = len(raw) > LONG_CHARS
    if long:  # a whole log: normalize only the lines that can carry the failure (kb/salient.py)
        raw_lines = candidates(raw)
    source = "\n".join(raw_lines) if long else text
    lines = []
    for i, ln in enumerate(raw_lines):
        if deadline is not None and i % 256 == 255 and time.monotonic() > deadline:
            raise QueryTooComplex("the paste took too long to analyse - search on the lines that show the error")
        lines.append(strip_prefix(ln))
    lines = _collapse_traces([ln for ln in lines if ln.strip()])
    kept: list[str] = []
    seen: set[str] = set()
    for ln in lines:
        masked = mask_volatile(ln)
        key = masked.lower()
        if len(key) < 2 or key in seen:
            continue
        seen.add(key)
        kept.append(masked)
    dropped = 0
    if sum(len(k) + 1 for k in kept) > char_budget:
        kept, dropped = _salient_recent(kept, char_budget) if long else _salient(kept, char_budget)
    dense = "\n".join(kept).strip() or raw.strip()[:char_budget]
    terms = lexical_terms(dense)
    return Normalized(
        original=text,
        dense=dense,
        terms=terms,
        lines=kept,
        dropped_lines=dropped,
        identifiers=identifiers(dense),
        source=source,
        input_lines=input_lines,
    )


def _salient(lines: list[str], budget: int) -> tuple[list[str], int]:
    """Keep the lines that carry the failure, in their order, within the budget."""
    scored = sorted(range(len(lines)), key=lambda i: (not SALIENT.search(lines[i]), i))
    chosen: set[int] = set()
    used = 0
    for i in scored:
        cost = min(len(lines[i]), 300) + 1
        if used + cost > budget and chosen:
            continue
        chosen.add(i)
        used += cost
    keep = [lines[i][:300] for i in sorted(chosen)]
    return keep, len(lines) - len(keep)


_EXCEPTION = re.compile(r"\b\w+(?:Error|Exception)\b|^Caused by", re.I)


def _salient_recent(lines: list[str], budget: int) -> tuple[list[str], int]:
    """For a long paste: exception lines first, then other salient lines, then the rest, the
    most recent first within each; the chosen ones in their order, within the budget."""

    def rank(i: int) -> tuple[int, int]:
        line = lines[i]
        return (0 if _EXCEPTION.search(line) else 1 if SALIENT.search(line) else 2, -i)

    chosen: set[int] = set()
    used = 0
    for i in sorted(range(len(lines)), key=rank):
        cost = min(len(lines[i]), 300) + 1
        if used + cost > budget and chosen:
            continue
        chosen.add(i)
        used += cost
    keep = [lines[i][:300] for i in sorted(chosen)]
    return keep, len(lines) - len(keep)


_IDENT = re.compile(
    r"\b(?:[A-Z][A-Z0-9]{1,9}[-_]\d{2,6}[A-Z]?|SQLSTATE\s*\w{5}|E[A-Z]{3,}|"
    r"[A-Z][a-z]+(?:[A-Z][a-z0-9]*)+(?:Error|Exception|Fault|Killed|BackOff|Loop\w*)?|"
    r"(?<![\w.])[a-z_]\w*+\.[\w.]*(?:Error|Exception)|[A-Z]{2,}_[A-Z_]{2,})\b"
)


def identifiers(text: str) -> list[str]:
    """Error codes, exception classes and CamelCase identifiers found in text."""
    return list(dict.fromkeys(m.group(0) for m in _IDENT.finditer(text)))


_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def lexical_terms(text: str) -> list[str]:
    """Lexical tokens: identifiers stay whole (`ora-00942`, `kubepodcrashlooping`) and also
    yield their parts, split at punctuation and at case changes (`kube`, `pod`, `crash`, ...),
    so a runbook titled by an alert name matches the words of the alert's message."""
    out: list[str] = []
    for m in _TOKEN.finditer(text):
        raw = m.group(0).strip("'")
        tok = raw.lower()
        pieces = [p for p in re.split(r"[-.:/']", raw) if p]
        parts: list[str] = []
        for piece in pieces:
            lower = piece.lower()
            parts.append(lower)
            if piece != lower and piece != piece.upper():  # camelCase or CamelCase: its words too
                words = [w.lower() for w in _CAMEL.findall(piece)]
                if len(words) > 1:
                    parts += words
        if len(pieces) > 1:
            out.append(tok)
        for p in parts:
            if p not in STOPWORDS and not (p.isdigit() and len(p) < 3) and len(p) > 1:
                out.append(p)
    return out


def normalize_document(text: str) -> str:
    """Article text as it is embedded and matched: volatile tokens masked, prefixes kept."""
    return "\n".join(mask_volatile(ln) for ln in text.split("\n"))
