"""A log's bytes to its lines: gzip opened, binary refused, bad UTF-8 replaced (and counted),
lines without breaks split at their timestamps, all within a cap that is never read past."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kb.errors import EmptyLog, LogTooLarge, NotALog

MAX_CLI_BYTES = 50_000_000  # `kb triage`
MAX_HTTP_BYTES = 10_000_000  # POST /api/v1/triage and the /triage page, decompressed
GZIP_MAGIC = b"\x1f\x8b"
MAX_LINE = 8192  # a longer line is split at its timestamps or JSON objects, else cut
SAMPLE = 65536
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27)) + b"\x7f"
_CONTROL_CHARS = re.compile("[" + re.escape(_CONTROL.decode()) + "]")
# Where a record starts inside a line that lost its breaks: an ISO or syslog timestamp, a
# JSON object after another one.
_RECORD_START = re.compile(
    r"(?<=\S)\s*(?=\[?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})|(?<=\S)\s+(?=[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} )"
)
_JSON_START = re.compile(r"(?<=\})\s*(?=\{\")")  # a JSON log: only between objects, never at a timestamp in one


@dataclass
class LogText:
    """A log decoded: its lines, the input line each comes from (None: line i is line i + 1),
    and what people should know about how it was read."""

    lines: list[str]
    numbers: list[int] | None = None
    notes: list[str] = field(default_factory=list)
    input_lines: int = 0

    def number(self, i: int) -> int:
        """The 1-based input line of line i."""
        return self.numbers[i] if self.numbers is not None else i + 1


def too_large(limit: int, where: str = "the log") -> LogTooLarge:
    mb = limit / 1_000_000
    if limit >= MAX_CLI_BYTES:
        hint = f"triage its end: `tail -c {limit} app.log | kb triage -`"
    else:
        hint = f"send its end (`tail -c {limit}`), or run `kb triage` on it (up to {MAX_CLI_BYTES // 1_000_000} MB)"
    return LogTooLarge(f"{where} is over {mb:g} MB, the limit for a triage here - {hint}")


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


def read_files(paths: Sequence[str], stdin: Readable, limit: int = MAX_CLI_BYTES) -> bytes:
    """The files (`-`: stdin) one after the other, each opened if gzipped; never more than
    `limit` bytes are read, however large a file is (LogTooLarge past it)."""
    parts: list[bytes] = []
    total = 0
    for name in paths or ["-"]:
        if name == "-":
            data = stdin.read(limit - total + 1)
        else:
            try:
                with Path(name).open("rb") as f:
                    data = f.read(limit - total + 1)
            except OSError as e:
                raise NotALog(f"cannot read {name}: {e.strerror or e}") from None
        where = "standard input" if name == "-" else name
        if len(data) > limit - total:
            raise too_large(limit, where)
        data = decompress(data, limit - total, where)
        total += len(data)
        if data and not data.endswith(b"\n"):
            data += b"\n"  # the next file starts on a line of its own
        parts.append(data)
    return b"".join(parts)


def decompress(data: bytes, limit: int, where: str = "the log") -> bytes:
    """gzip data opened (several members too), at most `limit` bytes of it; other data as it is."""
    if not data.startswith(GZIP_MAGIC):
        return data
    out: list[bytes] = []
    size = 0
    rest = data
    while rest.startswith(GZIP_MAGIC):
        d = zlib.decompressobj(wbits=31)
        try:
            chunk = d.decompress(rest, limit - size + 1)
        except zlib.error as e:
            raise NotALog(f"{where} is damaged gzip data ({e}) - send the plain text") from None
        size += len(chunk)
        out.append(chunk)
        if size > limit or d.unconsumed_tail:
            raise too_large(limit, f"{where}, decompressed,")
        if not d.eof:
            raise NotALog(f"{where} is truncated gzip data - send the whole file or the plain text")
        rest = d.unused_data
    return b"".join(out)


def decode(data: bytes | str) -> LogText:
    """The log's lines. Binary data is refused; lines that are not UTF-8 have their bad bytes
    replaced, and a note says how many there were."""
    notes: list[str] = []
    if isinstance(data, str):
        sample = data[:SAMPLE]
        odd = len(_CONTROL_CHARS.findall(sample))
        if "\x00" in sample or odd > len(sample) * 0.05:
            raise NotALog(_binary_message(odd / len(sample), len(sample)))
        text = data
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16, as Windows tools write logs
        text = data.decode("utf-16", errors="replace")
        notes.append("the log is UTF-16; read as such")
    else:
        _refuse_binary(data)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raw = data.split(b"\n")
            bad = 0
            decoded = []
            for line in raw:
                try:
                    decoded.append(line.decode("utf-8"))
                except UnicodeDecodeError:
                    bad += 1
                    decoded.append(line.decode("utf-8", errors="replace"))
            text = "\n".join(decoded)
            notes.append(
                f"{bad:,} line{'s' if bad != 1 else ''} {'were' if bad != 1 else 'was'} not UTF-8 (another encoding, "
                "or damage): the bytes that do not decode were replaced with \ufffd"
            )
    text = text.removeprefix("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not any(line.strip() for line in lines):
        raise EmptyLog("the log is empty: no records at any level - paste or upload a log")
    log = LogText(lines, notes=notes, input_lines=len(lines))
    if max(map(len, lines), default=0) > MAX_LINE:
        _split_long(log)
    return log


def _refuse_binary(data: bytes) -> None:
    sample = data[:SAMPLE]
    if not sample:
        return
    odd = len(sample) - len(sample.translate(None, _CONTROL))
    if sample.count(0) or odd > len(sample) * 0.05:
        raise NotALog(_binary_message(odd / len(sample), len(sample)))


def _binary_message(share: float, size: int) -> str:
    return (
        f"this looks like binary data, not a log ({share:.0%} of its first {size // 1024 or 1} KiB are "
        "control bytes) - triage a text log; open compressed ones first (only gzip is read as it is)"
    )


def _split_long(log: LogText) -> None:
    """Split lines over MAX_LINE where a record starts (a timestamp, a JSON object), and cut
    what is still too long; each piece keeps its input line number."""
    lines: list[str] = []
    numbers: list[int] = []
    split = cut = 0
    for n, line in enumerate(log.lines, 1):
        if len(line) <= MAX_LINE:
            lines.append(line)
            numbers.append(n)
            continue
        starts = _JSON_START if line.lstrip().startswith("{") else _RECORD_START
        pieces = [p for p in starts.split(line) if p]
        split += 1 if len(pieces) > 1 else 0
        for piece in pieces:
            if len(piece) > MAX_LINE:
                cut += 1
            for start in range(0, len(piece), MAX_LINE):
                lines.append(piece[start : start + MAX_LINE])
                numbers.append(n)
    if split:
        log.notes.append(
            f"{split:,} line{'s' if split != 1 else ''} over {MAX_LINE:,} characters held several records "
            "(no line breaks): split where each timestamp or JSON object starts"
        )
    if cut:
        log.notes.append(f"{cut:,} piece{'s' if cut != 1 else ''} longer than {MAX_LINE:,} characters cut into parts")
    log.lines, log.numbers = lines, numbers
