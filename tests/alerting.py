"""What the alert and chat hook tests share: notification payloads as Alertmanager writes them,
and a local HTTP receiver that stands in for Slack's incoming webhook (the KB with a runbook
that names its alerts is conftest's `alert_kb`)."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
from collections.abc import Iterator

ALERT_RUNBOOK_ID = "runbooks/orders-api-5xx"


def alert(name: str, status: str = "firing", fingerprint: str | None = None, **annotations: str) -> dict:
    """One alert as Alertmanager's webhook sends it."""
    labels = {"alertname": name, "namespace": "prod", "service": "orders", "severity": "critical"}
    return {
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": "2026-12-02T01:00:00.000Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-12-02T01:09:00.000Z",
        "generatorURL": "http://prometheus.example/graph?g0.expr=up",
        "fingerprint": fingerprint or f"fp-{name.lower()}",
    }


def notification(*alerts: dict, status: str | None = None) -> dict:
    """Alertmanager's webhook payload (version 4) for one group."""
    names = sorted({a["labels"]["alertname"] for a in alerts})
    return {
        "version": "4",
        "groupKey": '{}:{alertname="' + ",".join(names) + '"}',
        "truncatedAlerts": 0,
        "status": status or ("firing" if any(a["status"] == "firing" for a in alerts) else "resolved"),
        "receiver": "kb",
        "groupLabels": {"alertname": names[0]} if names else {},
        "commonLabels": {"namespace": "prod"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": list(alerts),
    }


class Receiver:
    """A local HTTP server that keeps the JSON bodies POSTed to it (Slack's incoming webhook, a
    command's response_url); `status` is what it answers."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[dict] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._cond:
                    receiver.bodies.append(json.loads(data))
                    receiver._cond.notify_all()
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/B000/secret"

    def wait(self, count: int, timeout: float) -> list[dict]:
        """The bodies once there are `count` of them (fewer after `timeout` seconds)."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.bodies) >= count, timeout)
            return list(self.bodies)


@contextlib.contextmanager
def receiver(status: int = 200) -> Iterator[Receiver]:
    r = Receiver(status)
    thread = threading.Thread(target=r.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


def wait_until(check, timeout: float, step: float = 0.05):
    """`check()`'s first truthy value within `timeout` seconds, else its last."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)
