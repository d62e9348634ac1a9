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


def test_prune_keeps_the_current_and_previous_published_never_a_complete_leftover(tmp_path):
    for _ in range(2):
        g = Generation.create(tmp_path)
        g.write_manifest({})
        store.publish(g)
    second = g
    killed = Generation.create(tmp_path)
    killed.write_manifest({})  # complete, newer than both, but never published: a build killed before publishing
    third = Generation.create(tmp_path)
    third.write_manifest({})
    store.publish(third)
    left = {p.name for p in tmp_path.glob("gen-*")}
    assert left == {third.name, second.name}  # the one serving until now stays for servers still on it
    assert (tmp_path / "PREVIOUS").read_text().strip() == second.name


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


def test_every_file_is_verified_against_the_manifest_checksums(tmp_path):
    gen = Generation.create(tmp_path)
    (gen.path / "vocab.json").write_text('["disk"]')
    (gen.path / "idf.npy").write_bytes(b"0123456789")
    gen.write_manifest({"files": gen.checksums()})
    gen.verify()
    (gen.path / "idf.npy").write_bytes(b"0123456780")  # same size, one byte changed
    with pytest.raises(IndexCorrupt, match=r"idf.npy is damaged") as e:
        Generation(gen.path).verify()
    assert str(tmp_path) not in str(e.value)  # named by generation and file, never an absolute path
    (gen.path / "idf.npy").write_bytes(b"0123456789")
    (gen.path / "vocab.json").unlink()
    with pytest.raises(IndexCorrupt, match="vocab.json is missing"):
        Generation(gen.path).verify()


def test_generation_file_names_appear_in_one_place():
    """Only kb/store.py spells the files of a generation; every other module asks it by role."""
    names = set(Generation.FILES.values())
    for path in KB.rglob("*.py"):
        if path.name == "store.py":
            continue
        text = path.read_text()
        found = {n for n in names if re.search(rf"['\"/ ]{re.escape(n)}\b", text)}
        assert not found, f"{path.relative_to(KB)} names {found}"
