"""Incremental builds: a reindex costs what changed and ends where a full build would."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import numpy as np

from kb import store
from kb.config import Settings
from kb.core import KnowledgeBase
from kb.indexer import build

from .conftest import FIXTURE_KB


def _build(articles, index, **kw):
    return build(Settings(articles=articles, index=index), log=lambda m: None, progress=False, **kw)


def _snapshot(index):
    """Everything a search depends on, keyed by article id."""
    idx = KnowledgeBase(Settings(index=index)).index()
    chunks = {}
    for r in idx.meta.conn.execute("SELECT a.id, c.text, c.idx FROM chunks c JOIN articles a ON a.idx = c.article"):
        chunks.setdefault(r[0], []).append((r[1], idx.dense.index.vectors(np.array([r[2]]))[0]))
    lexical_channel = next(ch for ch in idx.channels if ch.name == "lexical")
    scores, _ = lexical_channel.index.scores(["disk", "certificate", "ora-00942", "redis", "kafka"])
    lexical = {idx.ids[i]: float(s) for i, s in enumerate(scores)}
    return chunks, lexical


def test_nothing_changed_is_a_no_op(tmp_path, index_copy):
    articles = tmp_path / "articles"
    shutil.copytree(FIXTURE_KB, articles)
    first = _build(articles, index_copy)
    again = _build(articles, index_copy)
    assert again.generation == first.generation == store.current_name(index_copy)
    assert (again.stats.changed, again.stats.unchanged, again.stats.deleted) == (0, 17, 0)


def test_edit_delete_rename_cost_what_changed_and_match_a_full_build(tmp_path, index_copy):
    articles = tmp_path / "articles"
    shutil.copytree(FIXTURE_KB, articles)
    _build(articles, index_copy)
    disk = articles / "runbooks" / "disk-full.md"
    disk.write_text(disk.read_text() + "\n## Also\n\nCheck for deleted-but-open files with `lsof +L1`.\n")
    (articles / "known-issues" / "kafka-commit-failed.md").unlink()
    (articles / "runbooks" / "tls-cert-expired.md").rename(articles / "runbooks" / "tls-expired.md")
    result = _build(articles, index_copy)
    s = result.stats
    assert (s.changed, s.deleted, s.unchanged) == (2, 2, 14)  # disk edited, tls renamed (new id); kafka + old tls gone
    assert s.embedded <= 2  # the new section (and the summary chunk it may not even change)
    incremental = _snapshot(index_copy)
    full_index = tmp_path / "full"
    shutil.copytree(index_copy, full_index)
    full = _build(articles, full_index, full=True)
    assert full.stats.embedded == full.stats.chunks
    complete = _snapshot(full_index)
    assert set(incremental[0]) == set(complete[0])
    assert "known-issues/kafka-commit-failed" not in incremental[0]
    assert "runbooks/tls-expired" in incremental[0]
    for art, chunks in complete[0].items():
        assert [t for t, _ in incremental[0][art]] == [t for t, _ in chunks]
        for (_, a), (_, b) in zip(incremental[0][art], chunks, strict=True):
            assert float(np.dot(a, b)) > 0.9999
    for art, score in complete[1].items():
        assert abs(incremental[1][art] - score) < 1e-4


def test_a_broken_file_stays_reported_until_fixed(tmp_path, index_copy):
    articles = tmp_path / "articles"
    shutil.copytree(FIXTURE_KB, articles)
    bad = articles / "kb" / "broken.md"
    bad.write_text("---\ntitle: [unclosed\n---\nbody\n")
    first = _build(articles, index_copy)
    assert any("broken.md:2: invalid YAML" in p for p in first.problems)
    again = _build(articles, index_copy)
    assert again.problems == first.problems
    bad.write_text("---\ntitle: Fixed now\n---\n## Body\n\nSegmentation fault in the frobnicator.\n")
    fixed = _build(articles, index_copy)
    assert fixed.problems == [] and fixed.stats.changed == 1
    assert KnowledgeBase(Settings(index=index_copy)).search("frobnicator segfault", k=1).results[0].id == "kb/broken"


def test_hnsw_can_be_forced_and_finds_the_same_answers(tmp_path, index_copy):
    from dataclasses import replace

    articles = tmp_path / "articles"
    shutil.copytree(FIXTURE_KB, articles)
    settings = replace(Settings(articles=articles, index=index_copy), faiss="hnsw")
    build(settings, full=False, log=lambda m: None, progress=False)
    idx = KnowledgeBase(Settings(index=index_copy)).index()
    assert idx.manifest["faiss"] == "hnsw" and type(idx.dense.index.faiss).__name__ == "IndexHNSWSQ"
    assert idx.search("No space left on device", k=1).results[0].id == "runbooks/disk-full"
    assert (
        idx.search("ORA-00942: table or view does not exist", k=1).results[0].id == "known-issues/oracle-table-missing"
    )


def test_an_hnsw_graph_is_extended_in_place_until_too_many_ids_are_dead(tmp_path, index_copy):
    from dataclasses import replace

    from kb.dense import MAX_TOMBSTONES

    articles = tmp_path / "articles"
    shutil.copytree(FIXTURE_KB, articles)
    settings = replace(Settings(articles=articles, index=index_copy), faiss="hnsw")
    build(settings, log=lambda m: None, progress=False)
    disk = articles / "runbooks" / "disk-full.md"
    disk.write_text(disk.read_text() + "\n## Also\n\nZorblax quota exhausted: purge the frobnicator spool.\n")
    (articles / "known-issues" / "kafka-commit-failed.md").unlink()
    second = build(settings, log=lambda m: None, progress=False)
    idx = KnowledgeBase(Settings(index=index_copy)).index()
    dead = idx.manifest["dense_tombstones"]
    assert (
        dead > 0 and idx.dense.index.faiss.ntotal == second.stats.chunks + dead
    )  # old graph kept, new chunks appended
    assert idx.gen.has("dense_ids")
    assert idx.search("zorblax quota exhausted", k=1).results[0].id == "runbooks/disk-full"
    assert "known-issues/kafka-commit-failed" not in {r.id for r in idx.search("CommitFailedException", k=10).results}
    assert [s.id for s in idx.similar("runbooks/disk-full")]  # vectors found through the id map
    # The answers are those of a graph built from scratch.
    full_index = tmp_path / "full"
    build(replace(settings, index=full_index), log=lambda m: None, progress=False)
    fresh = KnowledgeBase(Settings(index=full_index)).index()
    for q in (
        "No space left on device",
        "ORA-00942: table or view does not exist",
        "certificate has expired",
        "zorblax quota exhausted",
        "OOM command not allowed when used memory > maxmemory",
    ):
        assert [r.id for r in idx.search(q, k=3).results] == [r.id for r in fresh.search(q, k=3).results], q
    # Edits go on until the dead ids pass the limit: then the graph is rebuilt without them.
    for round_ in range(40):
        disk.write_text(disk.read_text() + f"\nround {round_}\n")
        build(settings, log=lambda m: None, progress=False)
        manifest = store.Generation.current(index_copy).manifest
        if manifest["dense_tombstones"] == 0:
            break
        assert manifest["dense_tombstones"] <= MAX_TOMBSTONES * (
            manifest["counts"]["chunks"] + manifest["dense_tombstones"]
        )
    else:
        raise AssertionError("the graph was never rebuilt")
    assert not store.Generation.current(index_copy).has("dense_ids")
    assert KnowledgeBase(Settings(index=index_copy)).search("zorblax quota", k=1).results[0].id == "runbooks/disk-full"


def test_updated_falls_back_to_the_last_git_commit(tmp_path):
    import subprocess

    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "a.md").write_text("---\ntitle: Disk full on db-1\n---\n## Symptom\n\nNo space left on device\n")
    (articles / "b.md").write_text("---\ntitle: Old note\nupdated: 2024-01-02\n---\n## Symptom\n\nSegfault\n")
    (articles / "c.md").write_text("---\ntitle: Edited since\ncreated: 2020-05-05\n---\n## Symptom\n\nOOM\n")
    git = ["git", "-C", str(articles), "-c", "user.name=t", "-c", "user.email=t@e"]
    subprocess.run(["git", "init", "-q", str(articles)], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(
        git + ["commit", "-qm", "x", "--date", "2026-02-03T10:00:00"],
        check=True,
        env={**__import__("os").environ, "GIT_COMMITTER_DATE": "2026-02-03T10:00:00"},
    )
    index = tmp_path / "index"
    _build(articles, index)
    kb = KnowledgeBase(Settings(index=index))
    assert kb.index().article("a").updated == "2026-02-03"
    assert kb.index().article("b").updated == "2024-01-02"
    assert kb.search("No space left on device", k=1).results[0].updated == "2026-02-03"
    assert kb.index().manifest["git_commit"]
    # A commit after `created` is the later change; `kb check --stale` dates every article the same way.
    assert kb.index().article("c").updated == "2026-02-03"
    from kb.check import stale

    since = {
        p.path.rsplit("/", 1)[-1]: re.search(r"since (\S+),", p.message)[1]
        for p in stale(articles, 1, today=dt.date(2030, 1, 1))
    }
    assert since == {name: kb.index().article(name[:-3]).updated for name in ("a.md", "b.md", "c.md")}


def test_the_onnx_export_is_made_once_and_copied_into_new_indexes(tmp_path, built_index, monkeypatch):
    import kb.embedding as embedding

    cache = tmp_path / "cache"
    cache.mkdir()
    (exported,) = (built_index / "models").glob("*.onnx")
    shutil.copyfile(exported, cache / exported.name)  # as a first build on this machine left it

    def no_export(*a):
        raise AssertionError("exported again")

    monkeypatch.setattr(embedding, "export_onnx", no_export)
    index = tmp_path / "index"
    build(Settings(articles=FIXTURE_KB, index=index, cache=cache), log=lambda m: None, progress=False)
    copied = index / "models" / exported.name
    assert copied.read_bytes() == exported.read_bytes() and not copied.samefile(cache / exported.name)
    assert (
        KnowledgeBase(Settings(index=index)).search("No space left on device", k=1).results[0].id
        == "runbooks/disk-full"
    )
    # Without a usable cache the index gets its own export.
    calls = []
    monkeypatch.setattr(embedding, "export_onnx", lambda src, out: (calls.append(out), shutil.copyfile(exported, out)))
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")
    build(
        Settings(articles=FIXTURE_KB, index=tmp_path / "other", cache=blocked / "kb"),
        log=lambda m: None,
        progress=False,
    )
    assert calls == [tmp_path / "other" / "models" / exported.name]


def test_settings_put_the_model_cache_under_xdg_cache_home():
    assert Settings.from_env({"XDG_CACHE_HOME": "/c"}).cache == Path("/c/kb")
    assert Settings.from_env({"KB_CACHE": "/k", "XDG_CACHE_HOME": "/c"}).cache == Path("/k")


def test_a_normalizer_change_that_only_touches_lexical_terms_keeps_every_vector(index_copy):
    import json

    gen = store.Generation.current(index_copy).path
    manifest = json.loads((gen / "manifest.json").read_text())
    (gen / "manifest.json").write_text(json.dumps({**manifest, "normalizer_version": 0}))  # an older normalizer
    result = build(Settings(articles=FIXTURE_KB, index=index_copy), log=lambda m: None, progress=False)
    assert result.stats.changed == 0 and result.stats.embedded == 0 and result.stats.reused == result.stats.chunks


def test_a_build_without_a_terminal_logs_its_progress(tmp_path, monkeypatch):
    import kb.indexer

    monkeypatch.setattr(kb.indexer, "PROGRESS_LINES_FROM", 10)
    monkeypatch.setattr(kb.indexer, "PROGRESS_STEP", 10)
    lines: list[str] = []
    build(Settings(articles=FIXTURE_KB, index=tmp_path / "index"), log=lines.append, progress=False)
    progress = [ln for ln in lines if ln.startswith("embedded ")]
    assert len(progress) >= 2 and " s left)" in progress[0] and progress[-1].split()[1] == progress[-1].split()[3]
