"""Templates and `kb new`: the right file, filled frontmatter, a pasted error pre-filled."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from kb.articles import TYPES, parse_file, parse_text
from kb.cli import cli
from kb.errors import KBError
from kb.templates import load_template, new_article, render, signature_from, slugify

TODAY = dt.date(2026, 1, 15)
SECTIONS = {
    "postmortem": [
        "Summary",
        "Impact",
        "Detection",
        "Timeline",
        "Root cause",
        "Resolution",
        "Action items",
        "Lessons learned",
    ],
    "known-issue": ["Error", "Symptoms", "Cause", "Workaround", "Permanent fix"],
    "runbook": ["Alert or symptom", "Impact", "Diagnosis", "Mitigation", "Escalation"],
    "kb": ["Overview", "Steps", "Verification", "Troubleshooting"],
}


@pytest.mark.parametrize("kind", TYPES)
def test_each_packaged_template_has_its_sections_and_guidance(kind, tmp_path):
    text = load_template(tmp_path, kind)
    assert re.findall(r"^## (.+)$", text, re.M) == SECTIONS[kind]
    assert text.count("<!-- guidance:") == len(SECTIONS[kind])


def test_postmortem_template_prompts_five_whys_and_owned_actions(tmp_path):
    text = load_template(tmp_path, "postmortem")
    assert "five whys" in text
    assert "| Action | Owner |" in text


@pytest.mark.parametrize("kind", TYPES)
def test_rendered_frontmatter_is_filled_and_parses(kind, tmp_path):
    title = 'Checkout: "502" after LB cert rotation 🔥'
    text = render(load_template(tmp_path, kind), kind, title, f"x/{kind}", TODAY, ["checkout", "edge"], ["tls"])
    art = parse_text(text, f"x/{kind}.md")
    assert (art.id, art.title, art.type) == (f"x/{kind}", title, kind)
    assert art.created == "2026-01-15"
    assert art.services == ["checkout", "edge"] and art.tags == ["tls"]
    assert art.status == "draft"  # hidden from search until its author publishes it


def test_slugs():
    assert slugify("Checkout 502s after LB cert rotation") == "checkout-502s-after-lb-cert-rotation"
    assert slugify("Ünïcode café — test") == "unicode-cafe-test"
    assert slugify("🔥🔥") == "article"
    assert len(slugify("word " * 40)) <= 60
    title = "Orders API returns 500 with remaining connection slots are reserved for superuser"
    assert slugify(title) == "orders-api-returns-500-with-remaining-connection-slots-are"
    for n in range(40, 80):  # never ends inside a word, whatever the length
        words = "checkout-502s-after-lb-cert-rotation-because-the-listener-certificate-expired".split("-")
        assert all(part in words for part in slugify(" ".join(words), max_len=n).split("-"))


def test_new_writes_the_dated_file_and_never_overwrites(tmp_path):
    path = new_article(tmp_path, "runbook", "Disk full on db-1", ["postgres"], today=TODAY)
    assert path == tmp_path / "runbooks" / "2026-01-15-disk-full-on-db-1.md"
    assert parse_file(path, tmp_path).id == "runbooks/2026-01-15-disk-full-on-db-1"
    path.write_text(path.read_text() + "\nMy notes.\n")
    with pytest.raises(KBError, match="already exists"):
        new_article(tmp_path, "runbook", "Disk full on db-1", today=TODAY)
    assert path.read_text().endswith("My notes.\n")


def test_new_refuses_an_empty_title(tmp_path):
    with pytest.raises(KBError, match="title is empty"):
        new_article(tmp_path, "kb", "   ")


def test_a_template_in_the_articles_folder_overrides_the_packaged_one(tmp_path):
    (tmp_path / ".templates").mkdir()
    (tmp_path / ".templates" / "kb.md").write_text("---\ntype: kb\nowner: team-docs\n---\n\n## Context\n\n## How\n")
    path = new_article(tmp_path, "kb", "Rotate keys", today=TODAY)
    art = parse_file(path, tmp_path)
    assert art.owner == "team-docs"
    assert re.findall(r"^## (.+)$", art.body, re.M) == ["Context", "How"]


def test_signature_is_the_most_salient_line_as_is_when_nothing_was_masked():
    text = "some context line\nOOM command not allowed when used memory > 'maxmemory'\n"
    assert signature_from(text) == "OOM command not allowed when used memory > 'maxmemory'"


def test_signature_is_a_regex_when_volatile_parts_were_masked():
    text = (
        "2025-09-12 07:31:44,019 ERROR [orders.worker] job failed\n"
        'psycopg2.OperationalError: connection to server at "pg-orders-01" (10.20.31.5), port 5432 '
        "failed: FATAL:  remaining connection slots are reserved for non-replication superuser connections\n"
    )
    sig = signature_from(text)
    assert isinstance(sig, dict)
    rx = re.compile(sig["regex"])
    assert rx.search(text)
    assert rx.search(text.replace("10.20.31.5", "10.20.31.77"))  # the next occurrence matches too
    assert "10\\.20" not in sig["regex"] and sig["regex"].startswith("psycopg2\\.OperationalError:")


def test_new_from_query_on_stdin_prefills_the_error_and_a_signature(runner, tmp_path):
    error = "Back-off restarting failed container api in pod orders-api-7d9f8c6b5-x2kqp_prod(3f1c2a9e-41b8-4f0e-9d0a-2c5e8b7d1a44)\n"
    r = runner.invoke(
        cli,
        [
            "new",
            "--articles",
            str(tmp_path),
            "known-issue",
            "Orders API crash loop",
            "--from-query",
            "-",
            "--tag",
            "kubernetes",
        ],
        input=error,
    )
    assert r.exit_code == 0, r.output
    path = tmp_path / r.stdout.strip().removeprefix(str(tmp_path) + "/")
    art = parse_file(path, tmp_path)
    assert art.tags == ["kubernetes"]
    assert re.search(art.signatures[0]["regex"], error)
    assert re.search(r"## Error\n\n```text\nBack-off restarting failed container", art.body)


def test_new_from_query_text_goes_to_the_symptom_section_of_a_runbook(tmp_path):
    path = new_article(tmp_path, "runbook", "Redis OOM", query="OOM command not allowed", today=TODAY)
    body = parse_file(path, tmp_path).body
    assert body.index("OOM command not allowed") > body.index("## Alert or symptom") > -1
    assert body.index("OOM command not allowed") < body.index("## Impact")


def test_new_from_an_empty_query_is_an_error(runner, tmp_path):
    r = runner.invoke(cli, ["new", "--articles", str(tmp_path), "kb", "x", "--from-query", "-"], input="\n")
    assert r.exit_code == 1 and "Error: the pasted query is empty" in r.output


def test_new_prints_the_path_and_refuses_to_overwrite(runner, tmp_path):
    args = [
        "new",
        "--articles",
        str(tmp_path),
        "postmortem",
        "Checkout 502s after LB cert rotation",
        "--service",
        "checkout",
    ]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert first.stdout.strip().endswith("-checkout-502s-after-lb-cert-rotation.md")
    again = runner.invoke(cli, args)
    assert again.exit_code == 1 and "already exists" in again.output


@pytest.mark.parametrize(
    "paste, again, unrelated",
    [
        (
            '2026/03/10 04:12:55 [error] 1021727#1021727: *548591 limiting requests, excess: 4.061 by zone "api_limit", '
            'client: 10.1.2.3, server: api.example.com, request: "GET /v1/orders HTTP/1.1"',
            '2026/03/11 09:00:01 [error] 77#77: *12 limiting requests, excess: 12.500 by zone "checkout", '
            'client: 192.168.7.9, server: shop.example.com, request: "POST /v2/cart HTTP/2.0"',
            '2026/03/10 04:12:55 [error] 1#1: *5 limiting connections by zone "api_limit", client: 10.1.2.3',
        ),
        (
            "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.70 GiB (GPU 0; 14.76 GiB total)",
            "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 512.00 MiB (GPU 3; 79.15 GiB total)".replace(
                "MiB", "GiB"
            ),
            "torch.cuda.OutOfMemoryError: CUDA error: an illegal memory access was encountered",
        ),
        (
            "Back-off restarting failed container api in pod orders-api-7d9f8c6b5-x2kqp_prod(3f1c2a9e-41b8-4f0e-9d0a-2c5e8b7d1a44)",
            "Back-off restarting failed container api in pod orders-api-5c4b3a2f1-qz9lm_prod(aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee)",
            "Back-off pulling image orders-api:1.2.3",
        ),
    ],
)
def test_a_draft_signature_matches_the_next_occurrence_not_another_error(paste, again, unrelated):
    from kb.linear_regex import compile_linear

    sig = signature_from(paste)
    assert isinstance(sig, dict), sig
    rx = compile_linear(sig["regex"])
    assert rx.search(paste) and rx.search(again), sig
    assert not rx.search(unrelated)


def test_error_codes_stay_literal_in_a_signature():
    assert signature_from("ERROR 1040 (HY000): Too many connections") == "ERROR 1040 (HY000): Too many connections"
    sig = signature_from("java.sql.SQLSyntaxErrorException: ORA-00942: table or view does not exist at line 17")
    text = sig if isinstance(sig, str) else sig["regex"]
    assert "ORA-00942" in text and "SQLSyntaxErrorException" in text


def test_a_draft_is_titled_by_its_salient_line_not_its_first_characters():
    from kb.generalize import draft_title

    paste = (
        "2026/03/10 04:12:55 [error] 1021727#1021727: *548591 limiting requests, excess: 4.061 by zone "
        '"api_limit", client: 10.1.2.3'
    )
    assert draft_title(paste) == 'limiting requests, excess: 4.061 by zone "api_limit"'
    assert draft_title("INFO starting\nINFO ready\nERROR disk write failed: No space left on device\n") == (
        "disk write failed: No space left on device"
    )


def test_kb_new_takes_the_how_to_alias_and_says_the_file_is_a_draft(runner, tmp_path):
    r = runner.invoke(cli, ["new", "--articles", str(tmp_path), "howto", "Rotate the signing keys"])
    assert r.exit_code == 0, r.output
    path = Path(r.stdout.strip())
    assert path.parent.name == "kb" and "type: kb" in path.read_text() and "status: draft" in path.read_text()
    assert "a draft, hidden from search" in r.stderr and "status: published" in r.stderr
