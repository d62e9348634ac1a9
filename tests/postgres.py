"""A throwaway PostgreSQL for the tests: Debian's binaries, `initdb` and `pg_ctl` run as the
`postgres` user when the tests run as root (PostgreSQL refuses root), a temporary data and
socket directory, fsync off, loopback only, stopped by PID."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def binaries() -> Path | None:
    """The directory of initdb and pg_ctl (the newest Debian cluster version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


class Server:
    """One throwaway server: its URL, and stop / start for the tests of a database that goes away."""

    def __init__(self, root: Path, bin_dir: Path) -> None:
        self.root, self.bin_dir = root, bin_dir
        self.data, self.sockets, self.log = root / "data", root / "sock", root / "server.log"
        self.port = _free_port()
        self.url = f"postgresql://kb@127.0.0.1:{self.port}/postgres"
        self.pid: int | None = None

    def start(self) -> None:
        opts = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockets} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
        )
        pg_ctl = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.log)]
        subprocess.run(_as_postgres([*pg_ctl, "-w", "-t", "30", "start"]), check=True, capture_output=True)
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        if self.pid is not None:
            stop(self.pid)
            self.pid = None


@contextlib.contextmanager
def postgres_server() -> Iterator[Server]:
    """Start a server (user `kb`, no password, database `postgres`); stop it by PID afterwards."""
    bin_dir = binaries()
    assert bin_dir is not None, "no PostgreSQL binaries"
    server = Server(Path(tempfile.mkdtemp(prefix="kb-pg-")), bin_dir)
    server.sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(server.root, "postgres")
        shutil.chown(server.sockets, "postgres")
    initdb = [str(bin_dir / "initdb"), "-D", str(server.data), "-U", "kb", "-A", "trust", "-E", "UTF8", "--no-sync"]
    subprocess.run(_as_postgres(initdb), check=True, capture_output=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


def stop(pid: int, timeout: float = 10.0) -> None:
    """Stop the postmaster by PID: a fast shutdown, then SIGKILL if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)  # "fast" shutdown
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


def fresh_database(url: str, name: str) -> str:
    """A new empty database on that server; its URL."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name
