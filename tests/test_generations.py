"""Index generations under stress: killed builds, concurrent builds, hot reload while serving,
damaged files and indexes built with another model."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from kb import store
from kb.cli import cli
from kb.config import Settings
from kb.core import KnowledgeBase
from kb.errors import IndexCorrupt, IndexIncompatible

from .conftest import FIXTURE_KB, serve_process

KB_BIN = str(Path(sys.executable).with_name("kb"))


@pytest.fixture
def kb_copy(tmp_path, index_copy):
    """A private articles folder and index, built from the fixture KB."""
    articles = tmp_path / "articles"
    shutil.copytree(FIXTURE_KB, articles)
    return articles, index_copy


def _touch_article(articles: Path, text: str) -> None:
    (articles / "kb" / "new-article.md").write_text(
        f"---\ntitle: {text}\ntype: kb\n---\n## Symptom\n\n{text}\n\n## Fix\n\nRestart the flux capacitor.\n"
    )


def _search_ok(index: Path, query: str = "No space left on device") -> str:
    return KnowledgeBase(Settings(index=index)).search(query, k=1).results[0].id


@pytest.mark.parametrize("delay", [0.3, 1.5, 3.0])
def test_a_killed_build_leaves_the_previous_generation_serving(kb_copy, delay):
    articles, index = kb_copy
    before = store.current_name(index)
    _touch_article(articles, f"quantum flux capacitor overheated after {delay} s")
    for n in range(3):  # enough to embed that the build lasts ~7 s here: every delay lands inside it
        for src in FIXTURE_KB.rglob("*.md"):  # every paragraph altered, so no chunk is a duplicate
            dst = articles / f"copy{n}" / src.relative_to(FIXTURE_KB)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(src.read_text(encoding="utf-8").replace("\n\n", f"\n\ncopy {n}: "), encoding="utf-8")
    proc = subprocess.Popen(
        [KB_BIN, "index", "--full", "--articles", str(articles), "--index", str(index)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(delay)
    assert proc.poll() is None, "the build ended before the kill: make it longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert store.current_name(index) == before
    assert _search_ok(index) == "runbooks/disk-full"
    # The lock died with the process and the next build cleans up what the killed one left.
    from kb.indexer import build

    result = build(Settings(articles=articles, index=index), log=lambda m: None, progress=False)
    assert store.current_name(index) == result.generation != before
    assert len(list(index.glob("gen-*"))) <= store.KEEP_GENERATIONS


def test_two_concurrent_builds_corrupt_nothing(kb_copy):
    articles, index = kb_copy
    _touch_article(articles, "tachyon emitter misaligned")
    cmd = [KB_BIN, "index", "--articles", str(articles), "--index", str(index)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes[0] == 0
    if codes[1] == 1:  # the loser says why, in one line, without a traceback
        err = next(e for p, (_, e) in zip(procs, outs, strict=True) if p.returncode == 1)
        assert "another `kb index` is building" in err and "Traceback" not in err
    assert _search_ok(index, "tachyon emitter misaligned") == "kb/new-article"


def test_a_waiting_build_runs_after_the_first(kb_copy):
    articles, index = kb_copy
    with store.build_lock(index):
        proc = subprocess.Popen(
            [KB_BIN, "index", "--wait", "60", "--articles", str(articles), "--index", str(index)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.0)
        assert proc.poll() is None  # still waiting for the lock
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err


def test_hot_reload_under_requests_drops_nothing(kb_copy, tmp_path):
    articles, index = kb_copy
    with serve_process(articles, index, tmp_path / "var", KB_RELOAD_INTERVAL="0.2") as (base, _):
        gen_before = json.load(urllib.request.urlopen(base + "/readyz"))["generation"]
        failures: list[str] = []
        done = threading.Event()
        count = [0]

        def hammer() -> None:
            body = json.dumps({"query": "x509: certificate has expired", "k": 3}).encode()
            while not done.is_set():
                req = urllib.request.Request(
                    base + "/api/v1/search", data=body, headers={"Content-Type": "application/json"}
                )
                try:
                    with urllib.request.urlopen(req, timeout=30) as r:
                        assert json.load(r)["results"]
                        count[0] += 1
                except Exception as e:  # noqa: BLE001 - every failure is counted
                    failures.append(repr(e))

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        _touch_article(articles, "warp core breach detected in sector seven")
        from kb.indexer import build

        build(Settings(articles=articles, index=index), log=lambda m: None, progress=False)
        deadline = time.monotonic() + 30
        while json.load(urllib.request.urlopen(base + "/readyz"))["generation"] == gen_before:
            assert time.monotonic() < deadline, "the server never picked up the new generation"
            time.sleep(0.2)
        time.sleep(0.5)
        done.set()
        for t in threads:
            t.join()
        assert failures == []
        assert count[0] > 10
        ready = json.load(urllib.request.urlopen(base + "/readyz"))
        assert ready["articles"] == 18
        q = urllib.parse.quote("warp core breach detected")
        top = json.load(urllib.request.urlopen(f"{base}/api/v1/search?q={q}"))["results"][0]
        assert top["id"] == "kb/new-article"


def _scramble(path: Path) -> None:
    """Random bytes after the first 128, same size: the damage a disk or a bad copy does."""
    data = bytearray(path.read_bytes())
    data[128:] = np.random.default_rng(1).integers(0, 256, len(data) - 128, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def _publish_damaged_copy(index: Path, damage) -> Path:
    """Copy the current generation to a new one, damage it, publish it."""
    gen = store.Generation.create(index)
    shutil.rmtree(gen.path)
    shutil.copytree(store.Generation.current(index).path, gen.path)
    damage(gen.path)
    store.publish(gen)
    return gen.path


@pytest.mark.parametrize(
    "damage, error",
    [
        (lambda g: (g / "dense.faiss").write_bytes((g / "dense.faiss").read_bytes()[:1000]), IndexCorrupt),
        (lambda g: (g / "lexical_data.npy").write_bytes((g / "lexical_data.npy").read_bytes()[:200]), IndexCorrupt),
        (lambda g: (g / "vocab.json").write_text("[]"), IndexCorrupt),
        (lambda g: (g / "phrases.npy").write_bytes((g / "phrases.npy").read_bytes()[:300]), IndexCorrupt),
        (lambda g: (g / "phrases.npy").write_bytes(b"garbage"), IndexCorrupt),
        (lambda g: (g / "dense_ids.npy").write_bytes(b"\x93NUMPY garbage"), IndexCorrupt),
        (lambda g: np.save(g / "dense_ids.npy", np.arange(3)), IndexCorrupt),  # counts that do not match
        (lambda g: _scramble(g / "lexical_indices.npy"), IndexCorrupt),  # same size: passed every load check
        (lambda g: _scramble(g / "phrase_offsets.npy"), IndexCorrupt),
        (lambda g: _scramble(g / "meta.sqlite"), IndexCorrupt),  # was a 500 on every request
        (lambda g: (g / "manifest.json").write_text("{"), IndexCorrupt),
        (lambda g: (g / "meta.sqlite").unlink(), IndexCorrupt),
        (
            lambda g: (g / "manifest.json").write_text(
                json.dumps({**json.loads((g / "manifest.json").read_text()), "model_sha256": "0" * 64})
            ),
            IndexIncompatible,
        ),
    ],
)
def test_a_damaged_generation_is_refused_and_the_old_one_keeps_serving(index_copy, damage, error, caplog, monkeypatch):
    kb = KnowledgeBase(Settings(index=index_copy, reload_interval=0.0))
    old = kb.index().generation
    bad = _publish_damaged_copy(index_copy, damage).name
    opened: list[str | None] = []
    open_ = kb._open
    monkeypatch.setattr(kb, "_open", lambda name: opened.append(name) or open_(name))
    assert kb.search("No space left on device", k=1).results[0].id == "runbooks/disk-full"
    assert kb.index().generation == old
    assert "kb index --full" in kb.last_reload_error
    assert f"refused index generation {bad}, still serving {old}: " in caplog.text  # the reason is logged
    assert opened == [bad]  # once: a published generation does not change, so it is not retried
    with pytest.raises(error, match="kb index --full"):  # a fresh process gets a clear message
        KnowledgeBase(Settings(index=index_copy)).index()


def test_a_vanished_pointer_keeps_the_loaded_generation_serving(index_copy, caplog, monkeypatch):
    kb = KnowledgeBase(Settings(index=index_copy, reload_interval=0.0))
    old = kb.index().generation
    opened: list[str | None] = []
    open_ = kb._open
    monkeypatch.setattr(kb, "_open", lambda name: opened.append(name) or open_(name))
    (index_copy / "CURRENT").unlink()
    for _ in range(3):
        assert kb.search("No space left on device", k=1).results[0].id == "runbooks/disk-full"
    assert kb.index().generation == old and kb.last_reload_error
    assert opened == [None] and caplog.text.count("refused index generation None") == 1


def test_a_server_loads_a_new_generation_while_requests_go_on_with_the_old_one(kb_copy, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="kb")
    articles, index = kb_copy
    kb = KnowledgeBase(Settings(articles=articles, index=index, reload_interval=0.0), background_reload=True)
    old = kb.index().generation
    loading, release = threading.Event(), threading.Event()
    open_ = kb._open

    def slow_open(name):
        loading.set()
        assert release.wait(30)
        return open_(name)

    kb._open = slow_open
    _touch_article(articles, "warp core breach detected in sector seven")
    from kb.indexer import build

    new = build(Settings(articles=articles, index=index), log=lambda m: None, progress=False).generation
    assert kb.index().generation == old  # starts the load and answers at once
    assert loading.wait(30)
    assert kb.search("warp core breach", k=1).results[0].id != "kb/new-article"  # the old one, meanwhile
    release.set()
    deadline = time.monotonic() + 30
    while kb.index().generation != new:
        assert time.monotonic() < deadline, "the new generation was never swapped in"
        time.sleep(0.05)
    assert kb.search("warp core breach", k=1).results[0].id == "kb/new-article"
    assert f"serving index generation {new} (18 articles" in caplog.text


def test_cli_reports_an_index_from_another_model_clearly(index_copy, runner):
    gen = store.Generation.current(index_copy).path
    manifest = json.loads((gen / "manifest.json").read_text())
    (gen / "manifest.json").write_text(json.dumps({**manifest, "model": "some/other-model"}))
    r = runner.invoke(cli, ["--index", str(index_copy), "search", "disk full"])
    assert r.exit_code == 1
    assert "built with model='some/other-model'" in r.output and "run `kb index --full`" in r.output


def test_a_build_over_a_damaged_generation_says_to_rebuild_and_full_does(kb_copy, runner):
    articles, index = kb_copy
    gen = store.Generation.current(index).path
    (gen / "dense.faiss").write_bytes((gen / "dense.faiss").read_bytes()[:1000])
    _touch_article(articles, "photon relay desynchronized")
    r = runner.invoke(cli, ["--articles", str(articles), "--index", str(index), "index"])
    assert r.exit_code == 1 and "kb index --full" in r.output and "Traceback" not in r.output
    assert store.Generation.current(index).path == gen  # nothing published
    r = runner.invoke(cli, ["--articles", str(articles), "--index", str(index), "index", "--full"])
    assert r.exit_code == 0, r.output
    assert _search_ok(index, "photon relay desynchronized") == "kb/new-article"


def test_readyz_names_the_damaged_file_and_no_path(index_copy):
    from kb.web import create_app

    _publish_damaged_copy(index_copy, lambda g: _scramble(g / "lexical_indices.npy"))
    resp = create_app(Settings(index=index_copy)).test_client().get("/readyz")
    assert resp.status_code == 503
    assert "lexical_indices.npy is damaged" in resp.json["error"]["message"]
    assert str(index_copy) not in resp.get_data(as_text=True)
