"""The prefix of a log line - timestamp, host, process, thread, logger, level - told apart
from its message, for the common formats: ISO-8601 timestamps with Java logback / Spring Boot
/ Python logging / Postgres columns, syslog (RFC 3164 and 5424), klog/glog, Apache and nginx
error and access logs, Android logcat, Python's default `LEVEL:logger:` and bare levels.

`Prefixes.parse` tries the format that matched last first: a log is one format, so a line
costs one regex, not a dozen."""

from __future__ import annotations

import re
from typing import NamedTuple

from kb.normalize import strip_prefix
from kb.triage.levels import ERROR, FATAL, INFO, WARN, of_word

_ISO = r"(?P<ts>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2}|\s?UTC)?)"
_LEVEL = (
    r"(?P<level>FATAL|CRITICAL|CRIT|EMERG|ALERT|PANIC|SEVERE|ERROR|ERR|WARNING|WARN|NOTICE|INFO|DEBUG|TRACE|"
    r"FINEST|FINER|FINE|fatal|critical|error|warning|warn|notice|info|debug|trace)"
)
_THREAD = r"(?:\[[^\]]{0,80}\]\s+)"
_BARE_LEVEL = r"^\[?(?P<level>FATAL|CRITICAL|ERROR|WARNING|WARN|INFO|DEBUG|TRACE)\]?(?::\s*|\s+)"
_LOGGER = r"(?:(?P<logger>[\w.$:/<>-]{1,120})\s+(?:-|:)\s+)"

FORMATS: list[tuple[str, re.Pattern[str]]] = [
    # 2026-03-10 04:12:55.123 [main] ERROR c.e.Orders - msg; ... ERROR 1 --- [main] c.e.Orders : msg;
    # 2026-03-10 04:12:55,123 ERROR [orders] msg; 2026-03-10 04:12:55 UTC [1234] FATAL:  msg (Postgres)
    (
        "iso-level",
        re.compile(
            rf"^\[?{_ISO}\]?\s+{_THREAD}?\[?{_LEVEL}\]?(?::\s+|\s+)(?:\d+\s+---\s+)?{_THREAD}{{0,3}}{_LOGGER}?"
            r"(?P<msg>.*)$"
        ),
    ),
    # Python logging's "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
    ("python", re.compile(rf"^{_ISO}\s+-\s+(?P<logger>\S+)\s+-\s+{_LEVEL}\s+-\s+(?P<msg>.*)$")),
    # klog / glog: E0310 04:12:55.123456   12345 file.go:123] msg
    (
        "klog",
        re.compile(r"^(?P<level>[IWEF])(?P<ts>\d{4} \d{2}:\d{2}:\d{2}\.\d{3,9})\s+\d+\s+[\w.-]+:\d+\]\s?(?P<msg>.*)$"),
    ),
    # RFC 3164: <34>Mar 10 04:12:55 host app[123]: msg (the <PRI> is optional)
    (
        "syslog",
        re.compile(
            r"^(?:<(?P<pri>\d{1,3})>)?(?P<ts>[A-Z][a-z]{2}\s+\d{1,2}\s\d{2}:\d{2}:\d{2})\s+(?P<host>\S+)\s+"
            r"(?P<app>[^\s:\[]{1,64})(?:\[\d+\])?:\s?(?P<msg>.*)$"
        ),
    ),
    # RFC 5424: <165>1 2026-03-10T04:12:55.123Z host app 123 ID47 [sd] msg
    (
        "syslog5424",
        re.compile(
            rf"^<(?P<pri>\d{{1,3}})>\d\s+{_ISO}\S*\s+\S+\s+\S+\s+\S+\s+\S+\s+(?:-|(?:\[[^\]]*\])+)\s?(?P<msg>.*)$"
        ),
    ),
    # ISO timestamp, host, program: what rsyslog writes with high-precision timestamps
    ("iso-syslog", re.compile(rf"^{_ISO}\s+(?P<host>[\w.-]+)\s+(?P<app>[^\s:\[]{{1,64}})(?:\[\d+\])?:\s(?P<msg>.*)$")),
    # nginx error log: 2026/03/10 04:12:55 [error] 1234#0: *5 msg
    (
        "nginx",
        re.compile(r"^(?P<ts>\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) \[(?P<level>\w+)\] \d+#\d+: (?:\*\d+ )?(?P<msg>.*)$"),
    ),
    # Apache error log: [Tue Mar 10 04:12:55.123456 2026] [proxy:error] [pid 12:tid 34] [client 1.2.3.4:5] msg
    (
        "apache",
        re.compile(
            r"^\[(?P<ts>[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}(?:\.\d+)? \d{4})\] "
            r"\[(?:[\w-]+:)?(?P<level>\w+)\] (?:\[pid \d+(?::tid \d+)?\] )?(?:\[client [^\]]*\] )?(?P<msg>.*)$"
        ),
    ),
    # Apache / nginx access log (common and combined): the request and the status are the message
    (
        "access",
        re.compile(
            r"^(?P<host>\S+) \S+ \S+ \[(?P<ts>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "
            r'"(?P<req>[^"]{0,2000})" (?P<status>\d{3}) \S+'
        ),
    ),
    # Android logcat: 03-17 16:13:46.765  2227  2794 V Tag: msg
    (
        "logcat",
        re.compile(
            r"^(?P<ts>\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3})\s+\d+\s+\d+\s+(?P<level>[VDIWEF])\s+(?P<tag>[^:]{0,80}?):\s"
            r"(?P<msg>.*)$"
        ),
    ),
    # logback without a date: 04:12:55.123 [main] ERROR c.e.Orders - msg
    (
        "time-level",
        re.compile(
            rf"^(?P<ts>\d{{2}}:\d{{2}}:\d{{2}}(?:[.,]\d{{1,6}})?)\s+{_THREAD}?{_LEVEL}\s+{_LOGGER}?(?P<msg>.*)$"
        ),
    ),
    # Python's basicConfig default: ERROR:orders.db:msg
    ("python-basic", re.compile(r"^(?P<level>CRITICAL|ERROR|WARNING|INFO|DEBUG):(?P<logger>[\w.]+):(?P<msg>.*)$")),
    # logfmt: ts=... level=error msg="..."
    (
        "logfmt",
        re.compile(r'^(?:(?:ts|time|t)=(?P<ts>\S+)\s+)?(?:level|lvl)=(?P<level>\w+)\s+(?:msg="?)?(?P<msg>.*?)"?$'),
    ),
    # A bare timestamp, then the message
    ("iso", re.compile(rf"^\[?{_ISO}\]?\s+(?P<msg>.*)$")),
    # A bare level: [ERROR] msg, ERROR: msg, WARN msg
    ("level", re.compile(_BARE_LEVEL + r"(?P<msg>.*)$")),
]
_BY_NAME = dict(FORMATS)
_PRI_LEVELS = (FATAL, FATAL, FATAL, ERROR, WARN, INFO, INFO, 1)  # syslog severity 0..7
_LEADING_LEVEL = re.compile(_BARE_LEVEL)


