"""Who a request is, for the journal: the site's browsers by a session cookie, API clients by
the `X-KB-Client` and `X-KB-Session` headers they may send (a chat bot sends its user), else
their address. The journal stores only a salted hash of it (kb/journal/keys.py)."""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import Flask, g, request

from kb.journal import Origin

SID = "kb_sid"  # the site's session cookie: random, for counting one person's searches together
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def origin(channel: str) -> Origin:
    """The origin of the current request, through `channel` ("site", "api", an integration)."""
    if channel == "site":
        sid = site_session()
        return Origin("site", f"site:{sid}", sid)
    who = (request.headers.get("X-KB-Client") or request.remote_addr or "unknown")[:200]
    return Origin(channel, who, (request.headers.get("X-KB-Session") or who)[:200])


def site_session() -> str:
    if "sid" not in g:
        given = request.cookies.get(SID, "")
        g.sid = given if _TOKEN.fullmatch(given) else secrets.token_urlsafe(18)
    return str(g.sid)


def init_app(app: Flask) -> None:
    @app.after_request
    def _session_cookie(resp: Any) -> Any:
        if "sid" in g and request.cookies.get(SID) != g.sid:
            resp.set_cookie(SID, g.sid, httponly=True, samesite="Lax", secure=request.is_secure)
        return resp
