"""The production server: waitress, set up for clients that are slow, broken or hostile.

- Room for many connections (poll(), not select(): select stops at 1,024 descriptors) and a
  deadline for each request: its line and headers must arrive within HEADER_TIMEOUT of its first
  byte, its body within BODY_TIMEOUT after them. Waitress alone closes only *idle* connections,
  so ~100 clients sending headers at 1 byte/s used to fill its connection limit for good.
- Waitress's own errors (a malformed request line, headers too large, a body over the limit)
  are the API's JSON error shape for /api/ paths, not text/plain.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any

from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import ErrorTask

CONNECTION_LIMIT = 1000
MAX_REQUEST_BODY = 11 * 1024 * 1024  # a triage's 10 MB log and a form around it (kb.web.triage.BODY_LIMIT)
IDLE_TIMEOUT = 30  # seconds a connection may wait for its next request (keep-alive)


@dataclass(frozen=True)
class Timeouts:
    header: float = 10.0  # seconds from a request's first byte to the end of its headers
    body: float = 30.0  # seconds from the end of the headers to the end of the body (1 MiB at 35 KB/s)


def _api_request(request: Any, channel: Any) -> bool:
    """Whether a request waitress refused was for /api/: its parsed path when it got that far,
    else its first bytes (headers too large are refused before the request line is parsed)."""
    path = getattr(request, "path", None) or ""
    head = getattr(channel, "head", b"") or b""
    line = head.split(b"\r\n", 1)[0]
    return path.startswith("/api/") or b" /api/" in line


class JsonErrorTask(ErrorTask):
    """Waitress's error responses, in the API's JSON shape under /api/."""

    def execute(self) -> None:
        if not _api_request(self.request, self.channel):
            super().execute()
            return
        e = self.request.error
        code = e.reason.lower().replace(" ", "_")
        message = f"{e.reason}: {e.body}"
        if e.code == 413:  # refused from its Content-Length, before any of it was read
            message = (
                f"the request body is over {MAX_REQUEST_BODY // (1 << 20)} MiB - a triage takes a log of up to 10 MB "
                "(send its end, or run `kb triage` on it: up to 50 MB), a search up to 1 MiB"
            )
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        self.status = f"{e.code} {e.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class GuardedChannel(HTTPChannel):
    """A connection that knows when the request it is receiving started."""

    error_task_class = JsonErrorTask
    started: float | None = None  # first byte of the request being received
    headers_done: float | None = None
    head = b""  # its first bytes

    def received(self, data: bytes) -> bool:
        if self.request is None and data:
            self.started, self.headers_done, self.head = time.monotonic(), None, data[:2048]
        result: bool = super().received(data)
        if self.request is None:
            self.started = self.headers_done = None
        elif self.headers_done is None and self.request.headers_finished:
            self.headers_done = time.monotonic()
        return result

    def overdue(self, now: float, timeouts: Timeouts) -> bool:
        """Still receiving a request past its deadline (and not being answered)."""
        if self.started is None or self.requests:
            return False
        if self.headers_done is None:
            return now - self.started > timeouts.header
        return now - self.headers_done > timeouts.body


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Fewer glibc malloc arenas for the server's threads: each keeps the memory its thread freed,
    and a server's RSS grew ~50 MB under fuzzing with the default (8 per core), ~35 MB with 2."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "mallopt"):
            libc.mallopt(-8, arenas)  # M_ARENA_MAX
    except OSError:  # not glibc: nothing to tune
        pass


def make_server(
    app: Any, host: str, port: int, threads: int, timeouts: Timeouts | None = None, sock: socket.socket | None = None
) -> Any:
    """A waitress server for `app`, not yet running (`.run()`); OSError when it cannot bind.
    With `sock` it serves that listening socket (a worker of `kb serve --workers`) instead."""
    timeouts = timeouts or Timeouts()
    where: dict[str, Any] = {"sockets": [sock]} if sock is not None else {"host": host, "port": port}
    server = create_server(
        app,
        **where,
        threads=threads,
        ident="kb",
        connection_limit=CONNECTION_LIMIT,
        channel_timeout=IDLE_TIMEOUT,
        cleanup_interval=1,
        asyncore_use_poll=True,
        # Nothing takes more than a triage's 10 MB log (Flask holds other routes to 1 MiB): a
        # bigger upload is refused from its Content-Length, before waitress buffers any of it.
        max_request_body_size=MAX_REQUEST_BODY,
    )
    server.channel_class = GuardedChannel
    idle_cleanup = server.maintenance

    def maintenance(now: float) -> None:
        idle_cleanup(now)
        mono = time.monotonic()
        for channel in list(server.active_channels.values()):
            if isinstance(channel, GuardedChannel) and channel.overdue(mono, timeouts):
                channel.will_close = True

    server.maintenance = maintenance
    return server
