"""The remote CLI against a real `kb serve` with a token: `kb search --url` (and KB_URL, --token)
prints what a local search prints, with the same exit codes and --json; a log piped into the
real `kb` command; `kb.client.Client` for other tools."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kb.cli import cli
from kb.cli.render import format_response
from kb.client import Client
from kb.errors import KBError, RemoteError

from .conftest import FIXTURE_KB, serve_process

TOKEN = "remote-s3cret"
KB = str(Path(sys.executable).with_name("kb"))
PG = "FATAL:  remaining connection slots are reserved for non-replication superuser connections"
LOG = (
    "2026-03-10T04:12:55Z INFO  [orders] GET /api/v1/orders/123 200 12ms\n"
    "2026-03-10T04:12:56Z ERROR [orders] sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) " + PG + "\n"
    "2026-03-10T04:12:57Z INFO  [orders] retrying in 2s\n"
)


@pytest.fixture(scope="module")
def server(built_index, tmp_path_factory):
    with serve_process(FIXTURE_KB, built_index, tmp_path_factory.mktemp("remote-var"), KB_API_TOKEN=TOKEN) as (base, _):
        yield base


def _same(text: str) -> str:
    """A result listing without what differs between two runs of one search (its time)."""
    return re.sub(r"results in \d+ ms", "results in N ms", text)


def test_remote_search_prints_what_a_local_search_prints(server, kb_session, runner):
    remote = runner.invoke(cli, ["search", "--url", server, "--token", TOKEN, PG, "-k", "3"])
    assert remote.exit_code == 0, remote.output
    assert remote.output.startswith("match: strong - 3 results in")
    local = format_response(kb_session.search(PG, k=3))  # what `kb search` prints for a local index
    assert _same(remote.output) == _same(local + "\n")

    out = runner.invoke(cli, ["search", "--json", "-k", "2", PG], env={"KB_URL": server, "KB_API_TOKEN": TOKEN})
    remote_json, local_json = json.loads(out.output), kb_session.search(PG, k=2).to_dict()
    for doc in (local_json, remote_json):
        doc.pop("took_ms")
        for r in doc["results"]:
            r.pop("seen", None)  # the server logs searches: a result it answered before says so
    assert remote_json == local_json


def test_a_log_piped_to_a_remote_search(server):
    """`kubectl logs ... | kb search --url ... -`, through the installed command."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    out = subprocess.run(
        [KB, "search", "--url", server, "-k", "1", "-"],
        input=LOG,
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "KB_API_TOKEN": TOKEN},
    )
    assert out.returncode == 0, out.stderr
    assert "known-issues/postgres-too-many-connections" in out.stdout


def test_remote_errors_exit_1_with_what_to_do(server, runner):
    def remote(*args: str):
        return runner.invoke(cli, ["search", "--url", *args])

    denied = remote(server, "--token", "wrong", PG)
    assert denied.exit_code == 1
    assert "Error: missing or wrong bearer token" in denied.output and "--token or KB_API_TOKEN" in denied.output
    down = remote("http://127.0.0.1:9", PG)
    assert down.exit_code == 1 and "Error: cannot reach kb at http://127.0.0.1:9" in down.output
    empty = remote(server, "--token", TOKEN, " ")
    assert empty.exit_code == 1 and "Error: the query is empty" in empty.output  # as a local search says
    bad_k = remote(server, "--token", TOKEN, "-k", "99", PG)
    assert bad_k.exit_code == 1 and "`k` must be an integer from 1 to 50" in bad_k.output
    hidden = runner.invoke(cli, ["search", "--url", server, "--token", TOKEN, "--type", "runbok", PG])
    assert hidden.exit_code == 1 and "did you mean runbook?" in hidden.output


def test_the_typed_client(server):
    base = server
    r = Client(base, TOKEN).search(PG, k=2)
    assert r.match == "strong" and [x.id for x in r.results][:1] == ["known-issues/postgres-too-many-connections"]
    assert r.results[0].root_cause and r.results[0].confidence == "strong"
    with pytest.raises(KBError) as denied:
        Client(base).search(PG)
    assert denied.value.status == 401 and denied.value.code == "unauthorized"
    with pytest.raises(RemoteError):
        Client("127.0.0.1:9", timeout=2).search(PG)  # no scheme: http:// is assumed
