"""Root cause and fix, as results show them: the frontmatter field, else an excerpt of the
article's section, kept as Markdown (code, lists and links survive), cut at a block or
sentence boundary, and given as text (code indented, for terminals and tools) and as sanitized
HTML (with a "more" link to the section when it was cut)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape

from kb.sections import blank_comments, fences, sections

LIMIT = 600  # characters of Markdown an excerpt holds (a code block may take it to 2x)
ROOT_CAUSE = ("root cause", "cause")
RESOLUTION = ("resolution", "workaround", "mitigation", "fix", "permanent fix")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`*(\[])")


@dataclass(frozen=True)
class Excerpt:
    markdown: str
    more: bool  # the section goes on
    heading: str  # the section's heading ("" for a frontmatter field)


def _blocks(text: str) -> list[str]:
    """Paragraphs, lists and fenced code blocks (whole), comments dropped."""
    lines = blank_comments(text).split("\n")
    code = {i: f for f in fences(lines) for i in range(f.open, min(f.close + 1, len(lines)))}
    out: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(lines):
        if i in code:
            if current:
                out.append("\n".join(current))
                current = []
            fence = code[i]
            out.append("\n".join(lines[fence.open : min(fence.close + 1, len(lines))]))
            i = fence.close + 1
            continue
        if lines[i].strip():
            current.append(lines[i].rstrip())
        elif current:
            out.append("\n".join(current))
            current = []
        i += 1
    if current:
        out.append("\n".join(current))
    return [b for b in out if b.strip()]


def _cut(block: str, limit: int) -> str:
    """A prose block cut at the last sentence end within the limit (else at a word)."""
    ends = [m.start() for m in _SENTENCE_END.finditer(block) if m.start() <= limit]
    if ends:
        return block[: ends[-1]].rstrip()
    return block[:limit].rsplit(" ", 1)[0].rstrip() + " …"


def excerpt(body: str, names: tuple[str, ...], limit: int = LIMIT) -> Excerpt | None:
    """The first `##`/`###` section named one of `names` (to the next heading of level 1-3)."""
    found = sections(body)
    for i, s in enumerate(found):
        if not (2 <= s.level <= 3 and s.heading.lower().rstrip(":").strip() in names):
            continue
        end = next((t.at for t in found[i + 1 :] if 1 <= t.level <= 3), len(body))
        blocks = [b for b in _blocks(body[s.start : end]) if not b.lstrip().startswith("|")]
        if not blocks:
            continue
        kept: list[str] = []
        used = 0
        for b in blocks:
            is_code = b.lstrip().startswith(("```", "~~~"))
            if kept and used + len(b) > limit:
                break
            if not kept and len(b) > (2 * limit if is_code else limit):
                kept.append(b if is_code else _cut(b, limit))
                used = limit
                break
            kept.append(b)
            used += len(b)
        more = len(kept) < len(blocks) or kept[-1] != blocks[len(kept) - 1]
        return Excerpt("\n\n".join(kept), more, s.heading)
    return None


_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
# Underscores emphasize only at word edges (CommonMark): max_connections stays as it is.
_EMPHASIS = re.compile(r"(\*\*|\*)(?=\S)(.+?)(?<=\S)\1|(?<!\w)(__|_)(?=\S)(.+?)(?<=\S)\3(?!\w)")
_CODE = re.compile(r"`+([^`]+)`+")
_TAG = re.compile(r"<[^>\n]+>")


def to_text(markdown: str) -> str:
    """Markdown as plain text: formatting dropped, a paragraph a line, code blocks indented."""
    out: list[str] = []
    for block in _blocks(markdown):
        if block.lstrip().startswith(("```", "~~~")):
            out += ["    " + ln for ln in block.split("\n")[1:-1] if ln.strip()] or []
            continue
        lines = []
        for ln in block.split("\n"):
            parts = _CODE.split(_TAG.sub("", _LINK.sub(r"\1", ln)))  # odd items: code, kept verbatim
            ln = "".join(p if i % 2 else _EMPHASIS.sub(lambda m: m[2] or m[4], p) for i, p in enumerate(parts)).strip()
            ln = re.sub(r"^#{1,6}\s+", "", ln)
            lines.append(ln)
        items = [ln for ln in lines if re.match(r"^([-*+]|\d+\.)\s", ln)]
        out.append("\n".join(lines) if items else " ".join(lines))
    return "\n".join(out)


def to_html(ex: Excerpt, article_id: str, path: str) -> str:
    """Sanitized HTML of an excerpt; a cut one ends with a link to its section."""
    from markdown.extensions.toc import slugify

    from kb.render import render_markdown

    html, _ = render_markdown(ex.markdown, path)
    if ex.more and ex.heading:
        anchor = slugify(ex.heading, "-")
        html += f' <a class="more" href="/a/{escape(article_id)}#{escape(anchor)}">more</a>'
    return html


@dataclass(frozen=True)
class Summary:
    text: str | None
    html: str | None


def summarize(value: str | None, body: str, names: tuple[str, ...], article_id: str, path: str) -> Summary:
    """The root cause or fix of an article: its frontmatter `value`, else its section's excerpt."""
    ex = Excerpt(value.strip(), False, "") if value and value.strip() else excerpt(body, names)
    if ex is None:
        return Summary(None, None)
    return Summary(to_text(ex.markdown) + (" …" if ex.more else ""), to_html(ex, article_id, path))
