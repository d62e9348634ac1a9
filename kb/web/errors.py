"""One error shape: JSON `{"error": {"code", "message"}}` under /api/ (and the health
endpoints), a friendly page elsewhere; rendered here and nowhere else."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException

from kb.config import MAX_HTTP_BODY
from kb.errors import KBError, RateLimited
from kb.triage.reading import MAX_CLI_BYTES, MAX_HTTP_BYTES

log = logging.getLogger("kb.web")


def error_body(code: str, message: str) -> dict[str, Any]:
    """The one JSON error body."""
    return {"error": {"code": code, "message": message}}


def _render(status: int, code: str, message: str) -> Any:
    if request.path.startswith("/api/") or request.path in ("/readyz", "/healthz"):
        return error_body(code, message), status
    return render_template("error.html", status=status, code=code, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(KBError)
    def kb_error(e: KBError) -> Any:
        body, status = _render(e.status, e.code, str(e))
        if isinstance(e, RateLimited):
            return body, status, {"Retry-After": str(e.retry_after)}
        return body, status

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> Any:
        code = (e.name or "error").lower().replace(" ", "_")
        message = e.description or e.name
        if e.code == 404 and request.path.startswith("/api/"):
            message = f"no API route {request.method} {request.path}"
        if e.code == 413 and request.endpoint in ("api.triage", "triage.submit"):
            message = (
                f"the log is over {MAX_HTTP_BYTES // 1_000_000} MB, the limit for a triage over HTTP - send its end "
                f"(`tail -c {MAX_HTTP_BYTES}`), or run `kb triage` on it (up to {MAX_CLI_BYTES // 1_000_000} MB)"
            )
        elif e.code == 413:
            message = (
                f"the request body is over {MAX_HTTP_BODY // 1024:,} KiB, the limit for a paste over HTTP - send the "
                "end of the log, or search locally with `kb search -` (up to 5 MB)"
            )
        resp = _render(e.code or 500, code, message)
        if e.code == 405 and getattr(e, "valid_methods", None):
            return resp[0], resp[1], {"Allow": ", ".join(e.valid_methods)}  # type: ignore[attr-defined]
        return resp

    @app.errorhandler(Exception)
    def unexpected(e: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _render(500, "internal_error", "internal error - the server log has the details")
