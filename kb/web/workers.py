"""`kb serve --workers N`: N server processes on one listening socket, and the master that keeps
them running.

The master binds the socket, then forks the workers before anything heavy is imported: it never
loads an index, an ONNX session or FAISS. (FAISS's OpenMP thread pool does not survive a fork: a
child's first multi-threaded search hangs when its parent searched before forking.) Each worker
builds the app itself - its own ONNX sessions, hot-reload thread, journal writer and triage
worker - and maps the index generation's files read-only (kb/dense.py, kb/lexical.py), so the
page cache holds one copy of the vectors whatever N is. Connections are accepted by whichever
worker is free first: the kernel wakes the workers polling the shared socket, and one of them
takes it.

Prometheus counters go through prometheus_client's multiprocess mode (one file per worker in a
directory of the master's, `PROMETHEUS_MULTIPROC_DIR`, set before a worker imports
prometheus_client, which picks its value store at import), so /metrics on any worker counts the
requests of all. Triages the site runs in the background are polled by any worker: their state
is written to the same directory (kb/triage/jobs.py).

Why not gunicorn: kb's requests are served by a hardened waitress (kb/web/server.py: a deadline
for a request's headers and for its body, room for 1,000 connections, the API's JSON errors for
malformed requests), tested against slow and hostile clients. gunicorn's threaded worker reads a
request's headers on a pool thread with no deadline of their own, and its documentation asks for
a buffering proxy in front against slow clients; kb is meant to be exposed as it is. What
gunicorn would add here - fork, restart a dead worker, stop them all - is this module.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

log = logging.getLogger("kb.workers")

GRACE = 10.0  # seconds the workers have to finish their requests and write their queues on a stop
FAST_DEATH = 10.0  # a worker that exits this soon after starting counts towards CRASH_LOOP
CRASH_LOOP = 5  # fast deaths in a row that stop the master instead of starting yet another worker
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def listen(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """The listening socket the workers share; OSError when it cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class Master:
    """Starts `workers` processes that each run `serve(number, shared_dir)`, starts another when
    one dies, and stops them all on SIGTERM or SIGINT."""

    def __init__(self, workers: int, serve: Callable[[int, Path], int]) -> None:
        self.workers = workers
        self.serve = serve
        self.children: dict[int, tuple[int, float]] = {}  # pid -> (worker number, started)
        self.stopping = False
        self.fast_deaths = 0
        self.dir = Path(tempfile.mkdtemp(prefix="kb-workers-"))

    def run(self) -> int:
        """Serve until stopped; the exit status (1 when the workers kept dying at start)."""
        metrics = self.dir / "metrics"
        metrics.mkdir()
        before = os.environ.get(MULTIPROC_ENV)
        os.environ[MULTIPROC_ENV] = str(metrics)  # before any worker imports prometheus_client
        previous = {s: signal.signal(s, self._stop) for s in (signal.SIGTERM, signal.SIGINT)}
        status = 0
        try:
            for number in range(self.workers):
                self._spawn(number)
            while self.children:
                if self.stopping:
                    status = max(status, self._stop_all())
                    break
                self._reap()
                if self.fast_deaths >= CRASH_LOOP:
                    log.error("workers exit as soon as they start (%d in a row): stopping", self.fast_deaths)
                    self.stopping = True
                    status = 1
                time.sleep(0.1)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            shutil.rmtree(self.dir, ignore_errors=True)
            if before is None:
                os.environ.pop(MULTIPROC_ENV, None)
            else:
                os.environ[MULTIPROC_ENV] = before
        return status

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _spawn(self, number: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                _die_with_parent()
                signal.signal(signal.SIGTERM, signal.SIG_DFL)  # until the worker's server sets its own
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the master, which stops us
                values = sys.modules.get("prometheus_client.values")
                if values is not None:  # imported before the fork: it picked its value store then
                    values.ValueClass = values.get_value_class()  # type: ignore[attr-defined]
                code = self.serve(number, self.dir)
            except BaseException:  # noqa: BLE001 - a worker never returns into the master's code
                log.exception("worker %d failed", number)
            finally:
                logging.shutdown()
                os._exit(code)
        self.children[pid] = (number, time.monotonic())
        log.info("worker %d started (pid %d)", number, pid)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            number, started = self.children.pop(pid, (None, 0.0))
            if number is None:
                continue
            _mark_dead(self.dir / "metrics", pid)
            if self.stopping:
                continue
            lived = time.monotonic() - started
            self.fast_deaths = self.fast_deaths + 1 if lived < FAST_DEATH else 0
            log.warning("worker %d (pid %d) %s after %.0f s: starting another", number, pid, _how(status), lived)
            self._spawn(number)

    def _stop_all(self) -> int:
        """SIGTERM to every worker (each finishes its requests and writes its queued query log),
        SIGKILL to one still running after GRACE; 0 when all stopped by themselves."""
        for pid in self.children:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + GRACE
        while self.children and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.05)
        status = 0
        for pid, (number, _) in list(self.children.items()):
            log.error("worker %d (pid %d) did not stop within %.0f s: killed", number, pid, GRACE)
            _signal(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            self.children.pop(pid)
            status = 1
        return status


def _how(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _mark_dead(metrics: Path, pid: int) -> None:
    """Drop a dead worker's live gauges from /metrics; its counters stay counted. (What
    prometheus_client.multiprocess.mark_process_dead does, without importing prometheus_client
    into the master, which would fix its value store there for good.)"""
    for file in metrics.glob(f"gauge_live*_{pid}.db"):
        file.unlink(missing_ok=True)


def _die_with_parent() -> None:
    """A worker gets SIGTERM when its master dies, even by SIGKILL (Linux), instead of serving on."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True) if name else None
    except OSError:
        return
    if libc is not None and hasattr(libc, "prctl"):
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the master died before that took effect
        os._exit(1)
