"""`kb check`: strict validation of articles, compiler style (`path:line: code message`).

Codes: the letter is the severity (E error, W warning), the number names the check; sections
and guidance are errors in published articles and warnings in drafts (README, "Authoring").
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kb import schema
from kb.articles import MAX_ARTICLE_BYTES, Article, article_paths, decode, is_article_path, parse_text
from kb.errors import ArticleError, ArticlesMissing
from kb.sections import fences, sections

LARGE_BYTES = 1024 * 1024
_PARSE_CODES = {"io": "E101", "encoding": "E102", "empty": "E103", "too_large": "E104", "yaml": "E106", "toml": "E107"}
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_GUIDANCE = re.compile(r"<!--\s*guidance:\s*(.*?)-->", re.S)
_BLANK_ROW = re.compile(r"^\s*\|[\s|:\-]*\|?\s*$")  # a table separator or a row of empty cells


@dataclass(frozen=True)
class Problem:
    """One finding; `str()` is the compiler-style line."""

    path: str
    line: int
    code: str
    severity: str  # "error" | "warning"
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.code} {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ArticleFile:
    """An article file as `kb check` sees it: the parsed article (or why it failed) and line numbers."""

    path: Path
    shown: str  # how the path is printed
    rel: str  # POSIX path under the articles root
    article: Article | None = None
    text: str = ""
    size: int = 0
    failure: Problem | None = None
    key_lines: dict[Any, int] = field(default_factory=dict)  # key or (key, item) -> line
    body_start: int = 0  # 0-based index of the first body line
    frontmatter: bool = False

    def line_of(self, key: str | None, item: int | None = None) -> int:
        return self.key_lines.get((key, item)) or self.key_lines.get(key) or 1

    def problem(self, line: int, code: str, message: str) -> Problem:
        return Problem(self.shown, line, code, "error" if code.startswith("E") else "warning", message)


def read_article(path: Path, root: Path, shown: str | None = None) -> ArticleFile:
    """Read and parse one file, keeping what the checks need; never raises for a bad file."""
    try:  # the plain form first: resolving every file of a large KB costs a stat per folder level
        rel = path.relative_to(root).as_posix()
        if ".." in Path(rel).parts:
            raise ValueError(rel)
    except ValueError:
        try:
            rel = path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            rel = path.name
    f = ArticleFile(path, shown or str(path), rel)
    try:
        f.size = path.stat().st_size
        if f.size > MAX_ARTICLE_BYTES:
            raise ArticleError(path, f"file is {f.size / 2**20:.1f} MiB, over the 5 MiB limit", code="too_large")
        f.text = decode(path.read_bytes(), path)
        _locate(f)
        f.article = parse_text(f.text, f.rel, path)
    except ArticleError as e:
        if e.code == "date":
            f.failure = _bad_date(f, ValueError(e.detail))
            return f
        line = e.line
        if e.code == "toml" and (m := re.search(r"at line (\d+)", e.reason)):
            line = int(m.group(1))  # the TOML text starts with the newline after `+++`
        f.failure = f.problem(line, _PARSE_CODES.get(e.code, "E101"), e.reason)
    except OSError as e:
        f.failure = f.problem(1, "E101", f"cannot read: {e.strerror}")
    return f


def _locate(f: ArticleFile) -> None:
    """Line numbers of frontmatter keys and list items, and where the body starts."""
    lines = f.text.split("\n")
    first = next((i for i, ln in enumerate(lines) if ln.strip()), 0)
    marker = lines[first].strip() if lines else ""
    if not re.fullmatch(r"-{3,}|\+{3,}", marker):
        return
    end = next((i for i in range(first + 1, len(lines)) if lines[i].strip() == marker[0] * 3), None)
    if end is None:
        return
    f.frontmatter, f.body_start = True, end + 1
    block = "\n".join(lines[first + 1 : end])
    if marker.startswith("+"):
        for i, ln in enumerate(lines[first + 1 : end], first + 2):
            if m := re.match(r"^([\w-]+)\s*=", ln):
                f.key_lines.setdefault(m.group(1), i)
        return
    try:
        node = yaml.compose(block, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml: ~8x faster
    except yaml.YAMLError:
        return
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            f.key_lines.setdefault(k.value, k.start_mark.line + first + 2)
            if isinstance(v, yaml.SequenceNode):
                for j, item in enumerate(v.value):
                    f.key_lines[(k.value, j)] = item.start_mark.line + first + 2


def _bad_date(f: ArticleFile, error: ValueError) -> Problem:
    for key, line in f.key_lines.items():
        value = re.sub(r"^[^:]*:\s*", "", f.text.split("\n")[line - 1]).strip()
        if isinstance(key, str) and re.match(r"\d{4}-\d\d-\d\d$", value):
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                return f.problem(line, "E204", f"`{key}`: {value!r} is not a valid date ({error})")
    return f.problem(1, "E106", f"invalid YAML frontmatter: {error}")


def check_file(f: ArticleFile) -> list[Problem]:
    """Problems found in one file alone: syntax, schema, sections, guidance."""
    if f.failure:
        return [f.failure]
    assert f.article is not None
    out = []
    if f.size > LARGE_BYTES:
        out.append(
            f.problem(
                1,
                "W105",
                f"file is {f.size / 2**20:.1f} MiB: keep the relevant excerpt of long "
                "logs; near-duplicate checks read only its start",
            )
        )
    if not f.frontmatter and not f.article.meta:
        out.append(
            f.problem(
                1, "E109", "no frontmatter: start the file with a `---` block holding at least `title` and `type`"
            )
        )
    else:
        folder = f.rel.split("/")[0] if "/" in f.rel else ""
        for issue in schema.validate(f.article.meta, folder):
            out.append(f.problem(f.line_of(issue.key, issue.item), issue.code, issue.message))
    return out + _body_problems(f, strict=f.article.status == "published")


def _body_problems(f: ArticleFile, strict: bool) -> list[Problem]:
    """Empty sections, leftover template guidance and an empty body."""
    body = f.text.split("\n")[f.body_start :]
    visible = list(body)  # the body with fenced code blanked: non-empty blocks leave a marker
    for fence in fences(body):
        for i in range(fence.open, min(fence.close + 1, len(body))):
            visible[i] = ""
        if fence.holds_text(body):
            visible[fence.open] = "\x00"
    heads = [(s.line, s.level, s.marker) for s in sections("\n".join(body)) if s.level]
    level = "E" if strict else "W"
    offset = f.body_start + 1  # visible index -> file line
    out: list[Problem] = []
    if not _COMMENT.sub("", "\n".join(visible)).strip():
        return [
            f.problem(
                offset,
                f"{level}303",
                "no body: the article is frontmatter only - describe the problem and how it was fixed",
            )
        ]
    empty_spans = []
    for n, (at, lv, heading) in enumerate(heads):
        end = next((a for a, lv2, _ in heads[n + 1 :] if lv2 <= lv), len(visible))
        if _is_empty("\n".join(visible[at + 1 : end])):
            empty_spans.append((at, end))
            out.append(f.problem(at + offset, f"{level}301", f"empty section `{heading}`: write it or delete it"))
    body = "\n".join(visible)
    for m in _GUIDANCE.finditer(body):
        at = body.count("\n", 0, m.start())
        if not any(a < at < b for a, b in empty_spans):
            hint = " ".join(m.group(1).split())
            hint = hint if len(hint) <= 60 else hint[:59].rstrip() + "…"
            out.append(
                f.problem(at + offset, f"{level}302", f'template guidance left in ("{hint}"): delete the comment')
            )
    return out


def _is_empty(section: str) -> bool:
    rest = [ln for ln in _COMMENT.sub("", section).split("\n") if ln.strip() and not _BLANK_ROW.match(ln)]
    return not rest or (len(rest) == 1 and rest[0].lstrip().startswith("|"))  # a table with no rows


def kb_problems(targets: list[ArticleFile], everything: list[ArticleFile]) -> list[Problem]:
    """Problems between articles: duplicate ids and references to ids that do not exist."""
    by_id: dict[str, list[ArticleFile]] = {}
    for f in everything:
        if f.article:
            by_id.setdefault(f.article.id, []).append(f)
    known = set(by_id) | {f.rel.removesuffix(".md") for f in everything if not f.article}  # unreadable: default id
    out = []
    for f in targets:
        if not f.article:
            continue
        others = [o.shown for o in by_id.get(f.article.id, []) if o.path.resolve() != f.path.resolve()]
        if others:
            out.append(
                f.problem(f.line_of("id"), "E206", f"duplicate id `{f.article.id}`: also used by {', '.join(others)}")
            )
        for key in schema.REFERENCE_KEYS:
            value = f.article.meta.get(key)
            values = value if isinstance(value, list) else [] if value is None else [value]
            for i, ref in enumerate(values):
                if isinstance(ref, str) and ref and ref not in known:
                    close = difflib.get_close_matches(ref, known, n=1, cutoff=0.7)
                    hint = f"; did you mean `{close[0]}`?" if close else ""
                    line = f.line_of(key, i if isinstance(value, list) else None)
                    out.append(f.problem(line, "E207", f"`{key}` names `{ref}`, which is not an article id{hint}"))
    return out


def _targets(root: Path, paths: Sequence[Path], everything: list[ArticleFile]) -> list[ArticleFile]:
    by_path = {f.path: f for f in everything}
    resolved: dict[Path, ArticleFile] = {}

    def known(path: Path) -> ArticleFile | None:
        """The already read file at `path`. As pre-commit passes them, paths match the ones read
        under root; only another spelling makes every file resolved (a stat per folder level)."""
        if path in by_path:
            return by_path[path]
        if not resolved:
            resolved.update((f.path.resolve(), f) for f in everything)
        return resolved.get(path.resolve())

    out: dict[Path, ArticleFile] = {}
    for p in paths:
        for path in list(article_paths(p)) if p.is_dir() else [p]:
            try:
                folders = path.resolve().relative_to(root.resolve()).parts[:-1]
            except ValueError:
                folders = path.parts[-2:-1]
            if not is_article_path(folders, path.name):
                continue  # READMEs, .templates/, _drafts/: kb index skips them too
            f = known(path) or read_article(path, root)
            f.shown = str(path)
            out.setdefault(path.resolve(), f)
    return list(out.values())


def check_paths(
    root: Path,
    paths: Sequence[Path] | None = None,
    index_dir: Path | None = None,
    *,
    model: str | None = None,
    similar: bool = True,
    cache: Path | None = None,
) -> list[Problem]:
    """Check the articles under `root`, or only `paths` (against the whole KB), sorted by place."""
    if not root.is_dir() and not paths:
        raise ArticlesMissing(root)
    everything = [read_article(p, root, str(p)) for p in article_paths(root)] if root.is_dir() else []
    targets = _targets(root, paths, everything) if paths else everything
    problems = [p for f in targets for p in check_file(f)]
    read = {id(f) for f in everything}  # identity: a dataclass `in` compares every field of every file
    pool = everything + [t for t in targets if id(t) not in read]
    problems += kb_problems(targets, pool)
    if similar:
        from kb.duplicates import near_duplicates

        problems += near_duplicates(targets, pool, index_dir, model, cache=cache)
    return sorted(problems, key=lambda p: (p.path, p.line, p.code))


def stale(root: Path, days: int, today: dt.date | None = None) -> list[Problem]:
    """Published articles not changed in `days` days, dated as the index dates them
    (Article.last_change: `updated`, else last commit, else `created`)."""
    from kb.gitinfo import last_commit_dates

    today = today or dt.date.today()
    commits: dict[str, str] | None = None
    out = []
    for path in article_paths(root):
        f = read_article(path, root, str(path))
        if not f.article or f.article.status != "published":
            continue
        if commits is None and not f.article.meta_text("updated"):
            commits = last_commit_dates(root)  # one `git log` for the folder, only when needed
        value, source = f.article.last_change((commits or {}).get(f.rel))
        try:
            when = schema.parse_date(value)
        except ValueError:
            continue  # no usable date: a new, uncommitted file (or a bad date, which check reports)
        age = (today - when).days
        if age >= days:
            key = source if source in schema.DATE_KEYS else None
            owner = f.article.owner or "none (set `owner`)"
            out.append(
                f.problem(
                    f.line_of(key),
                    "W501",
                    f"not updated for {age} days (since {when}, from "
                    f"{f'`{key}`' if key else 'last commit'}); owner: {owner}",
                )
            )
    return sorted(out, key=lambda p: (p.path, p.line))
