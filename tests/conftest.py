"""Shared fixtures: a real index of the fixture KB (built once per session with the real
model), the Flask app, its test client and a CLI runner."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kb.config import Settings

DATA = Path(__file__).parent / "data"
FIXTURE_KB = DATA / "kb"
ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, reason: str) -> None:
    """Skip when a system part is missing, except on CI, where that is a failure."""
    if not condition:
        if ON_CI:
            pytest.fail(f"required on CI: {reason}")
        pytest.skip(reason)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test reads the developer's KB_* settings or writes into the repository."""
    for key in list(os.environ):
        if key.startswith("KB_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("KB_DATA", str(tmp_path / "var"))


@pytest.fixture(scope="session")
def built_index(tmp_path_factory) -> Path:
    """The fixture KB indexed once with the real model; tests must not modify it."""
    from kb.indexer import build

    index = tmp_path_factory.mktemp("index")
    build(Settings(articles=FIXTURE_KB, index=index), log=lambda m: None, progress=False)
    return index


@pytest.fixture
def index_copy(built_index, tmp_path) -> Path:
    """A private copy of the built index, for tests that change it."""
    dst = tmp_path / "index"
    shutil.copytree(built_index, dst)
    return dst


@pytest.fixture
def settings(built_index, tmp_path) -> Settings:
    return Settings(articles=FIXTURE_KB, index=built_index, data=tmp_path / "var", reload_interval=0.0)


@pytest.fixture(scope="session")
def kb_session(built_index):
    from kb.core import KnowledgeBase

    return KnowledgeBase(Settings(articles=FIXTURE_KB, index=built_index))


@pytest.fixture
def app(settings):
    from kb.web import create_app

    return create_app(settings, {"TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner():
    from click.testing import CliRunner

    return CliRunner()


@contextlib.contextmanager
def serve_process(
    articles: Path, index: Path, data: Path, ready: str = "/readyz", serve_args: tuple[str, ...] = (), **env: str
):
    """`kb serve` as a real process on a free port; yields its base URL once `ready` (/readyz:
    an index is loaded; /healthz: the process is up) answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kb = Path(sys.executable).with_name("kb")
    data.mkdir(parents=True, exist_ok=True)
    log = data / "serve.log"  # a file, not a pipe: a full pipe would block the server
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(kb), "--articles", str(articles), "--index", str(index), "serve", "--port", str(port), *serve_args],
            env={**os.environ, "KB_DATA": str(data), "KB_WORKERS": "1", **env},  # tests/test_workers.py: 2
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                urllib.request.urlopen(base + ready, timeout=1)
                break
            except OSError as e:  # refused, reset, or a slow first answer (URLError is one too)
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"kb serve did not become ready: {e}"
                time.sleep(0.2)
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A real PostgreSQL for the session (tests/postgres.py), on loopback."""
    from tests.postgres import binaries, postgres_server

    need(binaries() is not None, "PostgreSQL is missing (apt-get install postgresql)")
    need(os.geteuid() != 0 or shutil.which("runuser") is not None, "runuser is missing (util-linux)")
    with postgres_server() as server:
        yield server.url


@pytest.fixture
def postgres_url(postgres_server_url, request) -> str:
    """A fresh, empty database of that server for one test."""
    from tests.postgres import fresh_database

    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    return fresh_database(postgres_server_url, name)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path) -> Iterator[tuple[str, Path, str | None]]:
    """Each journal test on both backends: (name, KB_DATA, KB_DATABASE_URL or None)."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    yield request.param, tmp_path / "var", url


@pytest.fixture(scope="session")
def alert_kb(built_index, tmp_path_factory) -> tuple[Path, Path]:
    """(articles, index): the fixture KB plus a runbook that names its alerts
    (tests/data/alerts/), built over a copy of the fixture index (only that article is embedded)."""
    from kb.indexer import build

    root = tmp_path_factory.mktemp("alert-kb")
    articles, index = root / "articles", root / "index"
    shutil.copytree(FIXTURE_KB, articles)
    shutil.copy(DATA / "alerts" / "orders-api-5xx.md", articles / "runbooks" / "orders-api-5xx.md")
    shutil.copytree(built_index, index)
    build(Settings(articles=articles, index=index), log=lambda m: None, progress=False)
    return articles, index


def publish_new_article(tmp_path: Path, index: Path, slug: str) -> str:
    """Build `index` again from the fixture KB plus one article (kb/<slug>, about a "quasar flux
    capacitor"); the new generation's name."""
    from kb.indexer import build

    articles = tmp_path / "articles"
    shutil.copytree(FIXTURE_KB, articles)
    (articles / "kb" / f"{slug}.md").write_text(
        "---\ntitle: Quasar flux capacitor misaligned\ntype: kb\n---\n## Symptom\nThe quasar flux capacitor "
        "reports misalignment errors.\n"
    )
    build(Settings(articles=articles, index=index), log=lambda m: None, progress=False)
    return (index / "CURRENT").read_text().strip()
