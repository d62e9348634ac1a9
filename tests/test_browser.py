"""The site in a real browser: Debian's chromium driven by Playwright, against `kb serve`."""

from __future__ import annotations

import os
import shutil
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from kb.config import Settings
from kb.indexer import build

from .conftest import FIXTURE_KB, need, serve_process

CHROMIUM = "/usr/bin/chromium"
EVIL = """---
title: Hostile article for the sanitizer test
type: kb
---
## Payload

<script>window.__pwned = 'script';</script>

<img src="x" onerror="window.__pwned = 'onerror'">

[click me](javascript:window.__pwned='link')

<iframe src="javascript:parent.__pwned='iframe'"></iframe>
"""

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """Where screenshots go: `make screenshots` sets KB_SCREENSHOTS=docs/screenshots; a plain
    test run keeps the tree clean."""
    folder = Path(os.environ.get("KB_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def site(tmp_path_factory, built_index):
    need(Path(CHROMIUM).exists(), f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        need(False, "playwright is not installed")
    root = tmp_path_factory.mktemp("site")
    articles = root / "articles"
    shutil.copytree(FIXTURE_KB, articles)
    (articles / "kb" / "hostile.md").write_text(EVIL)
    index = root / "index"
    shutil.copytree(built_index, index)
    build(Settings(articles=articles, index=index), log=lambda m: None, progress=False)  # embeds one file
    with serve_process(articles, index, root / "var") as (base, _):
        yield base, root / "var" / "journal.sqlite"


@pytest.fixture(scope="module")
def browser(site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    yield pg
    ctx.close()


def test_paste_an_error_and_see_the_fix(site, page, shots):
    base, _ = site
    page.goto(base + "/")
    page.screenshot(path=str(shots / "home.png"))
    page.fill(
        "#q",
        "2025-11-03 08:14:22.104 UTC [48213] FATAL:  remaining connection slots are reserved "
        "for non-replication superuser connections",
    )
    page.press("#q", "Control+Enter")
    page.wait_for_url("**/search?**")
    first = page.locator(".result").first
    assert "Postgres rejects new connections" in first.locator(".rtitle").inner_text()
    assert "PgBouncer" in first.locator(".fix").inner_text()
    assert first.locator(".conf").inner_text().lower().startswith("strong")
    page.screenshot(path=str(shots / "results.png"), full_page=True)


def test_filters_narrow_the_results(site, page):
    base, _ = site
    page.goto(base + "/")
    page.fill("#q", "connection refused timeout error")
    page.check("input[name=type][value=runbook]")
    page.click("#submit")
    page.wait_for_url("**/search?**")
    badges = page.locator(".result .badge").all_inner_texts()
    assert badges and set(badges) == {"Runbook"}


def test_no_match_offers_write_this_up(site, page):
    base, _ = site
    page.goto(base + "/search?q=" + urllib.request.quote("How do I bake sourdough bread at home?"))
    assert page.locator("#no-match").is_visible()
    # The near misses come first; the draft is folded below them.
    order = page.evaluate("[...document.querySelectorAll('ol.results, #write-up')].map(e => e.tagName)")
    assert order[0] == "OL" and order[-1] == "DETAILS"
    assert not page.locator("#write-up-command").is_visible()
    page.click("#write-up summary")
    assert "kb new known-issue" in page.locator("#write-up-command").inner_text()


def test_article_page_lists_similar_articles(site, page, shots):
    base, _ = site
    page.goto(base + "/a/runbooks/tls-cert-expired")
    assert page.locator("h1").first.inner_text().startswith("TLS")
    assert page.locator("#similar li a").count() >= 3
    assert page.locator(".body .highlight").count() >= 1
    assert page.locator(".copy-link").count() >= 1  # added by app.js
    page.screenshot(path=str(shots / "article.png"), full_page=True)


def test_feedback_buttons_record_a_row(site, page):
    base, db = site
    page.goto(base + "/search?q=" + urllib.request.quote("x509: certificate has expired or is not yet valid"))
    page.locator(".result").first.locator("button[value=solved]").click()
    page.locator(".result").first.locator(".fb-status").filter(has_text="Thanks").wait_for()
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT article_id, vote FROM votes").fetchall()
    assert ("runbooks/tls-cert-expired", "solved") in rows


def test_hostile_article_runs_no_script(site, page):
    base, _ = site
    page.goto(base + "/a/kb/hostile")
    page.wait_for_load_state("networkidle")
    links = page.locator(".body a")
    for i in range(links.count()):
        assert not (links.nth(i).get_attribute("href") or "").startswith("javascript:")
    if links.count():
        links.first.click()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator(".body iframe").count() == 0


def test_dark_mode_follows_the_system(site, browser, shots):
    base, _ = site
    ctx = browser.new_context(color_scheme="dark", viewport={"width": 390, "height": 844})
    pg = ctx.new_page()
    pg.goto(base + "/search?q=" + urllib.request.quote("OOM command not allowed when used memory > 'maxmemory'"))
    bg = pg.evaluate("getComputedStyle(document.body).backgroundColor")
    r, g, b = (int(x) for x in bg[bg.index("(") + 1 : bg.index(")")].split(",")[:3])
    assert r + g + b < 150, bg
    pg.screenshot(path=str(shots / "results-dark-phone.png"), full_page=False)
    ctx.close()
