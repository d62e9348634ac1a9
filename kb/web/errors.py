"""One error shape: JSON `{"error": {"code", "message"}}` under /api/, a friendly page elsewhere."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException

from kb.errors import KBError

log = logging.getLogger("kb.web")


def _render(status: int, code: str, message: str) -> Any:
    if request.path.startswith("/api/") or request.path in ("/readyz", "/healthz"):
        return {"error": {"code": code, "message": message}}, status
    return render_template("error.html", status=status, code=code, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(KBError)
    def kb_error(e: KBError) -> Any:
        body, status = _render(e.status, e.code, str(e))
        retry = getattr(e, "retry_after", None)
        return (body, status, {"Retry-After": str(retry)}) if retry else (body, status)

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> Any:
        code = (e.name or "error").lower().replace(" ", "_")
        message = e.description or e.name
        if e.code == 404 and request.path.startswith("/api/"):
            message = f"no API route {request.method} {request.path}"
        if e.code == 413:
            message = "the request body is too large (a query holds at most 20,000 characters)"
        resp = _render(e.code or 500, code, message)
        if e.code == 405 and hasattr(e, "valid_methods") and e.valid_methods:
            return resp[0], resp[1], {"Allow": ", ".join(e.valid_methods)}
        return resp

    @app.errorhandler(Exception)
    def unexpected(e: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _render(500, "internal_error", "internal error - the server log has the details")
