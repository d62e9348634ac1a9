"""The BM25 channel."""

from __future__ import annotations

import numpy as np

from kb.lexical import Lexical
from kb.normalize import lexical_terms
from kb.store import Generation


def _docs():
    return [
        lexical_terms(t)
        for t in (
            "ORA-00942 table or view does not exist after migration",
            "MySQL error 1146 table doesn't exist after migration",
            "Redis OOM command not allowed when used memory exceeds maxmemory",
        )
    ]


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
    lex.save(Generation(tmp_path))
    again = Lexical.load(Generation(tmp_path))
    q = lexical_terms("redis maxmemory")
    assert np.allclose(lex.scores(q)[0], again.scores(q)[0])


def test_identifiers_stay_whole_and_also_yield_their_words():
    terms = lexical_terms("KubePodCrashLooping: reason CrashLoopBackOff, java.lang.NullPointerException, ORA-00942")
    for whole in ("kubepodcrashlooping", "crashloopbackoff", "java.lang.nullpointerexception", "ora-00942"):
        assert whole in terms
    for word in ("kube", "pod", "crash", "looping", "loop", "null", "pointer", "exception", "00942"):
        assert word in terms
    # All-capitals codes are not split into letters; lowercase words are left alone.
    assert lexical_terms("ECONNRESET OOMKilled timeout") == ["econnreset", "oomkilled", "oom", "killed", "timeout"]


def test_an_alert_message_reaches_the_runbook_named_after_the_alert():
    lex = Lexical.build(
        [
            lexical_terms(t)
            for t in (
                "KubePodCrashLooping runbook: check the container logs",
                "KubeDaemonSetRolloutStuck runbook: check the rollout",
            )
        ]
    )
    scores, _ = lex.scores(lexical_terms("Pod orders/worker is crash looping on cluster prod"))
    assert int(np.argmax(scores)) == 0 and scores[1] == 0


def test_scores_equal_the_sum_of_matrix_rows():
    lex = Lexical.build(_docs())
    q = lexical_terms("table exist maxmemory ora-00942")
    ids = sorted({lex.vocab[t] for t in q if t in lex.vocab})
    expected = np.asarray(lex.matrix[ids].sum(axis=0)).ravel()
    assert np.allclose(lex.scores(q)[0], expected)
    docs = np.array([2, 1, 0])
    assert lex.presence(["table", "maxmemory"], docs).tolist() == [[False, True, True], [True, False, False]]


def test_the_lexical_top_k_bound_is_exact():
    """The sampled bound (`_kth_largest`) must give np.partition's answer: random scores, many
    ties, and orders where the 1-in-16 sample sees none of the top values."""
    from kb.lexical import _kth_largest

    rng = np.random.default_rng(7)
    ascending = np.sort(rng.random(20_000))
    spiky = np.zeros(20_000)
    spiky[1::16] = 1.0  # the sample (every 16th from 0) holds only zeros, the top hides between
    few = np.zeros(20_000)
    few[:128:16] = 1.0  # the sample holds all 8 top values: fewer than k pass its bound
    cases = [rng.random(n) for n in (50, 51, 3_199, 3_201, 90_000)]
    cases += [np.round(rng.random(50_000), 2), np.ones(10_000), ascending, ascending[::-1], spiky, few]
    for vals in cases:
        for k in (1, 50):
            assert _kth_largest(vals, k) == np.sort(vals)[-k]


def test_phrases_read_per_article_agree_with_the_whole_array(tmp_path):
    from kb.phrases import Phrases, phrase_hashes

    texts = ["node down true after reboot", "", "ICONS* missing from the bundle", "down false " * 50]
    gen = Generation(tmp_path)
    Phrases.build(texts).save(gen)
    whole, served = Phrases.load(gen), Phrases.open(gen)
    try:
        assert served.hashes is None  # nothing of the hashes is mapped or held
        for i in range(len(texts)):
            assert np.array_equal(served.of(i), whole.of(i)) and served.of(i).dtype == np.uint32
            for q in ("down true", "icons*", "ICONS* missing", "down false"):
                assert served.overlap(phrase_hashes(q), i) == whole.overlap(phrase_hashes(q), i)
        assert served.overlap(phrase_hashes("node down true"), 0) == 1.0
        assert served.overlap(phrase_hashes("node down false"), 0) == 0.6  # node, down, "node down" of 5
    finally:
        served.close()
