"""The real Alertmanager (Debian's prometheus-alertmanager) as the client of a real `kb serve`:
bearer credentials, `group_wait: 1s`, `group_interval: 2s`, alerts injected through its
`POST /api/v2/alerts`. kb starts without an index, so the first notification is a 503 that
Alertmanager retries; once an index is published the retry is answered, the forward arrives at a
local receiver with the right runbook, and the resolve is acknowledged and not searched.

Skips when the binary is missing, except on CI (CI=true), where that fails."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from kb.journal.sqlite import SQLiteJournal

from .alerting import receiver, wait_until
from .conftest import FIXTURE_KB, need, serve_process

TOKEN = "am-s3cret"
HOOK = "/api/v1/hooks/alertmanager"
CONFIG = """\
route:
  receiver: kb
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: kb
    webhook_configs:
      - url: {kb}/api/v1/hooks/alertmanager
        send_resolved: true
        max_alerts: 200
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"""


def _binary() -> str | None:
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def alertmanager(kb: str, folder: Path) -> Iterator[str]:
    """Alertmanager on a free loopback port, its own storage and no cluster (never a system
    service), stopped by its PID; yields its base URL once /-/ready answers."""
    binary = _binary()
    need(binary is not None, "prometheus-alertmanager is missing (apt-get install prometheus-alertmanager)")
    assert binary is not None
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "alertmanager.yml"
    config.write_text(CONFIG.format(kb=kb, token=TOKEN))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = folder / "alertmanager.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=debug",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        ready = wait_until(lambda: proc.poll() is not None or _status(base + "/-/ready") == 200, 20)
        assert ready and proc.poll() is None, log.read_text()[-3000:]
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _status(url: str, headers: dict | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def _metric(kb: str, line: str) -> float:
    req = urllib.request.Request(kb + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        for row in resp.read().decode().splitlines():
            if row.startswith(line + " "):
                return float(row.split()[-1])
    return 0.0


def _post_alerts(am: str, alerts: list[dict]) -> None:
    req = urllib.request.Request(
        am + "/api/v2/alerts", json.dumps(alerts).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200


def _publish(index: Path, into: Path) -> None:
    """Put a built index where a running server looks, its CURRENT pointer last (as a build does)."""
    for item in index.iterdir():
        if item.name not in ("CURRENT", ".lock"):
            (shutil.copytree if item.is_dir() else shutil.copy)(item, into / item.name)
    shutil.copy(index / "CURRENT", into / "CURRENT.tmp")
    os.replace(into / "CURRENT.tmp", into / "CURRENT")


def test_alertmanager_retries_a_503_then_the_forward_arrives_and_the_resolve_is_not_searched(built_index, tmp_path):
    need(_binary() is not None, "prometheus-alertmanager is missing (apt-get install prometheus-alertmanager)")
    empty = tmp_path / "index"
    empty.mkdir()
    data = tmp_path / "var"
    hook_503 = f'kb_http_requests_total{{method="POST",route="{HOOK}",status="503"}}'
    hook_200 = f'kb_http_requests_total{{method="POST",route="{HOOK}",status="200"}}'
    resolved = 'kb_hook_alerts_total{match="unsearched",source="alertmanager",status="resolved"}'
    with (
        receiver() as chat,
        serve_process(FIXTURE_KB, empty, data, ready="/healthz", KB_API_TOKEN=TOKEN, KB_FORWARD_URL=chat.url) as (
            kb,
            proc,
        ),
        alertmanager(kb, tmp_path / "am") as am,
    ):
        labels = {"alertname": "KubePodCrashLooping", "namespace": "prod", "service": "search-api", "severity": "page"}
        annotations = {
            "summary": "Pod prod/search-api-7d9f8c6b5d-x2kqp is in CrashLoopBackOff",
            "description": "Container search-api was OOMKilled (exit code 137) 9 times in 31 minutes.",
            "runbook_url": f"{kb}/a/runbooks/kube-crashloopbackoff",
        }
        now = dt.datetime.now(dt.UTC)
        _post_alerts(am, [{"labels": labels, "annotations": annotations, "startsAt": now.isoformat()}])

        assert wait_until(lambda: _metric(kb, hook_503) >= 1, 15), "Alertmanager never notified kb"
        assert chat.bodies == []  # no index, no answer, nothing forwarded
        _publish(built_index, empty)

        (message,) = chat.wait(1, timeout=20)  # Alertmanager retried the 503 and kb answered it
        assert _metric(kb, hook_200) >= 1
        assert _metric(kb, 'kb_http_requests_total{method="POST",route="/api/v1/hooks/alertmanager",status="401"}') == 0
        (card,) = message["attachments"]
        assert card["title_link"] == f"{kb}/a/runbooks/kube-crashloopbackoff"
        assert card["title"] == "Pod in CrashLoopBackOff after OOMKilled (exit code 137)"
        fields = {f["title"]: f["value"] for f in card["fields"]}
        assert fields["Match"].startswith("exact") and fields["Alert"].startswith("KubePodCrashLooping (prod")
        assert fields["Fix"].startswith("Confirm OOMKilled in the last state")

        ended = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        _post_alerts(
            am,
            [{"labels": labels, "annotations": annotations, "startsAt": now.isoformat(), "endsAt": ended.isoformat()}],
        )
        assert wait_until(lambda: _metric(kb, resolved) >= 1, 15), "the resolve never arrived"
        time.sleep(0.6)  # the query log writes every 0.5 s
        assert len(chat.bodies) == 1  # a resolve is not forwarded
        searches = list(SQLiteJournal(data).searches(0.0))
        assert [s.channel for s in searches] == ["alertmanager"]  # the firing was searched once; the resolve never
        assert proc.poll() is None
