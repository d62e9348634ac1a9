"""With KB_API_TOKEN set the whole server is guarded: the API by the bearer token (or the site's
session), the site by a login, /metrics by the token unless opened; probes stay open."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kb.web import create_app
from kb.web.auth import SESSION


def _client(settings, **changes):
    return create_app(replace(settings, api_token="s3cret", **changes)).test_client()


def _csrf(client) -> str:
    html = client.get("/login").get_data(as_text=True)
    return html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_the_site_needs_a_login_and_keeps_where_you_were_going(settings):
    client = _client(settings)
    for path in ("/", "/search?q=disk", "/a/runbooks/disk-full"):
        resp = client.get(path)
        assert resp.status_code == 303 and resp.location.startswith("/login?next=")
    assert client.post("/feedback", data={"csrf_token": "x"}).status_code in (401, 403)
    wrong = client.post("/login", data={"token": "nope", "next": "/search?q=disk", "csrf_token": _csrf(client)})
    assert wrong.status_code == 401 and SESSION not in wrong.headers.get("Set-Cookie", "")
    ok = client.post("/login", data={"token": "s3cret", "next": "/search?q=disk", "csrf_token": _csrf(client)})
    assert ok.status_code == 303 and ok.location == "/search?q=disk"
    cookie = ok.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "s3cret" not in cookie
    assert client.get("/search?q=disk").status_code == 200
    assert client.get("/api/v1/search?q=disk").status_code == 200  # the page's own calls use the session


def test_a_login_never_redirects_off_the_site(settings):
    client = _client(settings)
    for target in ("https://evil.example/x", "//evil.example/x", "javascript:alert(1)"):
        resp = client.post("/login", data={"token": "s3cret", "next": target, "csrf_token": _csrf(client)})
        assert resp.location == "/"


def test_the_api_needs_the_bearer_token_and_probes_stay_open(settings):
    client = _client(settings)
    assert client.get("/api/v1/search?q=disk").status_code == 401
    assert client.get("/api/v1/search?q=disk", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200
    assert client.get("/api/v1/openapi.json").status_code == 200


@pytest.mark.parametrize("public", [False, True])
def test_metrics_need_the_token_unless_opened(settings, public):
    client = _client(settings, metrics_public=public)
    assert client.get("/metrics").status_code == (200 if public else 401)
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_a_public_site_opens_the_pages_not_the_api(settings):
    client = _client(settings, public_site=True)
    assert client.get("/search?q=disk").status_code == 200
    assert client.get("/api/v1/search?q=disk").status_code == 401


def test_every_form_post_needs_its_csrf_token(settings):
    client = create_app(settings).test_client()  # open server: CSRF still applies
    html = client.get("/").get_data(as_text=True)
    token = html.split('data-csrf="', 1)[1].split('"', 1)[0]
    body = {"q": "disk full"}
    assert client.post("/search", data=body).status_code == 403
    assert client.post("/search", data={**body, "csrf_token": "forged"}).status_code == 403
    assert client.post("/search", data={**body, "csrf_token": token}).status_code == 200
