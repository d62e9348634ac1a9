"""The frontmatter schema: required keys per type, allowed values, value types, dates, signatures."""

from __future__ import annotations

import datetime as dt

import pytest

from kb.schema import Issue, check_signatures, parse_date, validate

GOOD = {
    "title": "Orders API 500: too many connections",
    "type": "known-issue",
    "status": "published",
    "services": ["orders"],
    "tags": ["postgres", 502],
    "created": dt.date(2025, 2, 11),
    "updated": "2025-09-30",
    "owner": "team-data",
    "signatures": ["FATAL: sorry, too many clients", {"regex": r"SQLSTATE\s+53300"}],
}


def codes(issues: list[Issue]) -> list[str]:
    return [i.code for i in issues]


def test_a_complete_article_has_no_issues():
    assert validate(GOOD, "known-issues") == []


def test_title_and_type_are_required_everywhere():
    issues = validate({"services": ["orders"]})
    assert [(i.code, i.key) for i in issues] == [("E201", "title"), ("E201", "type")]
    assert all(i.severity == "error" for i in issues)


def test_a_postmortem_needs_a_severity():
    issues = validate({"title": "Outage", "type": "postmortem"})
    assert codes(issues) == ["E201"]
    assert "severity" in issues[0].message and "SEV1" in issues[0].message


def test_a_known_issue_without_signatures_is_a_warning():
    issues = validate({"title": "t", "type": "known-issue", "signatures": []})
    assert codes(issues) == ["W208"] and issues[0].severity == "warning"


@pytest.mark.parametrize(
    "key, value", [("type", "incident"), ("status", "live"), ("severity", "P1"), ("severity", "sev1")]
)
def test_values_outside_the_allowed_sets(key, value):
    meta = {"title": "t", "type": "postmortem", "severity": "SEV2", key: value}
    issues = validate(meta)
    assert codes(issues) == ["E202"]
    assert repr(value) in next(i.message for i in issues if i.code == "E202")


@pytest.mark.parametrize(
    "meta, message",
    [
        ({"services": "checkout"}, "`services` must be a list of strings, e.g. `services: [checkout]`"),
        ({"tags": ["ok", None]}, "`tags` item 2 must be a non-empty string, not null"),
        ({"related": [{"id": "x"}]}, "`related` item 1 must be a non-empty string, not a mapping"),
        ({"owner": ["a", "b"]}, "`owner` must be a single string, not a list"),
        ({"title": "two\nlines"}, "`title` must be one line"),
    ],
)
def test_value_types(meta, message):
    issues = validate({"title": "t", "type": "kb", **meta})
    assert [i.message for i in issues if i.code == "E203"] == [message]


def test_numbers_in_lists_count_as_strings():
    assert validate({"title": "t", "type": "kb", "tags": [502, "tls"]}) == []


@pytest.mark.parametrize("value", [dt.date(2025, 3, 14), dt.datetime(2025, 3, 14, 9, 12), "2025-03-14"])
def test_dates_from_yaml_or_strings(value):
    assert parse_date(value) == dt.date(2025, 3, 14)


@pytest.mark.parametrize(
    "value, words",
    [("2025-3-4", "not an ISO date"), ("14/03/2025", "not an ISO date"), ("last week", "not an ISO date")],
)
def test_bad_dates(value, words):
    with pytest.raises(ValueError, match=words):
        parse_date(value)
    issues = validate({"title": "t", "type": "kb", "updated": value})
    assert codes(issues) == ["E204"] and issues[0].key == "updated"


def test_updated_before_created_is_a_warning():
    issues = validate({"title": "t", "type": "kb", "created": "2025-05-01", "updated": dt.date(2025, 4, 1)})
    assert codes(issues) == ["W211"]


def test_signatures():
    issues = check_signatures(
        ["connection refused", {"regex": "timed out \\((110"}, {"regex": ".*"}, {"text": "x"}, "", "ab"]
    )
    assert [(i.code, i.item) for i in issues] == [("E205", 1), ("E205", 2), ("E205", 3), ("E205", 4), ("W213", 5)]
    assert "missing )" in issues[0].message
    assert "matches the empty string" in issues[1].message
    assert codes(check_signatures("just a string")) == ["E205"]


def test_deprecated_articles_name_their_replacement():
    assert codes(validate({"title": "t", "type": "kb", "status": "deprecated"})) == ["W212"]
    assert validate({"title": "t", "type": "kb", "status": "deprecated", "superseded_by": "kb/new"}) == []


def test_type_and_folder_should_agree():
    issues = validate({"title": "t", "type": "runbook"}, "postmortems")
    assert codes(issues) == ["W210"]
    assert validate({"title": "t", "type": "runbook"}, "runbooks") == []
    assert validate({"title": "t", "type": "runbook"}, "") == []


def test_unknown_keys_are_fine_but_typos_are_pointed_out():
    assert validate({"title": "t", "type": "kb", "jira": "OPS-1", "source": "https://x"}) == []
    issues = validate({"title": "t", "type": "kb", "tag": ["x"], "sevrity": "SEV1"})
    assert sorted(i.message for i in issues) == [
        "unknown key `sevrity`: did you mean `severity`?",
        "unknown key `tag`: did you mean `tags`?",
    ]
