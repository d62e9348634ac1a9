"""Index generations: atomic publish, pruning, the build lock, pinning."""

from __future__ import annotations

import pytest

from kb import store
from kb.errors import IndexCorrupt, IndexIncompatible, IndexLocked, IndexMissing


def test_no_index_says_to_run_kb_index(tmp_path):
    with pytest.raises(IndexMissing, match="run `kb index`"):
        store.current_path(tmp_path)


def test_publish_flips_the_pointer_and_keeps_two_generations(tmp_path):
    names = []
    for _ in range(4):
        gen = store.new_generation(tmp_path)
        store.write_manifest(gen, {"format_version": 1})
        store.publish(tmp_path, gen)
        names.append(gen.name)
    assert store.current_name(tmp_path) == names[-1]
    left = sorted(p.name for p in tmp_path.glob("gen-*"))
    assert left == sorted(names[-2:])


def test_unpublished_leftovers_are_pruned(tmp_path):
    gen = store.new_generation(tmp_path)
    store.write_manifest(gen, {})
    store.publish(tmp_path, gen)
    crashed = store.new_generation(tmp_path)  # no manifest: a build killed half-way
    store.prune(tmp_path)
    assert not crashed.exists()
    assert gen.exists()


def test_a_second_build_gives_up_with_a_clear_message(tmp_path):
    with store.build_lock(tmp_path):
        with pytest.raises(IndexLocked, match="another `kb index` is building"):
            with store.build_lock(tmp_path, wait=0.3):
                pass
    with store.build_lock(tmp_path):  # released
        pass


def test_manifest_pinning(tmp_path):
    with pytest.raises(IndexIncompatible, match=r"kb index --full"):
        store.check_compatible(tmp_path, {"model": "other"}, {"model": "mine"})
    (tmp_path / "manifest.json").write_text("{trunc")
    with pytest.raises(IndexCorrupt, match="unreadable"):
        store.read_manifest(tmp_path)
