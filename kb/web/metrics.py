"""Prometheus metrics: request counts and latency per route, index state, `match: none` answers.

Under `kb serve --workers N` (PROMETHEUS_MULTIPROC_DIR set by its master) the counters and
histograms live in prometheus_client's per-process files and /metrics on any worker adds up all
of them; the index's state is the answering worker's (they all follow one index directory)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()  # what /metrics reads
        # Where a counter registers: the registry itself in one process; in several, nowhere -
        # its values go to the shared files that the MultiProcessCollector reads.
        self.values: CollectorRegistry | None = self.registry
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            MultiProcessCollector(self.registry)
            self.values = None
        r = self.values
        self.requests = Counter("kb_http_requests_total", "HTTP requests", ["route", "method", "status"], registry=r)
        self.latency = Histogram(
            "kb_http_request_duration_seconds",
            "HTTP request latency",
            ["route"],
            buckets=(0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56),
            registry=r,
        )
        self.no_match = Counter("kb_search_no_match_total", "Searches answered with match: none", registry=r)
        self.searches = Counter("kb_searches_total", "Searches answered", ["match", "channel"], registry=r)
        self.feedback = Counter("kb_feedback_total", "Votes recorded", ["vote"], registry=r)
        self.dropped = Gauge(
            "kb_query_log_dropped",
            "Searches the query log could not keep (its queue was full)",
            registry=r,
            multiprocess_mode="livesum",
        )

    def register(self, collector: Collector) -> None:
        """A collector of this process's own state, read on each scrape of this process."""
        self.registry.register(collector)


class _IndexState(Collector):
    """The serving generation, read when /metrics is scraped."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        status = self.app.extensions["kb"].status()
        yield GaugeMetricFamily("kb_index_articles", "Articles in the serving index generation", value=status.articles)
        info = GaugeMetricFamily("kb_index_generation_info", "Serving index generation", labels=["generation"])
        if status.generation:
            info.add_metric([status.generation], 1)
        yield info


def init_app(app: Flask) -> None:
    m = Metrics()
    m.register(_IndexState(app))
    app.extensions["kb_metrics"] = m

    @app.after_request
    def _observe(resp: Any) -> Any:
        rule = request.url_rule.rule if request.url_rule else "unmatched"
        started = g.get("started")
        # Any token is a method to HTTP: labelled as sent, one series per invented method grew
        # /metrics and the process without bound (3,000 methods, 3,000 series).
        method = request.method if request.method in METHODS else "other"
        m.requests.labels(rule, method, str(resp.status_code)).inc()
        if started is not None:
            m.latency.labels(rule).observe(time.perf_counter() - started)
        m.dropped.set(current_app.extensions["kb"].dropped_searches)  # each worker keeps its own up to date
        return resp

    @app.get("/metrics")
    def metrics() -> Response:
        m.dropped.set(current_app.extensions["kb"].dropped_searches)
        return Response(generate_latest(m.registry), mimetype=CONTENT_TYPE_LATEST)


def observe_search(match: str, channel: str) -> None:
    m: Metrics = current_app.extensions["kb_metrics"]
    m.searches.labels(match, channel).inc()
    if match == "none":
        m.no_match.inc()


def observe_feedback(vote: str) -> None:
    m: Metrics = current_app.extensions["kb_metrics"]
    m.feedback.labels(vote).inc()
