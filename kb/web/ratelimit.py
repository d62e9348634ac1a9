"""Per-client rate limit for the site and the API (KB_RATE_LIMIT requests a minute; 0 turns it
off). Probes and metrics are exempt: an orchestrator must always reach them; so are the hooks:
Alertmanager drops a notification answered 429 instead of retrying it, and chat users would see
an error for a busy server."""

from __future__ import annotations

import threading
import time

from flask import Flask, request

from kb.errors import RateLimited

EXEMPT = frozenset(("/healthz", "/readyz", "/metrics"))
HOOKS = "/api/v1/hooks/"


class TokenBuckets:
    """One bucket per client address, refilled continuously; burst = a tenth of a minute."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = max(1.0, per_minute / 10.0)
        self.buckets: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def take(self, client: str, now: float | None = None) -> float:
        """0 when a request may pass, else the seconds until it may."""
        now = time.monotonic() if now is None else now
        with self.lock:
            tokens, last = self.buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self.buckets[client] = (tokens - 1, now)
                return 0.0
            self.buckets[client] = (tokens, now)
            if len(self.buckets) > 10_000:  # forget idle clients
                self.buckets = {k: v for k, v in self.buckets.items() if now - v[1] < 120}
            return (1 - tokens) / self.rate


def init_app(app: Flask, per_minute: int) -> None:
    if per_minute <= 0:
        return
    buckets = TokenBuckets(per_minute)

    @app.before_request
    def _limit() -> None:
        if request.path in EXEMPT or request.path.startswith(HOOKS) or request.endpoint == "static":
            return
        wait = buckets.take(request.remote_addr or "?")
        if wait:
            message = f"more than {per_minute} requests a minute from this client; retry in {wait:.0f} s"
            raise RateLimited(message, retry_after=max(1, round(wait)))
