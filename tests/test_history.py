"""Votes rank the next search of the same problem (real model, real index, real SQLite): up for
"solved", down for "not relevant", bounded, decayed, one client once, and kept across
reindexing because they are keyed by article id."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest

from kb.config import Settings
from kb.core import KnowledgeBase
from kb.errors import BadQuery, NotFound
from kb.fusion import SIGNATURE_SCORE, STRONG, WEIGHTS, Candidate, fuse
from kb.history import FeedbackIndex
from kb.journal import Origin, VoteRecord
from kb.journal.keys import pack, template_of
from kb.journal.sqlite import SQLiteJournal
from tests.conftest import FIXTURE_KB

DNS = "runbooks/dns-resolution-failure"
ASKED = "service cannot resolve the database hostname"
AGAIN = "service 2 cannot resolve the database hostname"  # the same problem a minute later
CERT = "x509: certificate has expired or is not yet valid"


@pytest.fixture
def kb(settings):
    return KnowledgeBase(settings)


def _rank(kb, q):
    r = kb.search(q, k=10, explain=True)
    return r, [x.id for x in r.results]


def test_solved_raises_that_article_for_the_same_problem_and_says_why(kb):
    before, ids = _rank(kb, AGAIN)
    assert ids[0] != DNS and before.results[ids.index(DNS)].feedback is None
    for who in ("alice", "bob"):
        kb.feedback(ASKED, DNS, "solved", Origin("api", who))
    after, ids = _rank(kb, AGAIN)
    assert ids[0] == DNS
    top = after.results[0]
    assert top.feedback is not None and top.feedback["solved"] == 2 and top.feedback["not_relevant"] == 0
    assert top.feedback["last_solved"][:10] == time.strftime("%Y-%m-%d", time.gmtime())
    assert 0 < top.explain["history"] <= 1
    unrelated, _ = _rank(kb, "customers see 429 at checkout")
    assert all(r.feedback is None for r in unrelated.results)  # another problem: untouched


def test_a_rephrased_search_finds_the_votes_by_embedding(kb):
    kb.feedback(ASKED, DNS, "solved", Origin("api", "alice"))
    kb.feedback(ASKED, DNS, "solved", Origin("api", "bob"))
    r, ids = _rank(kb, "the service cannot resolve the hostname of the database")
    assert DNS in ids and r.results[ids.index(DNS)].feedback is not None


def test_not_relevant_lowers_that_pair(kb):
    q = "customers see 429 at checkout"
    before, ids = _rank(kb, q)
    target = ids[1]
    was = before.results[1].score
    kb.feedback(q, target, "not_relevant", Origin("api", "carol"))
    after, ids = _rank(kb, q)
    now = next(x for x in after.results if x.id == target)
    assert now.score < was and now.feedback == {"solved": 0, "not_relevant": 1, "last_solved": None}


def test_votes_never_outrank_a_signature_nor_push_a_strong_answer_off(kb):
    for n in range(30):  # a hostile crowd: 30 clients vote for the wrong article...
        kb.feedback(CERT, "known-issues/jwt-clock-skew", "solved", Origin("api", f"mob{n}"))
        kb.feedback(CERT, "runbooks/tls-cert-expired", "not_relevant", Origin("api", f"mob{n}"))
    r, ids = _rank(kb, CERT)
    assert ids[0] == "runbooks/tls-cert-expired" and r.match == "strong"  # ...and against the right one
    assert r.results[0].score >= STRONG and r.results[1].score < SIGNATURE_SCORE
    assert r.results[0].feedback["not_relevant"] == 30


def test_withdrawing_a_vote_takes_its_effect_back(kb):
    kb.feedback(ASKED, DNS, "solved", Origin("api", "alice"))
    kb.feedback(ASKED, DNS, "solved", Origin("api", "bob"))
    assert _rank(kb, AGAIN)[1][0] == DNS
    assert kb.withdraw(AGAIN, DNS, Origin("api", "alice")).withdrawn == 1
    assert kb.withdraw(ASKED, DNS, Origin("api", "bob")).withdrawn == 1
    r, ids = _rank(kb, AGAIN)
    assert ids[0] != DNS and r.results[ids.index(DNS)].feedback is None


def test_bad_votes_are_refused_with_a_reason(kb):
    with pytest.raises(BadQuery, match="solved, not_relevant"):
        kb.feedback(ASKED, DNS, "meh")
    with pytest.raises(NotFound):
        kb.feedback(ASKED, "runbooks/nope", "solved")
    with pytest.raises(BadQuery, match="query"):
        kb.feedback("  ", DNS, "solved")


def test_votes_survive_a_rebuild_and_a_rename_of_the_file(tmp_path):
    from kb.indexer import build

    articles = tmp_path / "articles"
    shutil.copytree(FIXTURE_KB, articles)
    s = Settings(articles=articles, index=tmp_path / "index", data=tmp_path / "var", reload_interval=0.0)
    build(s, log=lambda m: None, progress=False)
    kb = KnowledgeBase(s)
    for who in ("alice", "bob"):
        kb.feedback(ASKED, DNS, "solved", Origin("api", who))
    old = articles / "runbooks" / "dns-resolution-failure.md"
    text = old.read_text()
    assert "\nid:" not in text.split("---")[1]
    old.rename(articles / "runbooks" / "dns-lookups-fail.md")  # renamed, its id kept in frontmatter
    (articles / "runbooks" / "dns-lookups-fail.md").write_text(text.replace("---\n", f"---\nid: {DNS}\n", 1))
    build(s, full=True, log=lambda m: None, progress=False)
    fresh = KnowledgeBase(s)
    r, ids = _rank(fresh, AGAIN)
    assert ids[0] == DNS and r.results[0].feedback["solved"] == 2


def _stored(tmp_path, votes):
    j = SQLiteJournal(tmp_path)
    v = np.zeros(8, dtype=np.float32)
    v[0] = 1
    for client, age_days, vote in votes:
        at = time.time() - age_days * 86400
        j.add_vote(VoteRecord(at, client, "q", template_of("q"), "a", vote, None, pack(v)))
    fi = FeedbackIndex(j)
    return fi.evidence(template_of("q"), v)["a"]


def test_old_votes_count_less_and_one_client_counts_once(tmp_path):
    fresh = _stored(tmp_path / "1", [("c1", 0, "solved")])
    old = _stored(tmp_path / "2", [("c1", 60, "solved")])
    assert fresh.net == pytest.approx(1.0, abs=0.01) and old.net == pytest.approx(0.25, abs=0.01)  # two half-lives
    j = SQLiteJournal(tmp_path / "3")
    v = np.array([1, 0, 0, 0], dtype=np.float32)
    for q in ("disk full", "disk is full", "the disk is full"):  # one client, three phrasings
        j.add_vote(VoteRecord(time.time(), "c1", q, template_of(q), "a", "solved", None, pack(v)))
    ev = FeedbackIndex(j).evidence(template_of("disk full"), v)["a"]
    assert ev.solved == 3 and ev.net == pytest.approx(1.0, abs=0.01)


def test_fusion_bounds_the_nudge():
    from kb.fusion import TOTAL

    plain = Candidate(article=1, base=0.4 * TOTAL)
    voted = Candidate(article=2, base=0.4 * TOTAL, history=1.0)
    against = Candidate(article=3, base=0.55 * TOTAL, history=-1.0)
    sig = Candidate(article=4, base=0.1, signature="x", history=-1.0)
    near_sig = Candidate(article=5, base=0.9 * TOTAL, history=1.0)
    out = {c.article: c.score for c in fuse([plain, voted, against, sig, near_sig])}
    assert out[2] - out[1] == pytest.approx(WEIGHTS["history"], abs=1e-6)
    assert out[3] == pytest.approx(STRONG)  # strong stays strong
    assert out[4] >= SIGNATURE_SCORE > out[5]  # a signature match voted against stays above any vote


def test_votes_keep_a_top_result_that_is_strong_by_its_lead():
    from kb.fusion import POSSIBLE, STRONG_LEAD, TOTAL, confidence_of, lead_of

    top = Candidate(article=1, base=(POSSIBLE + 0.1) * TOTAL)  # 0.40: strong only by its lead
    second = Candidate(article=2, base=(POSSIBLE + 0.1 - STRONG_LEAD - 0.05) * TOTAL, history=1.0)
    ranked = fuse([top, second])
    assert [c.article for c in ranked] == [1, 2]
    assert confidence_of(ranked[0], lead_of(ranked)) == "strong"
    assert ranked[1].score == pytest.approx(POSSIBLE + 0.1 - STRONG_LEAD, abs=0.001)  # lifted, up to the lead
