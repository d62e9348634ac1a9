"""Who may use the server.

Without KB_API_TOKEN everything is open. With it:
- `/api/` (every blueprint mounted there, now and later) needs `Authorization: Bearer <token>`
  or the site's session cookie; the OpenAPI document stays open;
- the site needs a login: the token is entered once on /login and a session cookie is set
  (HttpOnly, SameSite=Strict; Secure over https) that holds an HMAC of the token, never the token,
  so every replica sharing the token accepts it and changing the token logs everyone out.
  KB_PUBLIC_SITE=1 opens the site instead (the API keeps its token, and /insights and the
  feedback form keep the login: they are what users wrote);
- `/metrics` needs the bearer token unless KB_METRICS_PUBLIC=1;
- `/healthz`, `/readyz` and static files stay open (probes and the login page need them);
- the chat hooks check their own secret instead (Slack's signature, Mattermost's token).

Every form POST carries a CSRF token (double-submit: a random SameSite=Strict cookie and the
same value in the form), checked here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, Flask, Response, g, redirect, render_template, request, url_for

from kb.config import Settings
from kb.errors import KBError, Unauthorized

SESSION = "kb_session"
CSRF = "kb_csrf"
OPEN = ("/api/v1/openapi.json", "/healthz", "/readyz", "/login", "/logout")
PRIVATE = ("/insights", "/feedback")  # what users wrote and did: the token's, even on a public site
# Chat hooks prove who calls them with their own secret (Slack's signature, Mattermost's token;
# kb/web/hooks.py): Slack and Mattermost cannot send kb's bearer token.
SELF_VERIFIED = ("/api/v1/hooks/slack", "/api/v1/hooks/slack/actions", "/api/v1/hooks/mattermost")

bp = Blueprint("auth", __name__)


class CsrfFailed(KBError):
    code = "csrf_failed"
    status = 403


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"kb site session v1", hashlib.sha256).hexdigest()


def _bearer_ok(token: str) -> bool:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def _session_ok(token: str) -> bool:
    return hmac.compare_digest(request.cookies.get(SESSION, "").encode(), session_value(token).encode())


def _safe_next(target: str | None) -> str:
    """Only a path on this site: no scheme, no host (an open redirect otherwise)."""
    parsed = urlparse(target or "/")
    if parsed.scheme or parsed.netloc or not (target or "/").startswith("/") or (target or "").startswith("//"):
        return "/"
    return target or "/"


def csrf_token() -> str:
    """This client's CSRF token (the form field must equal the cookie)."""
    if "csrf" not in g:
        g.csrf = request.cookies.get(CSRF) or secrets.token_urlsafe(24)
    return str(g.csrf)


def init_app(app: Flask, settings: Settings) -> None:
    token = settings.api_token
    app.register_blueprint(bp)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.config["KB_LOGIN_REQUIRED"] = bool(token) and not settings.public_site

    @app.before_request
    def _guard() -> Any:
        path = request.path
        if request.method == "POST" and not path.startswith("/api/") and request.endpoint != "static":
            field = request.form.get("csrf_token", "")
            cookie = request.cookies.get(CSRF, "")
            if not cookie or not hmac.compare_digest(field.encode(), cookie.encode()):
                raise CsrfFailed("the form is stale or came from another site - reload the page and send it again")
        if not token or path in OPEN or path in SELF_VERIFIED or request.endpoint == "static":
            return None
        if path == "/metrics":
            if not settings.metrics_public and not _bearer_ok(token):
                raise Unauthorized("missing or wrong bearer token for /metrics (or set KB_METRICS_PUBLIC=1)")
            return None
        if path.startswith("/api/"):
            if not (_bearer_ok(token) or _session_ok(token)):
                raise Unauthorized("missing or wrong bearer token (Authorization: Bearer $KB_API_TOKEN)")
            return None
        if (settings.public_site and path not in PRIVATE) or _session_ok(token) or _bearer_ok(token):
            return None
        if request.method == "GET":
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")), code=303)
        raise Unauthorized("log in first: this kb needs its token (/login)")

    @app.after_request
    def _csrf_cookie(resp: Response) -> Response:
        if "csrf" in g and request.cookies.get(CSRF) != g.csrf:
            resp.set_cookie(CSRF, g.csrf, httponly=True, samesite="Strict", secure=request.is_secure)
        return resp


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    from flask import current_app

    settings: Settings = current_app.config["KB_SETTINGS"]
    target = _safe_next(request.values.get("next"))
    if not settings.api_token:
        return redirect(target, code=303)
    if request.method == "POST":
        given = request.form.get("token", "")
        if hmac.compare_digest(given.encode(), settings.api_token.encode()):
            resp = redirect(target, code=303)
            value = session_value(settings.api_token)
            resp.set_cookie(
                SESSION, value, httponly=True, samesite="Strict", secure=request.is_secure, max_age=30 * 86400
            )
            return resp
        return render_template("login.html", next=target, message="That is not this kb's token."), 401
    return render_template("login.html", next=target, message=None)


@bp.post("/logout")
def logout() -> Any:
    resp = redirect(url_for("auth.login"), code=303)
    resp.delete_cookie(SESSION)
    return resp
