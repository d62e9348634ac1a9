"""Articles to chunks: one summary chunk, then one chunk per section, long sections windowed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kb.articles import Article
from kb.normalize import normalize_document
from kb.sections import blank_comments, sections

WINDOW_TOKENS = 200  # body tokens per chunk; with the heading prefix it stays under 256
OVERLAP_TOKENS = 40

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

    @property
    def embedded(self) -> str:
        """The text the model embeds for this chunk (the one place it is made: the build, its
        vector-reuse hash and `kb check`'s near-duplicate vectors all use it)."""
        return normalize_document(self.text)


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
    body = blank_comments(article.body)  # template guidance is never indexed
    for section in sections(body):
        start, end = section.start, section.end
        if not body[start:end].strip():
            continue
        heading = " > ".join(h for h in section.path if h != article.title)
        prefix = f"{article.title}: {heading}\n" if heading else f"{article.title}\n"
        raw = body[start:end]
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
            # Whole words: a window of word pieces may start or end inside a word.
            while a > 0 and not text[a - 1].isspace():
                a -= 1
            while b < len(text) and not text[b].isspace():
                b += 1
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
