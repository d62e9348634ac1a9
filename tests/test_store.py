"""Index generations: atomic publish, pruning, the build lock, pinning, one home for file names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kb import store
from kb.errors import IndexCorrupt, IndexIncompatible, IndexLocked, IndexMissing
from kb.store import Generation

KB = Path(__file__).resolve().parents[1] / "kb"


def test_no_index_says_to_run_kb_index(tmp_path):
    with pytest.raises(IndexMissing, match="run `kb index`"):
        Generation.current(tmp_path)


def test_publish_flips_the_pointer_and_keeps_two_generations(tmp_path):
    names = []
    for _ in range(4):
        gen = Generation.create(tmp_path)
        gen.write_manifest({"format_version": 1})
        store.publish(gen)
        names.append(gen.name)
    assert store.current_name(tmp_path) == names[-1]
    assert Generation.current(tmp_path).path == tmp_path / names[-1]
    left = sorted(p.name for p in tmp_path.glob("gen-*"))
    assert left == sorted(names[-2:])


def test_unpublished_leftovers_are_pruned(tmp_path):
    gen = Generation.create(tmp_path)
    gen.write_manifest({})
    store.publish(gen)
    crashed = Generation.create(tmp_path)  # no manifest: a build killed half-way
    store.prune(tmp_path)
    assert not crashed.path.exists()
    assert gen.path.exists()


def test_a_second_build_gives_up_with_a_clear_message(tmp_path):
    with store.build_lock(tmp_path):
        with pytest.raises(IndexLocked, match="another `kb index` is building"):
            with store.build_lock(tmp_path, wait=0.3):
                pass
    with store.build_lock(tmp_path):  # released
        pass


def test_manifest_pinning(tmp_path):
    gen = Generation(tmp_path)
    gen.write_manifest({"model": "other"})
    with pytest.raises(IndexIncompatible, match=r"kb index --full"):
        gen.check({"model": "mine"})
    assert not gen.reusable({"model": "mine"}) and gen.reusable({"model": "other"})
    (tmp_path / "manifest.json").write_text("{trunc")
    with pytest.raises(IndexCorrupt, match="unreadable"):
        _ = Generation(tmp_path).manifest


def test_a_missing_metadata_database_is_corrupt_not_a_crash(tmp_path):
    with pytest.raises(IndexCorrupt, match="meta.sqlite is missing"):
        Generation(tmp_path).metadata()


def test_generation_file_names_appear_in_one_place():
    """Only kb/store.py spells the files of a generation; every other module asks it by role."""
    names = set(Generation.FILES.values())
    for path in KB.rglob("*.py"):
        if path.name == "store.py":
            continue
        text = path.read_text()
        found = {n for n in names if re.search(rf"['\"/ ]{re.escape(n)}\b", text)}
        assert not found, f"{path.relative_to(KB)} names {found}"
