"""Parsing: lenient with what authors write, precise about what cannot be read."""

from __future__ import annotations

import pytest

from kb.articles import load_articles, parse_file, parse_text
from kb.errors import ArticleError, ArticlesMissing
from kb.summaries import excerpt, to_text

from .conftest import DATA, FIXTURE_KB

BROKEN = DATA / "broken"


def test_fixture_kb_parses_completely():
    result = load_articles(FIXTURE_KB)
    assert result.problems == []
    ids = {a.id for a in result.articles}
    assert "known-issues/postgres-too-many-connections" in ids
    assert len(result.articles) == 17


@pytest.mark.parametrize(
    "name, code, line, words",
    [
        ("bad-yaml.md", "yaml", 3, "invalid YAML"),
        ("tabs.md", "yaml", None, "tab character"),
        ("not-utf8.md", "encoding", 2, "not valid UTF-8"),
        ("empty.md", "empty", 1, "empty file"),
        ("list-frontmatter.md", "yaml", 2, "invalid YAML frontmatter: it is not `key: value` lines"),
    ],
)
def test_unreadable_files_are_reported_with_path_and_line(name, code, line, words):
    with pytest.raises(ArticleError) as err:
        parse_file(BROKEN / name, BROKEN)
    e = err.value
    assert e.code == code
    assert words in str(e)
    assert str(e).startswith(f"{BROKEN / name}:")
    if line is not None:
        assert e.line == line


def test_a_broken_folder_loads_the_good_files_and_reports_the_rest():
    result = load_articles(BROKEN)
    bad = {p.path.rsplit("/", 1)[-1] for p in result.problems}
    assert bad == {"bad-yaml.md", "tabs.md", "not-utf8.md", "empty.md", "list-frontmatter.md"}
    good = {a.path for a in result.articles}
    assert {
        "good.md",
        "bom-crlf.md",
        "emoji-title.md",
        "no-frontmatter.md",
        "hugo-toml.md",
        "unknown-keys.md",
        "only-frontmatter.md",
    } <= good


def test_no_frontmatter_takes_the_title_from_the_first_h1():
    art = parse_file(BROKEN / "no-frontmatter.md", BROKEN)
    assert art.title and not art.title.startswith("#")
    assert art.id == "no-frontmatter"
    assert art.type == "kb"


def test_title_falls_back_to_the_file_name():
    art = parse_text("just some text, no heading\n", "runbooks/2025-01-02-redis-failover.md")
    assert art.title == "Redis failover"
    assert art.type == "runbook"  # inferred from the folder
    assert art.id == "runbooks/2025-01-02-redis-failover"


def test_bom_and_crlf_are_normalized():
    art = parse_file(BROKEN / "bom-crlf.md", BROKEN)
    assert "\r" not in art.body
    assert not art.title.startswith("\ufeff")


def test_hugo_toml_front_matter_is_read():
    art = parse_file(BROKEN / "hugo-toml.md", BROKEN)
    assert art.meta and art.title != "Hugo toml"


def test_unknown_keys_are_kept():
    art = parse_file(BROKEN / "unknown-keys.md", BROKEN)
    assert art.meta["jira"] == "OPS-1234"


def test_signatures_accept_strings_and_regexes():
    art = parse_text('---\ntitle: t\nsignatures:\n  - "ERR_X"\n  - regex: "E\\\\d+"\n  - ""\n---\nbody\n', "a.md")
    assert art.signatures == [{"text": "ERR_X"}, {"regex": "E\\d+"}]


def test_root_cause_falls_back_to_the_section():
    body = "## Summary\n\nx\n\n## Root cause\n\nThe pool was too small.\n\nMore.\n\n## Resolution\n\nRaised it.\n"
    assert excerpt(body, ("root cause",)).markdown == "The pool was too small.\n\nMore."
    art = parse_text(body, "postmortems/x.md")
    assert art.root_cause == "The pool was too small.\nMore."
    assert art.resolution == "Raised it."


def test_duplicate_ids_keep_the_first_and_report_the_second(tmp_path):
    (tmp_path / "a.md").write_text("---\nid: same\ntitle: A\n---\nx\n")
    (tmp_path / "b.md").write_text("---\nid: same\ntitle: B\n---\ny\n")
    result = load_articles(tmp_path)
    assert [a.title for a in result.articles] == ["A"]
    assert "duplicate id 'same'" in str(result.problems[0])


def test_readmes_and_hidden_folders_are_not_articles(tmp_path):
    (tmp_path / "README.md").write_text("# Authors' notes\n")
    (tmp_path / ".templates").mkdir()
    (tmp_path / ".templates" / "runbook.md").write_text("# template\n")
    (tmp_path / "real.md").write_text("# Real\n")
    assert [a.id for a in load_articles(tmp_path).articles] == ["real"]


def test_missing_articles_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ArticlesMissing, match="articles folder .*nope not found - set --articles"):
        load_articles(tmp_path / "nope")


def test_a_summary_that_introduces_a_list_takes_the_list():
    body = (
        "## Mitigation\n\nIn order of preference:\n\n- Kill idle sessions.\n- Add PgBouncer.\n\n## Escalation\n\nDBA.\n"
    )
    ex = excerpt(body, ("mitigation",))
    assert to_text(ex.markdown) == "In order of preference:\n- Kill idle sessions.\n- Add PgBouncer." and not ex.more


def test_an_impossible_date_is_kept_as_text_for_kb_check_to_report():
    art = parse_text("---\ntitle: x\ncreated: 2025-13-45\nupdated: 2025-01-02\n---\nbody\n", "kb/x.md")
    assert art.created == "2025-13-45" and art.meta_text("updated") == "2025-01-02" and art.title == "x"


def test_plain_text_keeps_underscores_inside_words_and_code():
    text = to_text("Raise `max_connections` (now max_connections=400, pool_size=5); **never** _restart_ it.")
    assert text == "Raise max_connections (now max_connections=400, pool_size=5); never restart it."
