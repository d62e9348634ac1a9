"""The site, rendered server-side: works with JavaScript off."""

from __future__ import annotations

import shutil

from kb.config import Settings
from kb.indexer import build
from kb.journal.sqlite import SQLiteJournal
from kb.web import create_app


def test_home_has_the_paste_box(client):
    html = client.get("/").get_data(as_text=True)
    assert '<textarea id="q" name="q" maxlength="1000000"' in html
    assert "Content-Security-Policy" in client.get("/").headers


def test_results_page_shows_root_cause_and_fix(client):
    html = client.get("/search", query_string={"q": "x509: certificate has expired or is not yet valid"}).get_data(
        as_text=True
    )
    assert "TLS handshake fails" in html
    assert "Root cause:" in html and "Fix:" in html
    assert "strong match" in html


def test_query_is_escaped_where_echoed(client):
    html = client.get("/search", query_string={"q": "<script>alert(1)</script> disk full"}).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_no_match_offers_write_this_up(client):
    html = client.get("/search", query_string={"q": "How do I bake sourdough bread at home?"}).get_data(as_text=True)
    assert "No good match" in html
    assert "Write this up" in html
    assert "kb new known-issue" in html and "--from-query -" in html
    assert 'id="write-up-template"' in html and "type: known-issue" in html
    assert "How do I bake sourdough bread at home?" in html.split('id="write-up-template"', 1)[1]


def test_article_page_and_friendly_404(client):
    resp = client.get("/a/runbooks/tls-cert-expired")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Similar articles" in html and 'class="highlight"' in html
    missing = client.get("/a/no/such/article")
    assert missing.status_code == 404
    assert "Not found" in missing.get_data(as_text=True)


def _csrf(client) -> str:
    """The CSRF token a page gives this client (set as a cookie, echoed in its forms)."""
    html = client.get("/").get_data(as_text=True)
    return html.split('data-csrf="', 1)[1].split('"', 1)[0]


def test_feedback_form_without_javascript_keeps_the_filters(client, app):
    form = {"query": "disk full", "article_id": "runbooks/disk-full", "vote": "not_relevant", "type": "runbook",
            "service": "postgres", "include_hidden": "1"}  # fmt: skip
    assert client.post("/feedback", data=form).status_code == 403  # no CSRF token: refused
    resp = client.post("/feedback", data={**form, "csrf_token": _csrf(client)})
    assert resp.status_code == 303
    assert "type=runbook" in resp.location and "service=postgres" in resp.location
    assert "include_hidden=1" in resp.location and "thanks=runbooks" in resp.location
    assert [v.vote for v in SQLiteJournal(app.config["KB_SETTINGS"].data).votes()] == ["not_relevant"]
    js = client.post("/feedback", data={**form, "csrf_token": _csrf(client)}, headers={"Accept": "application/json"})
    assert js.status_code == 201 and js.json["ok"] is True


def test_a_long_paste_is_posted_and_stays_in_the_box(client):
    log = "".join(f"INFO step {i} done\n" for i in range(3000)) + "ERROR write failed: No space left on device\n"
    html = client.post("/search", data={"q": log, "csrf_token": _csrf(client)}).get_data(as_text=True)
    assert "Disk full" in html and 'id="searched-lines"' in html
    assert "ERROR write failed: No space left on device" in html.split("<textarea", 1)[1].split("</textarea>")[0]


def test_an_error_keeps_the_paste_in_the_box(client):
    resp = client.get("/search", query_string={"q": "my paste that must survive", "type": "runbooks"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "my paste that must survive" in html.split("<textarea", 1)[1] and "did you mean runbook?" in html


def test_hostile_article_html_is_sanitized(tmp_path):
    kb = tmp_path / "articles"
    kb.mkdir()
    (kb / "evil.md").write_text(
        "---\ntitle: Evil\ntype: kb\n---\n## Payload\n\n<script>window.pwned=1</script>\n\n"
        '<img src=x onerror="window.pwned=1">\n\n[click](javascript:window.pwned=1)\n\n'
        '<iframe src="https://example.com"></iframe>\n'
    )
    settings = Settings(articles=kb, index=tmp_path / "index", data=tmp_path / "var")
    build(settings, log=lambda m: None, progress=False)
    html = create_app(settings).test_client().get("/a/evil").get_data(as_text=True)
    body = html.split('<div class="body">', 1)[1]
    assert "<script>window" not in body and "onerror" not in body
    assert "javascript:" not in body and "<iframe" not in body
    shutil.rmtree(tmp_path / "index")


def test_the_api_page_is_readable_html(client):
    resp = client.get("/api")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    assert "/api/v1/search" in html and "include_hidden" in html and "/api/v1/openapi.json" in html
    assert 'href="/api"' in client.get("/").get_data(as_text=True)  # the footer's API link


def test_an_article_opened_from_results_links_back_to_them(client):
    results = client.get("/search", query_string={"q": "No space left on device"}).get_data(as_text=True)
    link = results.split('class="rtitle" href="', 1)[1].split('"', 1)[0]
    assert "?back=" in link
    page = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert 'id="back" href="/search?q=No' in page
    evil = client.get("/a/runbooks/disk-full?back=https://evil.example/").get_data(as_text=True)
    assert "evil.example" not in evil


def test_the_server_writes_one_access_line_per_request_without_the_paste(settings, caplog):
    import logging
    from dataclasses import replace

    from kb.web import create_app

    caplog.set_level(logging.INFO, logger="kb.access")
    create_app(settings).test_client().get("/search", query_string={"q": "password=hunter2 disk full"})
    lines = [r.getMessage() for r in caplog.records if r.name == "kb.access"]
    assert len(lines) == 1 and '"GET /search?…" 200' in lines[0] and " ms" in lines[0]
    assert "hunter2" not in lines[0]
    caplog.clear()
    create_app(replace(settings, access_log=False)).test_client().get("/healthz")
    assert not [r for r in caplog.records if r.name == "kb.access"]
