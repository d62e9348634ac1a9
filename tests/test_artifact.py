"""The index as a build artifact: `kb index --export FILE` writes one file, `kb serve --index
FILE` unpacks it once, checks every file and serves it; a damaged, foreign or hostile file is
refused with its reason, and one built with another format is refused like any index."""

from __future__ import annotations

import io
import json
import tarfile
import urllib.request

import pytest

from kb.artifact import LISTING, ArtifactError, export, materialize
from kb.config import Settings
from kb.core import KnowledgeBase
from kb.errors import IndexCorrupt, IndexIncompatible
from kb.store import Generation
from tests.conftest import FIXTURE_KB, serve_process


@pytest.fixture(scope="module")
def exported(built_index, tmp_path_factory):
    out = tmp_path_factory.mktemp("artifact") / "kb-index.tar"
    return export(built_index, out)


def _rewrite(src, dst, change):
    """A copy of the artifact `src` with `change(name, data) -> (name, data) | None` applied to each member."""
    with tarfile.open(src) as old, tarfile.open(dst, "w") as new:
        for m in old.getmembers():
            data = old.extractfile(m).read() if m.isfile() else None
            got = change(m.name, data)
            if got is None:
                continue
            name, data = got
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                new.addfile(info)
            else:
                info.size = len(data)
                new.addfile(info, io.BytesIO(data))
    return dst


def test_an_exported_index_is_served_by_a_replica_that_has_no_build(exported, tmp_path, built_index):
    assert exported.generation == Generation.current(built_index).name and exported.bytes > 1_000_000
    with serve_process(FIXTURE_KB, exported.path, tmp_path / "var", KB_CACHE=str(tmp_path / "cache")) as (base, _):
        with urllib.request.urlopen(base + "/readyz", timeout=10) as r:
            assert json.loads(r.read())["generation"] == exported.generation
        body = json.dumps({"query": "No space left on device", "k": 1}).encode()
        req = urllib.request.Request(base + "/api/v1/search", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert json.loads(r.read())["results"][0]["id"] == "runbooks/disk-full"
    first = materialize(exported.path, tmp_path / "cache")
    assert materialize(exported.path, tmp_path / "cache") == first  # unpacked once, then reused


def test_a_damaged_file_in_the_artifact_is_refused_by_name(exported, tmp_path):
    def flip(name, data):
        if name.endswith("/dense.faiss"):
            data = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
        return name, data

    bad = _rewrite(exported.path, tmp_path / "bad.tar", flip)
    with pytest.raises(IndexCorrupt, match="dense.faiss is damaged"):
        materialize(bad, tmp_path / "cache")
    assert not list((tmp_path / "cache" / "artifacts").iterdir())  # nothing half-unpacked is left


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda n, d: (n.replace(n, "../../evil") if n.endswith("vocab.json") else n, d), "no exported index has"),
        (lambda n, d: None if n == LISTING else (n, d), f"no {LISTING}"),
        (
            lambda n, d: (n, json.dumps({**json.loads(d), "artifact_format": 99}).encode()) if n == LISTING else (n, d),
            "artifact format 99",
        ),
    ],
    ids=["traversal", "no-listing", "newer-format"],
)
def test_a_file_that_is_not_an_artifact_is_refused(exported, tmp_path, change, message):
    bad = _rewrite(exported.path, tmp_path / "bad.tar", change)
    with pytest.raises(ArtifactError, match=message):
        materialize(bad, tmp_path / "cache")
    assert not (tmp_path / "evil").exists() and not (tmp_path.parent / "evil").exists()
    (tmp_path / "junk.tar").write_bytes(b"not a tar file at all" * 100)
    with pytest.raises(ArtifactError, match="not a tar file"):
        materialize(tmp_path / "junk.tar", tmp_path / "cache")


def test_a_generation_built_with_another_format_is_refused_when_served(exported, tmp_path):
    def older(name, data):
        if name.endswith("/manifest.json"):
            data = json.dumps({**json.loads(data), "format_version": 1}).encode()
        return name, data

    index = materialize(_rewrite(exported.path, tmp_path / "old.tar", older), tmp_path / "cache")
    kb = KnowledgeBase(Settings(articles=FIXTURE_KB, index=index, data=tmp_path / "var"))
    with pytest.raises(IndexIncompatible, match="format_version=1"):
        kb.search("No space left on device")
