"""Prometheus metrics: request counts and latency per route, index state, `match: none` answers."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "kb_http_requests_total", "HTTP requests", ["route", "method", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "kb_http_request_duration_seconds",
            "HTTP request latency",
            ["route"],
            buckets=(0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56),
            registry=self.registry,
        )
        self.no_match = Counter(
            "kb_search_no_match_total", "Searches answered with match: none", registry=self.registry
        )
        self.searches = Counter("kb_searches_total", "Searches answered", ["match", "channel"], registry=self.registry)
        self.feedback = Counter("kb_feedback_total", "Votes recorded", ["vote"], registry=self.registry)
        self.dropped = Gauge(
            "kb_query_log_dropped", "Searches the query log could not keep (its queue was full)", registry=self.registry
        )
        self.articles = Gauge("kb_index_articles", "Articles in the serving index generation", registry=self.registry)
        self.generation = Gauge(
            "kb_index_generation_info", "Serving index generation", ["generation"], registry=self.registry
        )


def init_app(app: Flask) -> None:
    m = Metrics()
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
        return resp

    @app.get("/metrics")
    def metrics() -> Response:
        status = current_app.extensions["kb"].status()
        m.articles.set(status.articles)
        m.dropped.set(current_app.extensions["kb"].dropped_searches)
        m.generation.clear()
        if status.generation:
            m.generation.labels(status.generation).set(1)
        return Response(generate_latest(m.registry), mimetype=CONTENT_TYPE_LATEST)


def observe_search(match: str, channel: str) -> None:
    m: Metrics = current_app.extensions["kb_metrics"]
    m.searches.labels(match, channel).inc()
    if match == "none":
        m.no_match.inc()


def observe_feedback(vote: str) -> None:
    m: Metrics = current_app.extensions["kb_metrics"]
    m.feedback.labels(vote).inc()
