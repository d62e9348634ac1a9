"""Markdown sections: the one reading of an article's ATX headings and code fences.

Chunking, `kb check`, the templates of `kb new` and the root cause / fix summaries all read
sections through `sections()`, so a heading inside a code block, an indented heading or a
`## C#` title can never be one section to the checker and another to the index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")


@dataclass(frozen=True)
class Section:
    """One heading and the text under it, up to the next heading of any level."""

    heading: str  # "" for the text before the first heading
    level: int  # 1..6; 0 for the text before the first heading
    path: tuple[str, ...]  # the enclosing headings, outermost first, this one last
    line: int  # 0-based line of the heading (0 for the text before the first heading)
    at: int  # offset of the heading line (its start for the text before the first heading)
    start: int  # offset where the text under the heading starts
    end: int  # offset of the next heading, or of the end of the text
    marker: str = ""  # the heading line as written, e.g. "## Root cause"


@dataclass(frozen=True)
class Fence:
    """A fenced code block: the lines of its opening and closing fence (0-based)."""

    open: int
    close: int  # the number of lines when the fence is never closed

    def holds_text(self, lines: list[str]) -> bool:
        """Whether any line between the fences is more than whitespace."""
        return any(ln.strip() for ln in lines[self.open + 1 : self.close])


def fences(lines: list[str]) -> list[Fence]:
    """The fenced code blocks of a text's lines (CommonMark: up to 3 spaces of indent; closed by
    a fence of the same character at least as long with nothing after it)."""
    out: list[Fence] = []
    opened: tuple[int, str] | None = None
    for i, line in enumerate(lines):
        m = _FENCE.match(line)
        if opened is None:
            if m:
                opened = (i, m.group(1))
        elif (
            m
            and m.group(1)[0] == opened[1][0]
            and len(m.group(1)) >= len(opened[1])
            and not line.strip().strip(opened[1][0])
        ):
            out.append(Fence(opened[0], i))
            opened = None
    if opened is not None:
        out.append(Fence(opened[0], len(lines)))
    return out


def sections(text: str) -> list[Section]:
    """Every section of a Markdown text, in order; the text before the first heading is a
    section of level 0 (present even when empty, so offsets always cover the whole text)."""
    lines = text.split("\n")
    in_code = [False] * len(lines)
    for f in fences(lines):
        for i in range(f.open, min(f.close + 1, len(lines))):
            in_code[i] = True
    out: list[Section] = []
    path: list[tuple[int, str]] = []
    heading, level, line, at, start, marker = "", 0, 0, 0, 0, ""
    offset = 0
    for i, ln in enumerate(lines):
        m = None if in_code[i] else _HEADING.match(ln)
        if m:
            out.append(Section(heading, level, tuple(h for _, h in path), line, at, start, offset, marker))
            level, heading = len(m.group(1)), m.group(2).strip()
            path = [(lv, h) for lv, h in path if lv < level] + [(level, heading)]
            line, at, start, marker = i, offset, min(offset + len(ln) + 1, len(text)), ln.strip()
        offset += len(ln) + 1
    out.append(Section(heading, level, tuple(h for _, h in path), line, at, start, len(text), marker))
    return out


def extent(all_sections: list[Section], i: int) -> int:
    """Where section i ends together with its subsections: the next heading of its level or higher."""
    level = all_sections[i].level
    for s in all_sections[i + 1 :]:
        if s.level <= level:
            return s.at
    return all_sections[-1].end


_COMMENT = re.compile(r"<!--.*?-->", re.S)


def blank_comments(text: str) -> str:
    """HTML comments (a template's `<!-- guidance: ... -->`) as spaces, newlines kept: what is
    indexed never holds them, and offsets into the text stay valid."""
    if "<!--" not in text:
        return text
    return _COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def find(text: str, names: tuple[str, ...]) -> Section | None:
    """The first section of level 2 or 3 whose heading (case and a trailing colon ignored) is
    one of `names`."""
    for s in sections(text):
        if 2 <= s.level <= 3 and s.heading.lower().rstrip(":").strip() in names:
            return s
    return None