class Parsed(NamedTuple):
    """A line's timestamp as written (None: none), its level (None: it names none) and message."""

    ts: str | None
    level: int | None
    msg: str


class Prefixes:
    """Recognises line prefixes; remembers the format of the last line that had one."""

    def __init__(self) -> None:
        self.order = [name for name, _ in FORMATS]

    def parse(self, line: str) -> Parsed | None:
        """The line split into prefix and message, None when it has no prefix kb knows."""
        for i, name in enumerate(self.order):
            m = _BY_NAME[name].match(line)
            if m is not None:
                if i:
                    self.order.insert(0, self.order.pop(i))
                return _parsed(name, m)
        stripped = strip_prefix(line)  # the search's own prefixes (HDFS, bracketed fields, ...)
        if stripped != line and stripped.strip():
            head = line[: len(line) - len(stripped)]
            found = _LEADING_LEVEL.search(head) or re.search(r"\b(FATAL|ERROR|WARN|WARNING|INFO|DEBUG)\b", head)
            return Parsed(None, of_word(found.group(1)) if found else None, stripped)
        return None


def _parsed(name: str, m: re.Match[str]) -> Parsed:
    groups = m.groupdict()
    msg = groups["msg"] if "msg" in groups else ""
    level = of_word(groups["level"]) if groups.get("level") else None
    if name == "access":
        status = int(groups["status"])
        level = ERROR if status >= 500 else WARN if status >= 400 else INFO
        msg = f'"{groups["req"]}" {status}'
    elif groups.get("pri"):
        level = _PRI_LEVELS[int(groups["pri"]) % 8]
    if level is None and msg:  # a level column right after the prefix: syslog lines, bare timestamps
        lead = _LEADING_LEVEL.match(msg)
        if lead:
            level, msg = of_word(lead.group("level")), msg[lead.end() :]
    return Parsed(groups.get("ts"), level, msg)
