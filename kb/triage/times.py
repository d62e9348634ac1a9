"""Log timestamps as written to UTC datetimes (naive), for `--since` / `--until` and for
`first_seen` / `last_seen`. Formats without a year (syslog, klog, logcat) get the current one,
or last year's when that would put them in the future."""

from __future__ import annotations

import datetime as dt
import re

from kb.errors import BadQuery

_FORMATS = (
    "%a %b %d %H:%M:%S.%f %Y",  # Apache error log
    "%a %b %d %H:%M:%S %Y",
    "%d/%b/%Y:%H:%M:%S %z",  # access log
)
_YEARLESS = (
    (re.compile(r"^[A-Z][a-z]{2}\s+\d{1,2} \d{2}:\d{2}:\d{2}$"), "%Y %b %d %H:%M:%S"),  # syslog
    (re.compile(r"^\d{4} \d{2}:\d{2}:\d{2}\.\d+$"), "%Y %m%d %H:%M:%S.%f"),  # klog
    (re.compile(r"^\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d+$"), "%Y %m-%d %H:%M:%S.%f"),  # logcat
)
_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(ts: object, now: dt.datetime | None = None) -> dt.datetime | None:
    """A timestamp (text as logged, or unix seconds / milliseconds) as naive UTC; None if unknown."""
    if isinstance(ts, bool):
        return None
    if isinstance(ts, int | float):
        seconds = ts / 1000 if ts > 1e11 else ts
        try:
            return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(ts, str) or not ts:
        return None
    text = ts.strip()
    if text[:4].isdigit() and len(text) >= 10 and text[4] in "-/":
        iso = text.replace("/", "-", 2).replace(",", ".").replace(" UTC", "+00:00").replace("Z", "+00:00")
        iso = _FRACTION.sub(r"\1", iso)
        try:
            return _utc(dt.datetime.fromisoformat(iso))
        except ValueError:
            return None
    for fmt in _FORMATS:
        try:
            return _utc(dt.datetime.strptime(text, fmt))
        except ValueError:
            continue
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for rx, fmt in _YEARLESS:
        if rx.match(text):
            trimmed = _FRACTION.sub(r"\1", text)
            try:
                when = dt.datetime.strptime(f"{now.year} {trimmed}", fmt)
            except ValueError:
                return None
            return when.replace(year=now.year - 1) if when > now + dt.timedelta(days=1) else when
    return None


def _utc(when: dt.datetime) -> dt.datetime:
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when


def parse_bound(value: object, name: str) -> dt.datetime | None:
    """`--since` / `--until`: an ISO date or date and time (UTC unless it says otherwise)."""
    if value is None or value == "":
        return None
    when = parse_time(value) if isinstance(value, str) and value[:4].isdigit() else None
    if when is None:
        raise BadQuery(
            f"`{name}` must be a date or a date and time such as 2026-03-10 or 2026-03-10T04:00:00Z, "
            f"not {str(value)[:40]!r}"
        )
    return when
