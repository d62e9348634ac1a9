"""Article rendering: formatting kept, active content removed, article links resolved."""

from __future__ import annotations

from kb.render import render_markdown


def test_tables_code_and_heading_anchors():
    html, toc = render_markdown("## Fix it\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```bash\nkubectl get pods\n```\n")
    assert '<h2 id="fix-it">' in html
    assert "<table>" in html and 'class="highlight"' in html
    assert toc == [{"id": "fix-it", "name": "Fix it", "level": "2"}]


def test_active_content_is_removed():
    html, _ = render_markdown(
        '<script>x()</script>\n\n<img src="a.png" onerror="x()">\n\n'
        '[l](javascript:x())\n\n<iframe src="https://e.com"></iframe>\n'
    )
    assert "<script" not in html and "onerror" not in html
    assert "javascript:" not in html and "<iframe" not in html
    assert '<img src="a.png"' in html


def test_relative_article_links_point_at_article_pages():
    html, _ = render_markdown("[a](../kb/x.md) [b](y.md#sec) [c](https://e.com/z.md)", "runbooks/r.md")
    assert 'href="/a/kb/x"' in html and 'href="/a/runbooks/y#sec"' in html
    assert 'href="https://e.com/z.md"' in html
