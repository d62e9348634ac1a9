"""The Flask app: one app serves the site and the JSON API over the same core."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from flask import Flask, g, request

from kb.config import MAX_HTTP_BODY, Settings
from kb.core import KnowledgeBase

WEB_ROOT = Path(__file__).resolve().parents[2] / "web"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def create_app(settings: Settings | None = None, test_config: dict[str, Any] | None = None) -> Flask:
    """App factory: settings from the environment unless given."""
    app = Flask(
        __name__,
        template_folder=str(WEB_ROOT / "templates"),
        static_folder=str(WEB_ROOT / "static"),
        static_url_path="/static",
    )
    settings = settings or Settings.from_env()
    app.config.update(
        KB_SETTINGS=settings,
        MAX_CONTENT_LENGTH=MAX_HTTP_BODY,
        JSON_SORT_KEYS=False,
    )
    if test_config:
        app.config.update(test_config)
    # A search alone embeds its query on every core: on 2 cores ~4.5 instead of ~6 ms for a
    # short query, for ~70 MB more (bench/README.md).
    kb = KnowledgeBase(settings, lone_threads=os.cpu_count() or 1, background_reload=True, isolate_triage=True)
    kb.journal()  # opened now: a damaged one is in the log and on /readyz from the start
    app.extensions["kb"] = kb

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    from kb.web import api, auth, errors, hooks, metrics, origins, pages, ratelimit, triage

    errors.init_app(app)
    metrics.init_app(app)
    ratelimit.init_app(app, settings.rate_limit)  # before auth: it also slows down token guessing
    triage.init_app(app, settings)  # before auth: its bodies' limits must be raised before the CSRF check reads them
    auth.init_app(app, settings)
    origins.init_app(app)
    app.register_blueprint(api.bp)
    hooks.init_app(app, settings)  # alert webhooks and chat commands under /api/v1/hooks
    app.register_blueprint(pages.bp)

    if settings.access_log:
        access = logging.getLogger("kb.access")

        @app.after_request
        def _access_log(resp: Any) -> Any:
            """One line a request: client, method, path (never the query string: it holds pastes),
            status, milliseconds."""
            took = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
            path = request.path if len(request.path) <= 200 else request.path[:200] + "…"
            query = "?…" if request.query_string else ""
            access.info(
                '%s "%s %s%s" %d %.1f ms', request.remote_addr, request.method, path, query, resp.status_code, took
            )
            return resp

    @app.after_request
    def _json_redirects(resp: Any) -> Any:
        """Werkzeug's redirects (merged slashes, a missing trailing slash) carry an HTML body."""
        if request.path.startswith("/api/") and 300 <= resp.status_code < 400 and resp.mimetype == "text/html":
            resp.set_data(json.dumps({"error": {"code": "moved", "message": f"this is at {resp.location}"}}))
            resp.mimetype = "application/json"
        return resp

    @app.after_request
    def _headers(resp: Any) -> Any:
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        return resp

    return app
