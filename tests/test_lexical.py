"""The BM25 channel."""

from __future__ import annotations

import numpy as np

from kb.lexical import Lexical
from kb.normalize import lexical_terms


def _docs():
    return [lexical_terms(t) for t in (
        "ORA-00942 table or view does not exist after migration",
        "MySQL error 1146 table doesn't exist after migration",
        "Redis OOM command not allowed when used memory exceeds maxmemory",
    )]


def test_rare_identifier_outranks_common_words():
    lex = Lexical.build(_docs())
    scores, _ = lex.scores(lexical_terms("ORA-00942: table or view does not exist"))
    assert int(np.argmax(scores)) == 0
    assert scores[0] > scores[1] > 0


def test_unknown_terms_score_nothing_and_coverage_counts_them():
    lex = Lexical.build(_docs())
    scores, _ = lex.scores(["nonexistentterm"])
    assert not scores.any()
    q = lexical_terms("maxmemory quantumflux")
    docs = np.array([2, 0])
    partial = lex.coverage(q, docs)
    assert 0 < partial[0] < 1 and partial[1] == 0
    assert lex.coverage(lexical_terms("maxmemory"), docs).tolist() == [1.0, 0.0]
    assert lex.presence(["maxmemory", "nope"], docs).tolist() == [[True, False], [False, False]]


def test_save_and_load_round_trip(tmp_path):
    lex = Lexical.build(_docs())
    lex.save(tmp_path)
    again = Lexical.load(tmp_path)
    q = lexical_terms("redis maxmemory")
    assert np.allclose(lex.scores(q)[0], again.scores(q)[0])
