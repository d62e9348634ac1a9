"""Bearer-token authentication for everything under /api/ (every blueprint mounted there, now
and later), when KB_API_TOKEN is set; the OpenAPI document stays open."""

from __future__ import annotations

import hmac

from flask import Flask, request

from kb.errors import Unauthorized

OPEN = ("/api/v1/openapi.json",)


def init_app(app: Flask, token: str | None) -> None:
    if not token:
        return
    expected = token.encode()

    @app.before_request
    def _auth() -> None:
        if not request.path.startswith("/api/") or request.path in OPEN:
            return
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), expected):
            raise Unauthorized("missing or wrong bearer token (Authorization: Bearer $KB_API_TOKEN)")
