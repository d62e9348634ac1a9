"""What kb sends to other servers: JSON POSTs (a forwarded alert answer, a chat reply to a
`response_url`) on a worker thread of their own, so that no hook waits for another server. A
failure is logged and counted, never raised to the request that caused it."""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("kb.outbound")
TIMEOUT = 5.0  # seconds one POST may take
QUEUE = 1000  # posts waiting; past it a post is dropped (and counted)
OUTCOMES = ("sent", "failed", "dropped")


@dataclass(frozen=True)
class Post:
    kind: str  # what it is, for the counters: "forward", "reply"
    url: str
    body: dict[str, Any]
    on_sent: Callable[[], None] | None = None
    on_failed: Callable[[], None] | None = None  # not sent (failed or dropped)


def post_json(url: str, body: dict[str, Any], timeout: float = TIMEOUT) -> int:
    """POST `body` as JSON; the status. OSError (URLError, HTTPError, a timeout) when it fails."""
    data = json.dumps(body, ensure_ascii=False).encode()
    req = urllib.request.Request(url, data, {"Content-Type": "application/json", "User-Agent": "kb"}, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - the URL is configured or signed
        resp.read(65536)
        return int(resp.status)


class Poster:
    """One worker thread that sends posts in order; tells `observe` what became of each, per kind
    (the /metrics counters)."""

    def __init__(
        self, timeout: float = TIMEOUT, size: int = QUEUE, observe: Callable[[str, str], None] | None = None
    ) -> None:
        self.timeout = timeout
        self.observe = observe  # told each (kind, outcome)
        self._queue: queue.Queue[Post | None] = queue.Queue(size)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pending = 0  # queued or being sent
        self._done = threading.Condition(self._lock)

    def submit(self, post: Post) -> bool:
        """Queue a post; False (and counted as dropped) when the queue is full."""
        self._start()
        with self._lock:
            self._pending += 1
        try:
            self._queue.put_nowait(post)
            return True
        except queue.Full:
            with self._lock:
                self._pending -= 1
            self.record(post.kind, "dropped")
            log.warning("dropped a %s to %s: %d posts are waiting", post.kind, _host(post.url), QUEUE)
            _call(post.on_failed, post.kind)
            return False

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every queued post was sent or failed (tests, shutdown)."""
        with self._done:
            return self._done.wait_for(lambda: self._pending == 0, timeout)

    def record(self, kind: str, outcome: str) -> None:
        """Count one post's outcome (also for a post that could not even be made)."""
        if self.observe is not None:
            self.observe(kind, outcome)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="kb-outbound", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            post = self._queue.get()
            if post is None:
                return
            try:
                self._send(post)
            finally:
                with self._done:
                    self._pending -= 1
                    self._done.notify_all()

    def _send(self, post: Post) -> None:
        try:
            status = post_json(post.url, post.body, self.timeout)
        except (OSError, ValueError) as e:  # refused, DNS, timeout, 4xx/5xx (HTTPError), a bad URL
            self.record(post.kind, "failed")
            log.warning("could not post a %s to %s: %s", post.kind, _host(post.url), e)
            _call(post.on_failed, post.kind)
            return
        self.record(post.kind, "sent")
        log.info("posted a %s to %s (%d)", post.kind, _host(post.url), status)
        _call(post.on_sent, post.kind)


def _call(callback: Callable[[], None] | None, kind: str) -> None:
    if callback is None:
        return
    try:
        callback()
    except Exception:  # noqa: BLE001 - a callback's bug must not stop the worker
        log.exception("after a %s", kind)


def _host(url: str) -> str:
    """Where a post went, for the log: scheme and host only (incoming-webhook paths are secrets)."""
    from urllib.parse import urlparse

    p = urlparse(url)
    return f"{p.scheme}://{p.hostname or '?'}"
