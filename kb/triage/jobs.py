"""Triages that the site runs in the background: a 10 MB log never holds a request thread.

One worker thread runs the jobs one after the other (each triage mines in a worker process of
its own, kb/triage/worker.py); a page polls its job's progress and shows the result when it is
done. Jobs belong to the browser session that sent them, are kept for a while, then forgotten.

Under `kb serve --workers N` a page's polls reach any worker, so the worker running a job also
writes its state (and, once done, its result) to a directory the workers share; another worker
answers from there."""

from __future__ import annotations

import json
import logging
import os
import pickle
import queue
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.errors import KBError, NotFound, TriageBusy
from kb.triage.result import Triage

log = logging.getLogger("kb.triage")
KEEP = 32  # finished jobs remembered
TTL = 1800.0  # seconds a finished job is kept
MAX_WAITING = 4  # jobs queued behind the running one; past it, TriageBusy
SAVE_EVERY = 0.25  # seconds between two writes of a running job's progress to the shared directory
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass
class Job:
    """One triage of the site: its state and progress, then its result or its error."""

    id: str
    owner: str  # the browser session that sent it
    name: str  # the file's name, or "pasted log"
    size: int  # bytes (or characters) of the log
    created: float = field(default_factory=time.time)
    state: str = "queued"  # queued | running | done | failed
    phase: str = "queued"  # queued | reading | mining | matching | done
    done: int = 0
    total: int = 0
    finished: float | None = None
    result: Triage | None = None
    error: KBError | None = None
    work: Callable[[Job], Triage] | None = None  # until it runs
    saved: Callable[[Job, bool], None] | None = field(default=None, repr=False)  # TriageJobs._save
    _saved_at: float = 0.0

    def progress(self, phase: str, done: int, total: int) -> None:
        changed = phase != self.phase
        self.phase, self.done, self.total = phase, done, total
        if self.saved is not None and (changed or time.monotonic() - self._saved_at > SAVE_EVERY):
            self._saved_at = time.monotonic()
            self.saved(self, False)

    def status(self) -> dict[str, Any]:
        """What the page polls."""
        share = self.done / self.total if self.total else 0.0
        out: dict[str, Any] = {"id": self.id, "state": self.state, "phase": self.phase, "done": self.done}
        out.update(total=self.total, percent=round(100 * share, 1), name=self.name)
        if self.error is not None:
            out["error"] = {"code": self.error.code, "message": str(self.error)}
        return out


class TriageJobs:
    """The site's triages, run one at a time by a background thread."""

    def __init__(self, shared: Path | None = None) -> None:
        self.shared = shared  # where other workers read this one's jobs (kb serve --workers)
        if shared is not None:
            shared.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.jobs: dict[str, Job] = {}
        self.waiting: queue.Queue[Job] = queue.Queue()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def submit(self, owner: str, name: str, size: int, work: Callable[[Job], Triage]) -> Job:
        """Queue `work(job)`, a triage that reports its progress to the job; TriageBusy when
        too many are waiting already."""
        with self.lock:
            self._forget()
            if self.waiting.qsize() >= MAX_WAITING:
                raise TriageBusy(f"{MAX_WAITING} triages are waiting already - try again in a minute")
            job = Job(secrets.token_urlsafe(12), owner, name, size, work=work)
            if self.shared is not None:
                job.saved = self._save
                self._save(job, False)
            self.jobs[job.id] = job
            self.waiting.put(job)
            if self.thread is None:
                self.thread = threading.Thread(target=self._work, name="kb-triage-jobs", daemon=True)
                self.thread.start()
        return job

    def get(self, job_id: str, owner: str) -> Job:
        """A job of this owner; NotFound for another's, an unknown or a forgotten one."""
        job = self.jobs.get(job_id) or self._load(job_id)
        if job is None or not secrets.compare_digest(job.owner, owner):
            raise NotFound("no such triage: it finished more than 30 minutes ago, or it is another browser's")
        return job

    def _forget(self) -> None:
        now = time.time()
        done = sorted((j for j in self.jobs.values() if j.finished), key=lambda j: j.finished or 0.0)
        for j in done[: max(0, len(done) - KEEP)] + [j for j in done if now - (j.finished or now) > TTL]:
            self.jobs.pop(j.id, None)
            if self.shared is not None:
                for suffix in (".json", ".result"):
                    (self.shared / (j.id + suffix)).unlink(missing_ok=True)

    def _save(self, job: Job, with_result: bool) -> None:
        """Write the job's state (and its result) where the other workers read it."""
        assert self.shared is not None
        try:
            if with_result and job.result is not None:
                _write(self.shared / (job.id + ".result"), pickle.dumps(job.result))
            state = {k: getattr(job, k) for k in ("owner", "name", "size", "created", "state", "phase", "done")}
            state.update(total=job.total, finished=job.finished)
            if job.error is not None:
                state["error"] = {"code": job.error.code, "message": str(job.error), "status": job.error.status}
            _write(self.shared / (job.id + ".json"), json.dumps(state).encode())
        except OSError as e:  # the job goes on; only another worker's view of it is late
            log.warning("could not write triage job %s for the other workers: %s", job.id, e)

    def _load(self, job_id: str) -> Job | None:
        """Another worker's job, as it last wrote it; None when there is no such job."""
        if self.shared is None or not _ID.fullmatch(job_id):
            return None
        try:
            state = json.loads((self.shared / (job_id + ".json")).read_text())
            error = state.pop("error", None)
            job = Job(job_id, **state)
            if error is not None:
                job.error = KBError(error["message"], code=error["code"], status=error["status"])
            if job.state == "done":
                job.result = pickle.loads((self.shared / (job_id + ".result")).read_bytes())  # noqa: S301 - ours
        except (OSError, ValueError, TypeError, pickle.UnpicklingError):
            return None
        return job

    def _work(self) -> None:
        while True:
            job = self.waiting.get()
            work, job.work = job.work, None  # the log goes with it once it ran
            job.state, job.phase = "running", "reading"
            try:
                assert work is not None
                job.result = work(job)
                job.state, job.phase = "done", "done"
            except KBError as e:
                job.error, job.state = e, "failed"
            except Exception as e:  # noqa: BLE001 - the thread must go on with the next job
                log.exception("triage job %s failed", job.id)
                job.error = KBError(f"internal error ({type(e).__name__}) - the server log has the details", status=500)
                job.state = "failed"
            job.finished = time.time()
            if self.shared is not None:
                self._save(job, True)


def _write(path: Path, data: bytes) -> None:
    """Whole or not at all: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
