"""Articles to chunks: one summary chunk, then one chunk per section, long sections windowed."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kb.articles import Article

WINDOW_TOKENS = 200  # body tokens per chunk; with the heading prefix it stays under 256
OVERLAP_TOKENS = 40
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)
_FENCE = re.compile(r"^(```|~~~)", re.M)

# Counts tokens and returns the character offset where each token starts.
TokenOffsets = Callable[[str], list[tuple[int, int]]]


@dataclass
class Chunk:
    """A piece of an article small enough for the model; offsets index `Article.body`."""

    article_id: str
    heading: str  # heading path, "Diagnosis > Check the pool"; "" for the summary chunk
    text: str  # what is embedded and matched
    start: int
    end: int
    kind: str = "section"  # "summary" | "section"


def _sections(body: str) -> list[tuple[list[str], int, int]]:
    """(heading path, start, end) of each section, ignoring `#` lines inside code fences."""
    fenced = []
    inside = False
    for m in _FENCE.finditer(body):
        if not inside:
            start = m.start()
        else:
            fenced.append((start, m.end()))
        inside = not inside
    heads = [m for m in _HEADING.finditer(body) if not any(a <= m.start() < b for a, b in fenced)]
    out: list[tuple[list[str], int, int]] = []
    path: list[tuple[int, str]] = []
    pos = 0
    for m in heads:
        out.append(([h for _, h in path], pos, m.start()))
        level, title = len(m.group(1)), m.group(2).strip()
        path = [(lv, h) for lv, h in path if lv < level] + [(level, title)]
        pos = m.end()
    out.append(([h for _, h in path], pos, len(body)))
    return [(p, s, e) for p, s, e in out if body[s:e].strip()]


def summary_text(article: Article) -> str:
    """Title plus the frontmatter summary fields: a chunk that states the whole problem."""
    parts = [article.title]
    for sig in article.signatures:
        parts.append(sig.get("text") or sig.get("regex", ""))
    for key in ("root_cause", "resolution"):
        value = article.meta.get(key)
        if value:
            parts.append(str(value).strip())
    return "\n".join(p for p in parts if p)


def chunk_article(article: Article, offsets: TokenOffsets) -> list[Chunk]:
    """Split an article into chunks that each fit the model window."""
    chunks = [Chunk(article.id, "", summary_text(article), 0, 0, kind="summary")]
    for path, start, end in _sections(article.body):
        heading = " > ".join(h for h in path if h != article.title)
        prefix = f"{article.title}: {heading}\n" if heading else f"{article.title}\n"
        raw = article.body[start:end]
        lead = len(raw) - len(raw.lstrip())
        text = raw.strip()
        base = start + lead
        toks = offsets(text)
        if len(toks) <= WINDOW_TOKENS:
            chunks.append(Chunk(article.id, heading, prefix + text, base, base + len(text)))
            continue
        step = WINDOW_TOKENS - OVERLAP_TOKENS
        for i in range(0, len(toks), step):
            window = toks[i : i + WINDOW_TOKENS]
            a, b = window[0][0], window[-1][1]
            chunks.append(Chunk(article.id, heading, prefix + text[a:b], base + a, base + b))
            if i + WINDOW_TOKENS >= len(toks):
                break
    return chunks


def tokenizer_offsets(tokenizer_json: Path) -> TokenOffsets:
    """Token offsets from the model's tokenizer, untruncated and unpadded (special tokens dropped)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    tokenizer.no_truncation()
    tokenizer.no_padding()

    def offsets(text: str) -> list[tuple[int, int]]:
        return list(tokenizer.encode(text, add_special_tokens=False).offsets)

    return offsets
