"""Signature matching and its key-word prefilter."""

from __future__ import annotations

import numpy as np
import pytest

from kb.signatures import SignatureMatcher


def _labels(matcher, query, allowed):
    """article -> the label of its matching signature (matches() also says how much it covered)."""
    return {a: label for a, (label, _) in matcher.matches(query, allowed).items()}


ALL = np.ones(10, dtype=bool)


@pytest.mark.parametrize(
    "sig, query, hit",
    [
        (
            {"text": "FATAL: remaining connection slots are reserved"},
            "2025-01-01 FATAL:   remaining connection   slots are reserved for x",
            True,
        ),
        ({"text": "onnection refused"}, "dial tcp: connection refused", True),  # key word not at an edge
        ({"text": "connection refused"}, "connection reset", False),
        ({"regex": r"PGW-E40\d\d"}, "checkout failed: PGW-E4077", True),
        ({"regex": r"PGW-E40\d\d"}, "checkout failed: PGW-E4177", False),
        ({"regex": r"FATAL:\s+(sorry, )?too many clients"}, "FATAL:  too many clients already", True),
        ({"regex": r"(?i)token used before issued"}, "jwt: Token Used Before Issued", True),
        ({"regex": r"OOMKilled"}, "reason: xOOMKilledx", True),
        ({"regex": "[unclosed"}, "[unclosed", False),  # invalid regexes are ignored, not fatal
    ],
)
def test_signatures_match_like_the_author_wrote_them(sig, query, hit):
    m = SignatureMatcher([(3, sig)])
    assert (_labels(m, query, ALL) == {3: sig.get("text") or sig["regex"]}) is hit


def test_filtered_out_articles_do_not_match():
    m = SignatureMatcher([(1, {"text": "disk quota exceeded"})])
    mask = ALL.copy()
    mask[1] = False
    assert _labels(m, "error: disk quota exceeded", mask) == {}


def test_a_shared_signature_is_tried_once_and_each_article_reports_its_first_listed_match():
    template = {"text": "remaining connection slots are reserved"}
    entries = [(a, template) for a in range(8)]  # a template copied into many articles
    entries += [
        (8, {"text": "security token included in the request is expired"}),
        (8, {"regex": r"An error occurred \(ExpiredToken\) when calling the \w+ operation"}),
    ]
    m = SignatureMatcher(entries)
    patterns = m.patterns()
    assert len(patterns) == 3 and len(m) == 10  # the template once, holding its 8 articles
    assert sorted(p.articles.tolist() for p in patterns) == [list(range(8)), [8], [8]]
    allowed = ALL.copy()
    allowed[2] = False
    hits = _labels(m, "FATAL: remaining connection slots are reserved for superuser", allowed)
    assert sorted(hits) == [0, 1, 3, 4, 5, 6, 7]
    q = (
        "An error occurred (ExpiredToken) when calling the GetObject operation: The security token "
        "included in the request is expired"
    )
    assert _labels(m, q, ALL) == {8: "security token included in the request is expired"}


def _brute_force(entries, query):
    """Every signature tried against the query, no keys: what the matcher must agree with."""
    import re

    flat = " ".join(query.split()).lower()
    hits = {}
    for article, sig in entries:
        if "text" in sig and len(sig["text"].strip()) >= 4 and " ".join(sig["text"].split()).lower() in flat:
            hits.setdefault(article, sig["text"])
        elif "regex" in sig and re.search(sig["regex"], query):
            hits.setdefault(article, sig["regex"])
    return hits


@pytest.mark.parametrize("n", [5, 400])  # few substring keys (tried one by one), many (the query's substrings)
def test_keyed_matching_agrees_with_trying_every_signature(n):
    import random

    rng = random.Random(n)
    codes = [f"ORA-{rng.randrange(100000):05d}" for _ in range(n)]  # no inner word: keyed by a substring
    entries = [(i, {"text": c}) for i, c in enumerate(codes)]
    entries += [(n + i, {"text": f"sqlstate {rng.randrange(100)}p{rng.randrange(100)}"}) for i in range(n)]
    entries += [
        (2 * n, {"text": "connection refused"}),
        (2 * n + 1, {"regex": r"PGW-E40\d\d"}),
        (2 * n + 2, {"text": "OOM"}),
    ]  # under 4 characters: ignored
    m = SignatureMatcher(entries)
    assert [p.kind for p in m.always] == ["regex"] and len(m.by_gram) > 0  # text signatures all keyed
    allowed = np.ones(2 * n + 3, dtype=bool)
    queries = [
        f"db error xx{codes[3]}yy during commit: connection refused",
        f"SQLSTATE {entries[n + 1][1]['text'].split()[1]} while writing; {codes[-1]}",
        "PGW-E4012 at checkout, OOM",
        "nothing to see here",
        codes[0].lower(),
    ]
    for q in queries:
        assert _labels(m, q, allowed) == _brute_force(entries, q), q
    assert _labels(m, queries[0], allowed) == {3: codes[3], 2 * n: "connection refused"}
