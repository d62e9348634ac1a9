"""The CLI through CliRunner: thin commands, `Error: ...` and exit 1 on failure."""

from __future__ import annotations

import json

from kb.cli import cli

from .conftest import FIXTURE_KB


def test_search_prints_results_for_people(runner, built_index):
    r = runner.invoke(
        cli,
        ["--index", str(built_index), "search", "-k", "2", "OOM command not allowed when used memory > 'maxmemory'"],
    )
    assert r.exit_code == 0, r.output
    assert "1. [strong" in r.output
    assert "Redis" in r.output and "Root cause:" in r.output


def test_search_json_and_stdin(runner, built_index):
    r = runner.invoke(
        cli,
        ["search", "--index", str(built_index), "--json", "-"],
        input="2025-02-10 14:03:22 UTC [1] FATAL:  remaining connection slots are reserved "
        "for non-replication superuser connections\n",
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["results"][0]["id"] == "known-issues/postgres-too-many-connections"


def test_search_without_index_says_what_to_do(runner, tmp_path):
    r = runner.invoke(cli, ["--index", str(tmp_path), "search", "disk full"])
    assert r.exit_code == 1
    assert f"Error: no index yet in the folder {tmp_path}/ - run `kb index` first" in r.output
    assert "Traceback" not in r.output


def test_empty_query_is_an_error(runner, built_index):
    r = runner.invoke(cli, ["--index", str(built_index), "search", "-"], input="  \n")
    assert r.exit_code == 1
    assert "Error: the query is empty" in r.output


def test_index_reports_counts_and_skipped_files(runner, tmp_path):
    kb = tmp_path / "articles"
    kb.mkdir()
    (kb / "good.md").write_text(
        "---\ntitle: Disk full on db-1\ntype: runbook\n---\n## Symptom\n\nNo space left on device\n"
    )
    (kb / "bad.md").write_text("---\ntitle: [unclosed\n---\nbody\n")
    index = tmp_path / "index"
    r = runner.invoke(cli, ["index", "--articles", str(kb), "--index", str(index)])
    assert r.exit_code == 0, r.output
    assert "bad.md:2: invalid YAML frontmatter" in r.output
    assert "1 changed, 0 deleted, 0 unchanged" in r.output and "1 skipped" in r.output
    manifest = json.loads(next(index.glob("gen-*/manifest.json")).read_text())
    assert manifest["counts"]["skipped"] == 1
    assert "bad.md:2: invalid YAML frontmatter" in manifest["skipped"][0]
    again = runner.invoke(cli, ["index", "--articles", str(kb), "--index", str(index)])
    assert "0 changed, 0 deleted, 1 unchanged" in again.output and "0 embedded" in again.output


def test_env_variables_are_read(runner, built_index, monkeypatch):
    monkeypatch.setenv("KB_INDEX", str(built_index))
    monkeypatch.setenv("KB_ARTICLES", str(FIXTURE_KB))
    r = runner.invoke(cli, ["search", "x509: certificate has expired or is not yet valid"])
    assert r.exit_code == 0 and "TLS" in r.output


def test_every_command_has_help():
    for name, cmd in cli.commands.items():
        assert cmd.help and "Example:" in cmd.help, name


def test_a_setting_that_is_not_a_number_is_a_clear_error(runner, built_index, monkeypatch):
    monkeypatch.setenv("KB_RELOAD_INTERVAL", "soon")
    r = runner.invoke(cli, ["--index", str(built_index), "search", "disk full"])
    assert r.exit_code == 1
    assert "Error: KB_RELOAD_INTERVAL='soon' is not a number of seconds" in r.output
    assert "bug in kb" not in r.output


def test_an_unknown_dense_index_kind_is_a_clear_error(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("KB_FAISS", "annoy")
    r = runner.invoke(cli, ["--index", str(tmp_path), "search", "disk full"])
    assert r.exit_code == 1 and "Error: unknown dense index kind 'annoy'" in r.output and "bug in kb" not in r.output


def test_a_port_in_use_names_the_option_to_change_it(runner, tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = runner.invoke(cli, ["--index", str(tmp_path), "serve", "--port", str(port)])
    assert r.exit_code == 1
    assert (
        f"Error: 127.0.0.1:{port} is already in use" in r.output
        and "--port" in r.output
        and "make run PORT=" in r.output
    )
    assert "bug in kb" not in r.output


def test_an_option_to_the_command_beats_one_to_kb_which_beats_the_environment(
    runner, built_index, tmp_path, monkeypatch
):
    monkeypatch.setenv("KB_INDEX", str(tmp_path / "nowhere"))
    r = runner.invoke(cli, ["search", "No space left on device", "--json"])
    assert r.exit_code == 1 and "nowhere" in r.output  # the variable alone
    r = runner.invoke(cli, ["--index", str(built_index), "search", "No space left on device", "--json"])
    assert r.exit_code == 0, r.output  # `kb --index` beats the variable
    r = runner.invoke(cli, ["--index", str(tmp_path / "elsewhere"), "search", "--index", str(built_index), "disk"])
    assert r.exit_code == 0, r.output  # the command's own option beats `kb --index`
