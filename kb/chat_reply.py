"""Answering a chat command in time: Slack wants an answer within 3 s (Mattermost is as
impatient), so the search runs on a worker; when it is not done after WAIT seconds the command is
acknowledged and the answer is posted to the command's `response_url` when it is ready."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import urlparse

from kb.errors import KBError
from kb.outbound import Post, Poster

log = logging.getLogger("kb.chat")
WAIT = 2.0  # seconds a command waits for its search before it is acknowledged instead

Message = dict[str, Any]


class Replier:
    """Runs chat searches on a small pool, answering in time or later through `response_url`."""

    def __init__(self, poster: Poster, wait: float = WAIT, workers: int = 2) -> None:
        self.poster = poster
        self.wait = wait
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kb-chat")

    def reply(
        self,
        work: Callable[[], Message],
        failure: Callable[[KBError], Message],
        ack: Message,
        response_url: str | None,
        kind: str = "reply",
    ) -> Message:
        """`work`'s message when it is ready within `wait` seconds; else `ack`, and the message
        (or `failure`'s, when kb cannot answer) goes to `response_url` when it is."""
        future = self._pool.submit(work)
        url = response_url if response_url and urlparse(response_url).scheme in ("http", "https") else None
        try:
            return _outcome(future, failure, self.wait if url else None)
        except FutureTimeout:
            assert url is not None
            future.add_done_callback(lambda f: self._late(f, failure, url, kind))
            return ack

    def _late(self, future: Future[Message], failure: Callable[[KBError], Message], url: str, kind: str) -> None:
        try:
            message = _outcome(future, failure, 0)
        except Exception:  # noqa: BLE001 - a bug: logged; the user saw the acknowledgement
            log.exception("a late chat answer failed")
            return
        self.poster.submit(Post(kind, url, message))


def _outcome(future: Future[Message], failure: Callable[[KBError], Message], timeout: float | None) -> Message:
    try:
        return future.result(timeout=timeout)
    except KBError as e:  # no index, a paste too long: said in the chat, not as an HTTP error
        return failure(e)
