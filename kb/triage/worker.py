"""A server's triage mines in a worker process (`python -m kb.triage.worker`): the pass over
a 10 MB log is seconds of pure Python, which in the server's own process would hold the GIL
that every search needs. The worker has a memory limit and the triage a time budget; past it
the worker is killed. It reports progress as it goes, then the analysis or the error.

Frames on the worker's stdout: one byte (`p` progress, `r` result, `e` error), a 4-byte
length, a pickle. Both ends are this module: the parent writes the request, the child answers.
"""

from __future__ import annotations

import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import time
from typing import IO, Any

from kb.errors import KBError, QueryTooComplex, TriageFailed
from kb.triage.analysis import Analysis, Progress, analyse
from kb.triage.options import TriageOptions

MEMORY = 3 << 30  # bytes of address space a worker may use
_HEAD = struct.Struct("!cI")


def _send(out: IO[bytes], kind: bytes, payload: Any) -> None:
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_HEAD.pack(kind, len(data)) + data)
    out.flush()


def _frames(src: IO[bytes], into: queue.Queue[tuple[bytes, Any]]) -> None:
    """Read the worker's frames onto a queue; (b"", None) when it closed its end."""
    try:
        while head := src.read(_HEAD.size):
            if len(head) < _HEAD.size:
                break
            kind, size = _HEAD.unpack(head)
            into.put((kind, pickle.loads(src.read(size))))
    except (OSError, EOFError, pickle.UnpicklingError):
        pass
    into.put((b"", None))


def _write(dst: IO[bytes], data: bytes) -> None:
    try:
        dst.write(data)
        dst.close()
    except (BrokenPipeError, OSError):
        pass  # it died at once: its end of the pipe says why


def analyse_isolated(
    data: bytes | str, options: TriageOptions, limit: int, progress: Progress | None, budget: float
) -> Analysis:
    """`analysis.analyse` in a worker process, killed past `budget` seconds."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kb.triage.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True
    )
    assert proc.stdin is not None and proc.stdout is not None
    frames: queue.Queue[tuple[bytes, Any]] = queue.Queue()
    reader = threading.Thread(target=_frames, args=(proc.stdout, frames), name="kb-triage-reader", daemon=True)
    reader.start()
    deadline = time.monotonic() + budget
    request = pickle.dumps((data, options, limit, budget), protocol=pickle.HIGHEST_PROTOCOL)
    writer = threading.Thread(target=_write, args=(proc.stdin, request), name="kb-triage-writer", daemon=True)
    writer.start()  # a thread: a worker that stops reading cannot hold this one past the budget
    try:
        while True:
            try:
                kind, payload = frames.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise QueryTooComplex(
                    f"the triage ran past its budget of {budget:.0f} s and was stopped - triage a part of the log"
                ) from None
            if kind == b"p" and progress:
                progress(*payload)
            elif kind == b"r":
                result: Analysis = payload
                return result
            elif kind == b"e":
                code, status, message = payload
                raise KBError(message, code=code, status=status)
            elif kind == b"":
                proc.wait(timeout=5)
                raise TriageFailed(
                    f"the triage worker stopped (exit status {proc.returncode}) - the log may need more memory than "
                    "a triage may use; triage a part of it"
                )
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=5)
        proc.stdout.close()


def main() -> None:
    """The worker: read the request on stdin, answer on stdout."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever else prints goes to stderr, never into the frames
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    except (ImportError, ValueError, OSError):  # not on this platform, or a lower hard limit
        pass
    data, options, limit, budget = pickle.load(sys.stdin.buffer)
    try:
        result = analyse(data, options, limit, lambda *p: _send(out, b"p", p), time.monotonic() + budget)
    except KBError as e:
        _send(out, b"e", (e.code, e.status, str(e)))
    except MemoryError:
        message = "the log needs more memory than a triage may use - triage a part of it"
        _send(out, b"e", ("triage_failed", 500, message))
    else:
        _send(out, b"r", result)
    out.close()


if __name__ == "__main__":
    main()
