"""Retrieval on the fixture KB with the real model, real FAISS and the real BM25 channel."""

from __future__ import annotations

import json

import pytest

from kb.config import MAX_PASTE_CHARS, Settings
from kb.errors import BadQuery, QueryTooLong
from kb.results import Filters

from .conftest import DATA, FIXTURE_KB

QUERIES = [json.loads(line) for line in (DATA / "kb_queries.jsonl").read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("q", QUERIES, ids=[q["qid"] for q in QUERIES])
def test_pasted_errors_find_their_article_first(kb_session, q):
    response = kb_session.search(q["query"], k=5)
    assert response.results[0].id in q["relevant"], [r.id for r in response.results]
    assert response.match != "none"


def test_exact_error_code_beats_a_paraphrase(kb_session):
    r = kb_session.search("ORA-00942", k=5)
    assert r.results[0].id == "known-issues/oracle-table-missing"
    r = kb_session.search("java.sql.SQLSyntaxErrorException: ORA-00942: table or view does not exist", k=5)
    ids = [x.id for x in r.results]
    assert ids[0] == "known-issues/oracle-table-missing"
    # The MySQL article about the same symptom is below it (now far below: the paste is Oracle's).
    assert "known-issues/mysql-table-missing" not in ids[:1]


def test_signature_match_ranks_first_and_says_so(kb_session):
    r = kb_session.search("checkout failed: PGW-E4031 while charging order 1234", k=5)
    top = r.results[0]
    assert top.id == "known-issues/payments-gateway-e4012"
    assert top.signature == "PGW-E40\\d\\d"
    assert top.confidence == "strong" and r.match == "strong"


@pytest.mark.parametrize(
    "text",
    [
        "How do I bake sourdough bread at home?",
        "the printer on floor 3 is out of toner",
        "quarterly revenue spreadsheet formatting",
    ],
)
def test_unrelated_queries_match_none_and_are_novel(kb_session, text):
    r = kb_session.search(text, k=5)
    assert r.match == "none"
    assert r.novel is True
    assert r.results, "near misses are still listed"
    assert all(x.confidence == "weak" for x in r.results)


def test_each_article_appears_once_with_scores_in_range(kb_session):
    r = kb_session.search("postgres connections disk full certificate expired", k=20)
    ids = [x.id for x in r.results]
    assert len(ids) == len(set(ids))
    assert all(0.0 <= x.score <= 1.0 for x in r.results)
    assert [x.score for x in r.results] == sorted((x.score for x in r.results), reverse=True)


def test_results_carry_root_cause_resolution_and_snippet(kb_session):
    top = kb_session.search("OOM command not allowed when used memory > 'maxmemory'", k=1).results[0]
    assert top.id == "known-issues/redis-oom-maxmemory"
    assert top.root_cause and top.resolution
    assert top.snippet and top.url == "/a/known-issues/redis-oom-maxmemory"
    for a, b in top.highlights:
        assert top.snippet[a:b].lower() in "oom command not allowed when used memory maxmemory"


def test_drafts_and_deprecated_are_hidden_unless_asked(kb_session):
    q = "nginx upstream timed out (110: Connection timed out) while reading response header"
    assert "kb/draft-note" not in [x.id for x in kb_session.search(q, k=50).results]
    shown = kb_session.search(q, k=50, filters=Filters(include_hidden=True)).results
    assert "kb/draft-note" in [x.id for x in shown]


def test_filters_narrow_results(kb_session):
    r = kb_session.search("connection problems", k=50, filters=Filters(type=["runbook"]))
    assert r.results and {x.type for x in r.results} == {"runbook"}
    r = kb_session.search("connection problems", k=50, filters=Filters(services=["orders"]))
    assert r.results and all("orders" in x.services for x in r.results)


def test_explain_shows_the_normalized_query_and_channels(kb_session):
    r = kb_session.search("2025-11-03T08:14:22Z ERROR pod orders-api-7d9f8b6c5-x2k4p OOMKilled", k=3, explain=True)
    assert "7d9f8b6c5" not in r.normalized["text"]
    assert "OOMKilled" in r.normalized["text"]
    assert {"dense", "bm25", "signature", "score"} <= set(r.results[0].explain)


@pytest.mark.parametrize(
    "query, k, error",
    [
        ("", 5, BadQuery),
        ("   \n\t", 5, BadQuery),
        ("x" * (MAX_PASTE_CHARS + 1), 5, QueryTooLong),
        ("disk", 0, BadQuery),
        ("disk", 51, BadQuery),
        ("disk", "ten", BadQuery),
        ("disk", 2.5, BadQuery),
    ],
)
def test_bad_queries_are_rejected(kb_session, query, k, error):
    with pytest.raises(error):
        kb_session.search(query, k=k)


def test_a_query_of_exactly_the_limit_is_accepted(kb_session):
    text = ("ERROR disk full No space left on device\n" * 600)[:20_000]
    assert kb_session.search(text, k=3).results[0].id == "runbooks/disk-full"


def test_concurrent_searches_answer_as_a_lone_one_does(built_index):
    """A lone search embeds on a worker thread with the 2-thread encoder, concurrent ones embed
    inline with the 1-thread one (as `kb serve` does): same answers."""
    import threading

    from kb.core import KnowledgeBase

    kb_session = KnowledgeBase(Settings(articles=FIXTURE_KB, index=built_index), lone_threads=2)
    idx = kb_session.index()
    dense = idx.dense
    assert dense.lone_encoder is not dense.encoder and dense.lone_encoder.weights is dense.encoder.weights
    queries = [q["query"] for q in QUERIES]
    cos = (dense.lone_encoder.encode(queries) * dense.encoder.encode(queries)).sum(axis=1)
    assert cos.min() > 0.99999
    lone = {q: [(r.id, r.score) for r in kb_session.search(q, k=5).results] for q in queries}
    seen: list[bool] = []
    embed = dense.embed

    def spy(text: str, alone: bool):
        seen.append(alone)
        return embed(text, alone)

    dense.embed = spy
    together: dict[str, list] = {}

    def worker(part: list[str]) -> None:
        for q in part:
            together[q] = [(r.id, r.score) for r in kb_session.search(q, k=5).results]

    try:
        with idx._first_stage() as alone:  # another search in flight: every one below embeds inline
            assert alone
            threads = [threading.Thread(target=worker, args=(queries[i::4],)) for i in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert set(seen) == {False}
        assert together == lone
        seen.clear()
        kb_session.search(queries[0], k=5)
        assert seen == [True]
    finally:
        del dense.embed
    assert idx._searching == 0


def test_every_channel_has_a_weight_and_every_weight_a_channel():
    from kb.fusion import WEIGHTS
    from kb.search import CHANNELS

    assert [c.name for c in CHANNELS] and sorted(c.name for c in CHANNELS) == sorted(WEIGHTS)
    assert CHANNELS[0].name == "dense"  # asked first: its query embeds while the others work


def test_explain_shows_every_channel_and_says_when_a_result_was_not_reranked(kb_session, monkeypatch):
    import kb.search

    monkeypatch.setattr(kb.search, "RERANK", 2)  # the fixture KB is smaller than the real cut (30)
    r = kb_session.search("No space left on device", k=6, explain=True)
    first = r.results[0].explain
    for key in ("dense", "bm25", "bm25_relative", "term_coverage", "phrase", "identifiers", "signature", "score"):
        assert key in first, key
    assert first["score"] == r.results[0].score and "reranked" not in first
    late = [x.explain for x in r.results[2:]]
    assert late and all(e["reranked"] is False and "phrase" not in e for e in late)
