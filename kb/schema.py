"""The frontmatter schema of DESIGN.md's article contract, checked strictly by `kb check`.

The indexer reads articles leniently (kb.articles); this module says what a well-formed
article is. Each finding is an `Issue` whose code's letter is its severity (E error,
W warning) and whose number names the check (see README, "Authoring").
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass
from typing import Any

from kb.articles import FOLDER_TYPES, STATUSES, TYPES
from kb.config import MIN_SIGNATURE_CHARS
from kb.linear_regex import compile_linear

SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
REQUIRED = ("title", "type")
REQUIRED_BY_TYPE: dict[str, tuple[str, ...]] = {"postmortem": ("severity",)}
RECOMMENDED_BY_TYPE: dict[str, tuple[str, ...]] = {"known-issue": ("signatures",)}
ALLOWED: dict[str, tuple[str, ...]] = {"type": TYPES, "status": STATUSES, "severity": SEVERITIES}
LIST_KEYS = ("services", "tags", "related", "allow_duplicates")
TEXT_KEYS = ("id", "title", "owner", "root_cause", "resolution", "superseded_by")
DATE_KEYS = ("created", "updated")
REFERENCE_KEYS = ("related", "superseded_by", "allow_duplicates")
KNOWN_KEYS = frozenset(
    (
        "id",
        "title",
        "type",
        "services",
        "tags",
        "severity",
        "status",
        "created",
        "updated",
        "owner",
        "signatures",
        "root_cause",
        "resolution",
        "related",
        "superseded_by",
        "allow_duplicates",  # ids this article shares signatures or content with on purpose
    )
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Issue:
    """One schema finding about a frontmatter key (or list item of it)."""

    code: str
    message: str
    key: str | None = None
    item: int | None = None  # position in the key's list value

    @property
    def severity(self) -> str:
        return "error" if self.code.startswith("E") else "warning"


def parse_date(value: Any) -> dt.date:
    """A frontmatter date (YAML date or datetime, or an ISO `YYYY-MM-DD` string); ValueError if not."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if not _ISO_DATE.match(text):
        raise ValueError(f"{text!r} is not an ISO date (YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(text)
    except ValueError as e:
        raise ValueError(f"{text!r} is not a valid date ({e})") from None


def _is_scalar(value: Any) -> bool:
    # YAML reads `tags: [502]` as a number; it prints the same, so it counts as a string.
    return isinstance(value, str | int | float) and not isinstance(value, bool) and str(value).strip() != ""


def _missing(meta: dict[str, Any], key: str) -> bool:
    value = meta.get(key)
    return value is None or (isinstance(value, str | list | dict) and not value)


def validate(meta: dict[str, Any], folder: str = "") -> list[Issue]:
    """Check frontmatter against the schema; `folder` is the article's first path part."""
    issues: list[Issue] = []
    kind = meta.get("type")
    for key in REQUIRED + REQUIRED_BY_TYPE.get(str(kind), ()):
        if _missing(meta, key):
            extra = f" for a {kind}" if key not in REQUIRED else ""
            hint = f": one of {', '.join(ALLOWED[key])}" if key in ALLOWED else ""
            issues.append(Issue("E201", f"missing required key `{key}`{extra}{hint}", key))
    for key in RECOMMENDED_BY_TYPE.get(str(kind), ()):
        if _missing(meta, key):
            issues.append(
                Issue(
                    "W208",
                    f"a {kind} should have `{key}`: the exact error text that "
                    "identifies it (a match is the strongest search signal)",
                    key,
                )
            )
    for key, allowed in ALLOWED.items():
        value = meta.get(key)
        if value is not None and str(value) not in allowed and not _missing(meta, key):
            issues.append(Issue("E202", f"`{key}` is {value!r}; allowed: {', '.join(allowed)}", key))
    for key in TEXT_KEYS:
        value = meta.get(key)
        if value is not None and not _is_scalar(value) and not _missing(meta, key):
            issues.append(Issue("E203", f"`{key}` must be a single string, not {_kind(value)}", key))
    if isinstance(meta.get("title"), str) and "\n" in meta["title"].strip():
        issues.append(Issue("E203", "`title` must be one line", "title"))
    for key in LIST_KEYS:
        issues += _check_list(meta, key)
    dates: dict[str, dt.date] = {}
    for key in DATE_KEYS:
        if meta.get(key) is not None:
            try:
                dates[key] = parse_date(meta[key])
            except ValueError as e:
                issues.append(Issue("E204", f"`{key}`: {e}", key))
    if len(dates) == 2 and dates["updated"] < dates["created"]:
        issues.append(
            Issue("W211", f"`updated` ({dates['updated']}) is before `created` ({dates['created']})", "updated")
        )
    issues += check_signatures(meta.get("signatures"))
    if meta.get("status") == "deprecated" and _missing(meta, "superseded_by"):
        issues.append(Issue("W212", "a deprecated article should name its replacement in `superseded_by`", "status"))
    expected = FOLDER_TYPES.get(folder, "kb" if folder == "kb" else None)
    if expected and kind in TYPES and kind != expected:
        issues.append(Issue("W210", f"type is {kind} but the file is in {folder}/ (type {expected})", "type"))
    for key in meta:
        close = difflib.get_close_matches(str(key), KNOWN_KEYS, n=1, cutoff=0.8)
        if key not in KNOWN_KEYS and close:
            issues.append(Issue("W209", f"unknown key `{key}`: did you mean `{close[0]}`?", str(key)))
    return issues


def _kind(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", bool: "true/false", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _check_list(meta: dict[str, Any], key: str) -> list[Issue]:
    value = meta.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        example = f"[{value}]" if _is_scalar(value) else "[a, b]"
        return [Issue("E203", f"`{key}` must be a list of strings, e.g. `{key}: {example}`", key)]
    return [
        Issue("E203", f"`{key}` item {i + 1} must be a non-empty string, not {_kind(v)}", key, i)
        for i, v in enumerate(value)
        if not _is_scalar(v)
    ]


def check_signatures(value: Any) -> list[Issue]:
    """Signatures: a list of exact strings or `{regex: ...}` mappings whose regex compiles."""
    if value is None:
        return []
    if not isinstance(value, list):
        return [Issue("E205", "`signatures` must be a list of strings or `- regex: '...'` entries", "signatures")]
    issues = []
    for i, sig in enumerate(value):
        where = f"signature {i + 1}"
        if isinstance(sig, dict):
            pattern = sig.get("regex")
            if not isinstance(pattern, str) or not pattern:
                issues.append(Issue("E205", f"{where} is a mapping without a `regex` string", "signatures", i))
                continue
            try:
                rx = re.compile(pattern)
            except re.error as e:
                issues.append(Issue("E205", f"{where}: invalid regex {pattern!r}: {e}", "signatures", i))
                continue
            try:
                compile_linear(pattern)
            except ValueError as e:
                message = (
                    f"{where}: regex {pattern!r} cannot run in linear time ({e}); search matches signatures "
                    "with RE2, which has no lookaround or backreferences - rewrite it without them"
                )
                issues.append(Issue("E215", message, "signatures", i))
                continue
            if rx.search(""):
                issues.append(
                    Issue(
                        "E205",
                        f"{where}: regex {pattern!r} matches the empty string, so it would match every query",
                        "signatures",
                        i,
                    )
                )
        elif not isinstance(sig, str) or not sig.strip():
            issues.append(
                Issue("E205", f"{where} must be a non-empty string (quote it) or `regex: '...'`", "signatures", i)
            )
        elif len(" ".join(sig.split())) < MIN_SIGNATURE_CHARS:
            issues.append(
                Issue(
                    "W213",
                    f"{where} {sig!r} is too short to identify an error; search ignores signatures under 4 characters",
                    "signatures",
                    i,
                )
            )
    return issues
