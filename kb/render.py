"""Article Markdown to safe HTML: tables, highlighted code, heading anchors; sanitized."""

from __future__ import annotations

import posixpath
import re

import markdown
import nh3

_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "details",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "span",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
_ATTRS = {
    "*": {"class", "id", "title"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan"},
}


_MD_LINK = re.compile(r'href="(?![a-z][a-z0-9+.-]*:|/|#)([^"#?]+)\.md(#[^"]*)?"')


def _article_links(html: str, path: str) -> str:
    """Relative links between articles (`../runbooks/x.md`) point at their article pages."""

    def repl(m: re.Match[str]) -> str:
        target = posixpath.normpath(posixpath.join(posixpath.dirname(path), m.group(1)))
        if target.startswith(".."):
            return m.group(0)
        return f'href="/a/{target}{m.group(2) or ""}"'

    return _MD_LINK.sub(repl, html)


def render_markdown(text: str, path: str = "") -> tuple[str, list[dict[str, str]]]:
    """Rendered, sanitized HTML and the table of contents (id, name, level) of an article body.

    `path` is the article's path under the articles root, for resolving links to other articles.
    """
    md = markdown.Markdown(
        extensions=["fenced_code", "tables", "sane_lists", "toc", "codehilite"],
        extension_configs={"codehilite": {"guess_lang": False, "css_class": "highlight"}, "toc": {"permalink": False}},
    )
    html = md.convert(text)
    toc: list[dict[str, str]] = []

    def walk(tokens: list[dict]) -> None:
        for t in tokens:
            toc.append({"id": t["id"], "name": t["name"], "level": str(t["level"])})
            walk(t.get("children", []))

    walk(getattr(md, "toc_tokens", []))
    return sanitize(_article_links(html, path)), toc


def sanitize(html: str) -> str:
    """Keep formatting; drop scripts, event handlers, iframes and javascript: URLs."""
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRS,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
