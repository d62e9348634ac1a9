"""Article records: everything a generation stores about one parsed article (its row, chunks,
vectors, term counts and phrase hashes), and the hashes that let a reindex re-parse only
changed files and re-embed only changed chunks."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from kb.articles import Article
from kb.chunking import TokenOffsets, chunk_article
from kb.metadata import ArticleRow, ChunkRow
from kb.normalize import lexical_terms, normalize_document
from kb.phrases import phrase_hashes
from kb.sections import blank_comments


@dataclass
class Record:
    """One parsed article as a generation stores it."""

    row: ArticleRow
    chunks: list[ChunkRow]
    counts: Counter[str]  # lexical term counts
    phrases: np.ndarray  # sorted uint32 phrase hashes
    embedded: list[str] = field(default_factory=list)  # the text each chunk embeds (Chunk.embedded)
    vectors: np.ndarray | None = None  # one per chunk, set by the builder

    @property
    def id(self) -> str:
        return self.row.id

    @property
    def hash(self) -> str:
        return self.row.hash


def article_hash(article: Article) -> str:
    meta = json.dumps(article.meta, default=str, sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(f"{article.path}\0{meta}\0{article.body}".encode()).hexdigest()


def chunk_hash(model_sha: str, embedded_text: str) -> str:
    """What a chunk's vector depends on: the weights and the exact text embedded (already
    normalized, so a normalizer change that alters it changes the hash, and one that only
    changes lexical terms keeps every vector)."""
    return hashlib.sha1(f"{model_sha}\0{embedded_text}".encode()).hexdigest()


def _regex_words(pattern: str) -> str:
    """The literal words of a regex signature, so its error text is also matched lexically."""
    return re.sub(r"\\[a-zA-Z][+*?]?|\{\d*,?\d*\}|[\\()?*+\[\]|^$.]", " ", pattern)


def article_terms(article: Article) -> list[str]:
    """What the lexical channel indexes: the title twice (it names the problem), then the rest."""
    sigs = " ".join(s.get("text") or _regex_words(s["regex"]) for s in article.signatures)
    summary = " ".join(str(article.meta.get(k) or "") for k in ("root_cause", "resolution"))
    text = f"{article.title}\n{article.title}\n{sigs}\n{summary}\n{blank_comments(article.body)}"
    return lexical_terms(normalize_document(text))


def new_record(article: Article, offsets: TokenOffsets, model_sha: str, committed: str | None = None) -> Record:
    """A record for a parsed article (vectors are filled in by the builder).

    `committed` is the date of the file's last git commit: the article's `updated` date when
    its frontmatter has none.
    """
    cause, fix = article.summary("root_cause"), article.summary("resolution")
    pieces = chunk_article(article, offsets)
    embedded = [c.embedded for c in pieces]
    chunks = [
        ChunkRow(c.heading, c.kind, c.start, c.end, c.text, chunk_hash(model_sha, text))
        for c, text in zip(pieces, embedded, strict=True)
    ]
    row = ArticleRow(
        id=article.id,
        path=article.path,
        title=article.title,
        type=article.type,
        status=article.status,
        services=json.dumps(article.services),
        tags=json.dumps(article.tags),
        severity=article.severity,
        created=article.created,
        updated=article.last_change(committed)[0],
        owner=article.owner,
        root_cause=cause.text,
        resolution=fix.text,
        signatures=json.dumps(article.signatures),
        related=json.dumps(article.related),
        meta=json.dumps(article.meta, default=str, ensure_ascii=False),
        body=article.body,
        hash=article_hash(article),
        root_cause_html=cause.html,
        resolution_html=fix.html,
    )
    return Record(
        row,
        chunks,
        Counter(article_terms(article)),
        phrase_hashes(normalize_document(f"{article.title}\n{blank_comments(article.body)}")),
        embedded,
    )
