"""Chunking: sections by heading, a summary chunk, and windows that fit the model."""

from __future__ import annotations

import pytest

from kb.articles import parse_text
from kb.chunking import WINDOW_TOKENS, chunk_article, tokenizer_offsets
from kb.embedding import MAX_TOKENS, model_dir


@pytest.fixture(scope="module")
def tokenizer():
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


ARTICLE = """---
title: Orders DB refuses connections
type: known-issue
signatures: ["FATAL: remaining connection slots are reserved"]
root_cause: Too many pods, each with a big pool.
resolution: PgBouncer in transaction mode.
---
# Orders DB refuses connections

## Error

```
# not a heading: inside a code fence
FATAL: remaining connection slots are reserved
```

## Diagnosis

### Check the pool

Run `SELECT count(*) FROM pg_stat_activity`.
"""


def test_sections_summary_and_heading_paths():
    art = parse_text(ARTICLE, "known-issues/orders.md")
    chunks = chunk_article(art, tokenizer_offsets(model_dir() / "tokenizer.json"))
    assert chunks[0].kind == "summary"
    assert "Too many pods" in chunks[0].text and "PgBouncer" in chunks[0].text
    assert "FATAL: remaining" in chunks[0].text
    headings = [c.heading for c in chunks[1:]]
    assert headings == ["Error", "Diagnosis > Check the pool"]
    err = chunks[1]
    assert "# not a heading" in err.text  # the fence kept its comment line
    assert art.body[err.start : err.end].startswith("```")


def test_long_sections_are_windowed_with_overlap_under_the_model_limit(tokenizer):
    words = " ".join(f"word{i} connection refused by upstream" for i in range(400))
    art = parse_text(f"---\ntitle: Long\n---\n## Logs\n\n{words}\n", "kb/long.md")
    offsets = tokenizer_offsets(model_dir() / "tokenizer.json")
    chunks = [c for c in chunk_article(art, offsets) if c.kind == "section"]
    assert len(chunks) > 3
    for c in chunks:
        assert len(tokenizer.encode(c.text).ids) <= MAX_TOKENS
        assert art.body[c.start : c.end] in c.text
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start < a.end  # overlap
    assert chunks[-1].end == len(art.body.rstrip())
    assert WINDOW_TOKENS < MAX_TOKENS


def test_empty_body_still_yields_the_summary_chunk():
    art = parse_text("---\ntitle: Only a title\n---\n", "kb/x.md")
    chunks = chunk_article(art, tokenizer_offsets(model_dir() / "tokenizer.json"))
    assert [c.kind for c in chunks] == ["summary"]
    assert chunks[0].text == "Only a title"
