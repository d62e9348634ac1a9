"""The query log's writer: a search puts what it did on a bounded queue and returns; one thread
masks secrets, computes the problem's key and writes batches. A journal that is down or slow
never fails a search: the queue fills, the oldest are kept, what does not fit is dropped and
counted (`dropped`), and writes are retried with a backoff."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from kb.journal.base import Journal, SearchRecord
from kb.journal.keys import client_hash, mask_secrets, pack, template_of_masked

log = logging.getLogger("kb.journal")
BATCH = 256
LINGER = 0.5  # seconds the writer collects searches before it writes them (one wake-up, one transaction)
PRUNE_EVERY = 3600.0  # seconds between two pruning passes of the retention


@dataclass
class Pending:
    """A search as the request thread hands it over: nothing masked or hashed yet."""

    at: float
    channel: str
    who: str  # the client address or token: hashed with the salt by the writer
    session: str
    text: str  # the normalized paste
    match: str
    top_ids: list[str] = field(default_factory=list)
    top_scores: list[float] = field(default_factory=list)
    took_ms: float = 0.0
    vector: np.ndarray | None = None
    services: list[str] = field(default_factory=list)


class Writer:
    def __init__(
        self, journal: Journal, retention_days: float = 90.0, max_queue: int = 10_000, linger: float = LINGER
    ) -> None:
        self.journal = journal
        self.linger = linger
        self._wake = threading.Event()  # set by flush(): write what is queued now
        self.retention = retention_days * 86400.0
        self.queue: queue.Queue[Pending] = queue.Queue(maxsize=max_queue)
        self.dropped = 0
        self.written = 0
        self.failures = 0
        self._salt: str | None = None
        self._busy = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kb-journal", daemon=True)
        self._thread.start()

    def submit(self, pending: Pending) -> None:
        """Hand a search over; never blocks, never raises."""
        try:
            self.queue.put_nowait(pending)
        except queue.Full:
            self.dropped += 1

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is written (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._wake.set()
            if self.queue.empty() and not self._busy.is_set():
                return True
            time.sleep(0.01)
        return False

    def record(self, p: Pending) -> SearchRecord:
        if self._salt is None:
            self._salt = self.journal.salt()
        text = mask_secrets(p.text)
        return SearchRecord(
            at=p.at,
            channel=p.channel,
            client=client_hash(self._salt, p.who),
            session=p.session or "",
            query=text,
            template=template_of_masked(text),
            match=p.match,
            top_ids=p.top_ids,
            top_scores=p.top_scores,
            took_ms=p.took_ms,
            vector=pack(p.vector),
            services=p.services,
        )

    def _run(self) -> None:
        backoff = 0.5
        last_prune = 0.0
        while True:
            first = self.queue.get()
            self._busy.set()
            # Waking once per LINGER, not once per search, keeps the writer's share of the GIL
            # from landing in the middle of every search (bench/journal.py measures the difference).
            self._wake.wait(self.linger)
            self._wake.clear()
            batch = [first]
            while len(batch) < BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            while True:
                try:
                    self.journal.add_searches([self.record(p) for p in batch])
                    self.written += len(batch)
                    backoff = 0.5
                    break
                except Exception as e:  # noqa: BLE001 - the journal is down: keep the batch, retry
                    self.failures += 1
                    log.warning(
                        "query log: could not write %d searches (%s); retrying in %.0f s", len(batch), e, backoff
                    )
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
            if time.monotonic() - last_prune > PRUNE_EVERY:
                last_prune = time.monotonic()
                try:
                    self.journal.purge(time.time() - self.retention, votes=False)  # votes are kept
                except Exception as e:  # noqa: BLE001
                    log.warning("query log: could not prune (%s)", e)
            if self.queue.empty():
                self._busy.clear()
