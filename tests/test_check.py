"""`kb check`: golden messages for bad input, the author workflow, near-duplicates, staleness."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kb.article_vectors import article_vectors
from kb.articles import article_paths
from kb.check import check_paths, read_article, stale
from kb.cli import cli
from kb.gitinfo import last_commit_dates

from .conftest import DATA, FIXTURE_KB

BAD = DATA / "check" / "bad"
DEMO = Path(__file__).resolve().parents[1] / "articles"
GOLDEN = sorted(BAD.glob("*.md"))

FILLED = {
    "Summary": "On 2025-03-14 checkout returned HTTP 502 for 47 minutes because the certificate on the "
    "internal payments load balancer expired. A new certificate fixed it.",
    "Impact": "- 18,400 failed checkout attempts in EU and US.\n- 412 support tickets.",
    "Detection": "`CheckoutErrorRateHigh` fired three minutes after expiry. nginx logged:\n\n```\n"
    "upstream SSL certificate verify error: (10:certificate has expired)\n```",
    "Timeline": "| Time (UTC) | Event |\n|---|---|\n| 09:12 | Certificate expires |\n| 09:59 | Recovered |",
    "Root cause": "The listener certificate was issued by hand and never added to cert-manager or to the "
    "expiry probe, so nothing renewed it and nothing alerted.",
    "Resolution": "Issued a new certificate from Vault PKI, uploaded it to the listener, reloaded nginx.",
    "Action items": "| Action | Owner | Ticket | Status |\n|---|---|---|---|\n"
    "| Manage LB certificates with cert-manager | team-sre | OPS-101 | Done |",
    "Lessons learned": "A deploy shortly before an outage is not proof of cause: read the error first.",
}


def _run(runner, *args: str):
    return runner.invoke(cli, ["check", *args])


def _normalized(output: str) -> dict:
    return json.loads(output.replace(str(BAD) + "/", ""))


@pytest.mark.parametrize("md", GOLDEN, ids=[p.name for p in GOLDEN])
def test_golden_messages(runner, md):
    r = _run(runner, "--articles", str(BAD), "--no-similar", "--format", "json", str(md))
    expected = json.loads(md.with_suffix(".expected.json").read_text(encoding="utf-8"))
    assert _normalized(r.output) == expected
    assert r.exit_code == (1 if expected["errors"] else 0)
    assert "Traceback" not in r.output


def test_every_golden_file_has_its_expectation():
    assert {p.name.removesuffix(".expected.json") for p in BAD.glob("*.expected.json")} == {p.stem for p in GOLDEN}


def test_text_output_is_compiler_style(runner):
    r = _run(runner, "--articles", str(BAD), "--no-similar", str(BAD / "crlf.md"), str(BAD / "warnings-only.md"))
    lines = r.stdout.strip().split("\n")
    assert lines[0] == f"{BAD / 'crlf.md'}:5: E202 `severity` is 'P1'; allowed: SEV1, SEV2, SEV3, SEV4"
    assert all(re.match(r"^\S+:\d+: [EW]\d{3} ", ln) for ln in lines)
    assert r.exit_code == 1
    only_warnings = _run(runner, "--articles", str(BAD), "--no-similar", str(BAD / "warnings-only.md"))
    assert only_warnings.exit_code == 0 and "W209" in only_warnings.output


def test_a_5_mb_article_is_checked_and_a_larger_one_is_refused(tmp_path):
    head = "---\ntitle: A very long pasted log\ntype: kb\n---\n\n## Overview\n\n"
    line = "2025-03-14 09:12:07 [error] upstream timed out (110: Connection timed out) while reading\n"
    big = tmp_path / "big.md"
    big.write_text(head + line * ((5_000_000 - len(head)) // len(line)), encoding="utf-8")
    problems = check_paths(tmp_path, similar=False)
    assert [(p.code, p.line) for p in problems] == [("W105", 1)]
    huge = tmp_path / "huge.md"
    huge.write_bytes(big.read_bytes() * 2)
    problems = check_paths(tmp_path, [huge], similar=False)
    assert [(p.code, p.message) for p in problems] == [("E104", "file is 9.5 MiB, over the 5 MiB limit")]


def test_paths_are_checked_against_the_whole_kb(tmp_path):
    shutil.copytree(BAD, tmp_path / "kb")
    root = tmp_path / "kb"
    (root / ".templates").mkdir()
    (root / ".templates" / "kb.md").write_text("<!-- guidance: x -->\n")
    (root / "README.md").write_text("not an article\n")
    (root / "_drafts").mkdir()
    (root / "_drafts" / "half.md").write_text("---\ntitle: [unclosed\n---\n")  # kb index skips it too
    problems = check_paths(
        root,
        [
            root / "dup-id-a.md",
            root / ".templates" / "kb.md",
            root / "README.md",
            root / "_drafts" / "half.md",
            root / "_drafts",
        ],
        similar=False,
    )
    assert [(Path(p.path).name, p.code) for p in problems] == [("dup-id-a.md", "E206")]
    assert "dup-id-b.md" in problems[0].message
    # A target is the file already read under root, whether spelled as read or otherwise.
    from kb.check import _targets

    everything = [read_article(p, root, str(p)) for p in article_paths(root)]
    first = next(f for f in everything if f.path.name == "dup-id-a.md")
    other = Path(os.path.relpath(root / "dup-id-a.md"))  # relative to the working folder, root is absolute
    for spelling in (root / "dup-id-a.md", other):
        assert [t is first for t in _targets(root, [spelling], everything)] == [True]


def test_a_missing_articles_folder_is_an_error(runner, tmp_path):
    r = _run(runner, "--articles", str(tmp_path / "nope"), "--no-similar")
    assert r.exit_code == 1 and "Error: articles folder" in r.output


def test_every_demo_article_passes(runner):
    r = _run(runner, "--articles", str(DEMO), "--no-similar", "--format", "json")
    data = json.loads(r.output)
    assert [p for p in data["problems"] if p["severity"] == "error"] == []
    assert r.exit_code == 0


def _fill(path: Path) -> None:
    text = path.read_text(encoding="utf-8").replace("severity:\n", "severity: SEV1\n")
    for heading, content in FILLED.items():
        text = re.sub(
            rf"(## {heading}\n\n)<!-- guidance:.*?-->\n(\n\|.*?\|\n\|.*?\|\n\|.*?\|\n)?",
            lambda m, c=content: m.group(1) + c + "\n",
            text,
            flags=re.S,
        )
    path.write_text(text, encoding="utf-8")


@pytest.mark.slow
def test_author_workflow_new_check_fill_and_near_duplicate(runner, tmp_path):
    articles, no_index = tmp_path / "articles", tmp_path / "index"
    new = runner.invoke(
        cli,
        [
            "new",
            "--articles",
            str(articles),
            "postmortem",
            "Checkout 502s after LB cert rotation",
            "--service",
            "checkout",
        ],
    )
    path = Path(new.stdout.strip())
    first = _run(runner, "--articles", str(articles), "--index", str(no_index), str(path))
    assert first.exit_code == 1
    codes = re.findall(r":\d+: (\w+) (.*)", first.stdout)
    assert ("E201", "missing required key `severity` for a postmortem: one of SEV1, SEV2, SEV3, SEV4") in codes
    # A new article is a draft: its empty sections are warnings until it is published.
    assert "status: draft" in path.read_text(encoding="utf-8")
    assert [m for c, m in codes if c == "W301"] == [f"empty section `## {h}`: write it or delete it" for h in FILLED]
    published = path.read_text(encoding="utf-8").replace("status: draft", "status: published")
    path.write_text(published, encoding="utf-8")
    strict = _run(runner, "--articles", str(articles), "--index", str(no_index), str(path))
    assert len(re.findall(r": E301 ", strict.stdout)) == len(FILLED)  # published, they are errors

    _fill(path)
    second = _run(runner, "--articles", str(articles), "--index", str(no_index), str(path))
    assert second.exit_code == 0 and second.stdout == "", second.output

    copy = path.with_name("2025-04-02-checkout-502-again.md")
    text = path.read_text(encoding="utf-8").replace("2025-03-14", "2025-04-02")
    text = text.replace("The listener certificate was issued by hand", "Someone issued the certificate manually")
    text = text.replace(
        "## Resolution\n\n", "## Resolution\n\nRetried twice first; that did not help.\nThen paged the edge team.\n"
    )
    copy.write_text(
        text.replace(f"id: {path.parent.name}/{path.stem}", "id: postmortems/checkout-502-again"), encoding="utf-8"
    )
    third = _run(runner, "--articles", str(articles), "--index", str(no_index), "--format", "json", str(copy))
    dups = [p for p in json.loads(third.output)["problems"] if p["code"] == "E402"]
    assert len(dups) == 1 and dups[0]["path"] == str(copy) and str(path) in dups[0]["message"]
    assert third.exit_code == 1  # a copy (similarity >= 0.99) is an error


@pytest.mark.slow
def test_near_duplicate_of_an_indexed_article(runner, built_index, tmp_path):
    original = FIXTURE_KB / "known-issues" / "postgres-too-many-connections.md"
    text = original.read_text(encoding="utf-8")
    text = re.sub(r"\d{4}-\d{2}-\d{2}", "2026-02-01", text)
    text += "\nSeen again during the February load test; the same workaround applied.\n"
    copy = tmp_path / "postgres-connections-again.md"
    copy.write_text(text.replace("title:", "id: kb/copy\ntitle:", 1), encoding="utf-8")
    r = _run(runner, "--articles", str(FIXTURE_KB), "--index", str(built_index), str(copy))
    assert r.exit_code == 1  # a copy with the same signatures is an error, not a warning
    codes = re.findall(rf"{copy}:\d+: (\w+) ", r.stdout)
    assert "E216" in codes and ("E402" in codes or "W401" in codes), r.stdout
    assert re.search(rf"(E402 a copy|W401 near-duplicate) of {original} \(similarity 0\.9\d\d\)", r.stdout)
    # Saying "yes, on purpose" is one frontmatter key.
    copy.write_text(
        text.replace(
            "title:", "id: kb/copy\nallow_duplicates: [known-issues/postgres-too-many-connections]\ntitle:", 1
        ),
        encoding="utf-8",
    )
    r = _run(runner, "--articles", str(FIXTURE_KB), "--index", str(built_index), str(copy))
    assert r.exit_code == 0 and r.stdout == "", r.stdout


@pytest.mark.slow
def test_distinct_fixture_articles_are_not_near_duplicates(built_index):
    problems = check_paths(FIXTURE_KB, index_dir=built_index)
    assert [p for p in problems if p.code == "W401"] == []


@pytest.mark.slow
def test_index_vectors_and_fresh_embeddings_agree(built_index):
    from kb.article_vectors import _encoder, _generation, embed_articles
    from kb.embedding import model_identity

    files = [read_article(p, FIXTURE_KB) for p in sorted(FIXTURE_KB.rglob("*.md"))[:6]]
    arts = [f.article for f in files if f.article]
    reused = article_vectors(arts, built_index)
    identity = model_identity()
    fresh = embed_articles(arts, *_encoder(_generation(built_index, identity), identity, None))
    fresh /= (fresh**2).sum(axis=1, keepdims=True) ** 0.5
    assert ((reused * fresh).sum(axis=1) > 0.9999).all()


@pytest.mark.slow
def test_without_an_index_the_cached_onnx_export_embeds(built_index, tmp_path, monkeypatch):
    import kb.article_vectors
    from kb.article_vectors import _encoder, embed_articles
    from kb.embedding import model_identity

    onnx = next((built_index / "models").glob("*.onnx"))  # named by the weights' hash, as in the cache
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copyfile(onnx, cache / onnx.name)
    files = [read_article(p, FIXTURE_KB) for p in sorted(FIXTURE_KB.rglob("*.md"))[:6]]
    arts = [f.article for f in files if f.article]
    monkeypatch.setattr(
        kb.article_vectors, "TorchEncoder", lambda *a: pytest.fail("used torch though the cache has the export")
    )
    identity = model_identity()
    fresh = embed_articles(arts, *_encoder(None, identity, cache))
    fresh /= (fresh**2).sum(axis=1, keepdims=True) ** 0.5
    assert ((article_vectors(arts, built_index) * fresh).sum(axis=1) > 0.9999).all()
    with pytest.raises(pytest.fail.Exception, match="used torch"):
        _encoder(None, identity, tmp_path / "empty-cache")


def _git(root: Path, *args: str, date: str | None = None) -> None:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "PATH": "/usr/bin:/bin",
    }
    if date:
        env |= {"GIT_AUTHOR_DATE": f"{date}T12:00:00", "GIT_COMMITTER_DATE": f"{date}T12:00:00"}
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env)


def test_stale_articles_with_their_owner(tmp_path, runner):
    root = tmp_path / "articles"
    (root / "kb").mkdir(parents=True)
    body = "\n## Overview\n\nText.\n"
    (root / "kb" / "old.md").write_text(f"---\ntitle: Old\ntype: kb\nupdated: 2024-01-10\nowner: team-sre\n---\n{body}")
    (root / "kb" / "created-only.md").write_text(f"---\ntitle: C\ntype: kb\ncreated: 2025-12-01\n---\n{body}")
    (root / "kb" / "fresh.md").write_text(f"---\ntitle: Fresh\ntype: kb\nupdated: 2026-01-01\n---\n{body}")
    (root / "kb" / "draft.md").write_text(f"---\ntitle: D\ntype: kb\nstatus: draft\nupdated: 2020-01-01\n---\n{body}")
    (root / "kb" / "undated.md").write_text(f"---\ntitle: U\ntype: kb\n---\n{body}")
    assert last_commit_dates(root) == {}
    problems = stale(root, 30, today=dt.date(2026, 1, 15))
    assert [(Path(p.path).name, p.line, p.code, p.message) for p in problems] == [
        (
            "created-only.md",
            4,
            "W501",
            "not updated for 45 days (since 2025-12-01, from `created`); owner: none (set `owner`)",
        ),
        ("old.md", 4, "W501", "not updated for 736 days (since 2024-01-10, from `updated`); owner: team-sre"),
    ]
    (root / "kb" / "edited.md").write_text(f"---\ntitle: E\ntype: kb\ncreated: 2020-01-01\n---\n{body}")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "articles", date="2025-06-30")
    assert last_commit_dates(root)["kb/undated.md"] == "2025-06-30"
    found = {Path(p.path).name: p.message for p in stale(root, 30, today=dt.date(2026, 1, 15))}
    assert (
        found["undated.md"] == "not updated for 199 days (since 2025-06-30, from last commit); "
        "owner: none (set `owner`)"
    )
    # A commit after `created` is a later change: dated as the index dates it, not by `created`.
    assert (
        found["edited.md"] == "not updated for 199 days (since 2025-06-30, from last commit); owner: none (set `owner`)"
    )
    days = (dt.date.today() - dt.date(2025, 6, 30)).days + 1  # older than the commit: old.md only
    r = _run(runner, "--articles", str(root), "--stale", str(days))
    assert r.exit_code == 0 and r.stdout.count("W501") == 1 and "old.md" in r.stdout


def test_pre_commit_hook_runs_kb_check_on_articles():
    import yaml

    hooks = yaml.safe_load((DEMO.parent / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    hook = next(h for h in hooks if h["id"] == "kb-check")
    assert (hook["entry"], hook["language"], hook["pass_filenames"]) == ("kb check", "python", True)
    assert re.search(hook["files"], "articles/runbooks/disk-full.md")
    assert not re.search(hook["files"], "kb/check.py")


@pytest.mark.slow
def test_unchanged_articles_reuse_the_index_vectors(built_index, monkeypatch):
    import kb.article_vectors

    files = [read_article(p, FIXTURE_KB) for p in sorted(FIXTURE_KB.rglob("*.md"))]
    arts = [f.article for f in files if f.article]
    monkeypatch.setattr(kb.article_vectors, "_encoder", lambda *a: pytest.fail("embedded an article the index holds"))
    assert article_vectors(arts, built_index).shape == (len(arts), 384)
