"""Articles: Markdown files with YAML (or Hugo TOML) frontmatter, parsed leniently."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import frontmatter
import yaml
from frontmatter.default_handlers import BaseHandler, YAMLHandler

from kb.errors import ArticleError, ArticlesMissing
from kb.summaries import RESOLUTION, ROOT_CAUSE, Summary, summarize

TYPES = ("kb", "runbook", "known-issue", "postmortem")
TYPE_ALIASES = {"howto": "kb", "how-to": "kb"}  # the site calls `kb` articles "How-to"
STATUSES = ("published", "draft", "deprecated")
FOLDER_TYPES = {"postmortems": "postmortem", "runbooks": "runbook", "known-issues": "known-issue"}
SKIP_NAMES = {"readme.md", "license-note.md", "contributing.md"}
MAX_ARTICLE_BYTES = 5 * 1024 * 1024 + 1024

_H1 = re.compile(r"^#[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)


class _TOMLHandler(BaseHandler):
    """Hugo-style `+++` TOML front matter, read with the standard library."""

    FM_BOUNDARY = re.compile(r"^\+{3,}\s*$", re.MULTILINE)
    START_DELIMITER = END_DELIMITER = "+++"

    def load(self, fm: str, **kwargs: Any) -> Any:
        return tomllib.loads(fm)

    def export(self, metadata: dict[str, object], **kwargs: Any) -> str:  # pragma: no cover
        raise NotImplementedError


class _NotMapping(Exception):
    pass


class _YAMLHandler(YAMLHandler):
    """YAML front matter that must be `key: value` lines: python-frontmatter would silently
    drop a list or a bare string and index the article as if it had no front matter."""

    def load(self, fm: str, **kwargs: Any) -> Any:
        meta = super().load(fm, **kwargs)
        if meta is not None and not isinstance(meta, dict):
            raise _NotMapping
        return meta


class _TextDates(yaml.SafeLoader):
    """A YAML loader that keeps dates as the text written (`2026-02-30` stays a string)."""


_TextDates.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _TextDatesHandler(_YAMLHandler):
    def load(self, fm: str, **kwargs: Any) -> Any:
        return super().load(fm, Loader=_TextDates)


_HANDLERS = [_YAMLHandler(), _TOMLHandler()]


@dataclass
class Article:
    """One parsed article; `meta` keeps every frontmatter key, known or not."""

    id: str
    path: str  # relative to the articles root, POSIX style
    title: str
    type: str
    body: str
    meta: dict[str, Any] = field(default_factory=dict)
    body_line: int = 1  # line of the file where the body starts

    def _list(self, key: str) -> list[str]:
        value = self.meta.get(key)
        if value is None:
            return []
        if isinstance(value, str | int | float):
            return [str(value)]
        return [str(v) for v in value if v is not None] if isinstance(value, list) else []

    def list_value(self, key: str) -> list[str]:
        """A frontmatter list (a lone string counts as one item)."""
        return self._list(key)

    def meta_text(self, key: str) -> str | None:
        """A frontmatter value as text (dates as YYYY-MM-DD), None when absent."""
        value = self.meta.get(key)
        return None if value is None else _as_text(value)

    @property
    def services(self) -> list[str]:
        return self._list("services")

    @property
    def tags(self) -> list[str]:
        return self._list("tags")

    @property
    def related(self) -> list[str]:
        return self._list("related")

    @property
    def status(self) -> str:
        status = str(self.meta.get("status") or "published").lower()
        return status if status in STATUSES else "published"

    @property
    def severity(self) -> str | None:
        return self.meta_text("severity")

    @property
    def created(self) -> str | None:
        return self.meta_text("created")

    def last_change(self, committed: str | None) -> tuple[str | None, str | None]:
        """When the article last changed, and which field says so: `updated`, else `committed`
        (the date of the file's last git commit), else `created`. The index, the pages and
        `kb check --stale` all date an article this way."""
        for source, value in (("updated", self.meta_text("updated")), ("commit", committed), ("created", self.created)):
            if value:
                return value, source
        return None, None

    @property
    def owner(self) -> str | None:
        return self.meta_text("owner")

    def summary(self, key: str) -> Summary:
        """`root_cause` or `resolution`: the frontmatter field, else an excerpt of its section."""
        names = ROOT_CAUSE if key == "root_cause" else RESOLUTION
        return summarize(self.meta_text(key), self.body, names, self.id, self.path)

    @property
    def root_cause(self) -> str | None:
        return self.summary("root_cause").text

    @property
    def resolution(self) -> str | None:
        return self.summary("resolution").text

    @property
    def signatures(self) -> list[dict[str, str]]:
        """Signatures as `{"text": ...}` or `{"regex": ...}` entries."""
        raw = self.meta.get("signatures") or []
        if isinstance(raw, str | dict):
            raw = [raw]
        out: list[dict[str, str]] = []
        for item in raw if isinstance(raw, list) else []:
            if isinstance(item, dict) and item.get("regex"):
                out.append({"regex": str(item["regex"])})
            elif isinstance(item, str | int) and str(item).strip():
                out.append({"text": str(item).strip()})
        return out


def _as_text(value: Any) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()[:10]
    return str(value).strip()


def _title_from(body: str, path: Path) -> str:
    match = _H1.search(body)
    if match:
        return match.group(1).strip()
    return re.sub(r"^\d{4}-\d{2}(-\d{2})?-", "", path.stem).replace("-", " ").replace("_", " ").strip().capitalize()


def decode(raw: bytes, path: Path | str) -> str:
    """Bytes of an article to text: UTF-8 (BOM allowed), LF line endings."""
    if not raw.strip():
        raise ArticleError(path, "empty file", code="empty")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ArticleError(
            path,
            f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start}); save the file as UTF-8",
            line=line,
            code="encoding",
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_text(text: str, rel: str, path: Path | str | None = None) -> Article:
    """Parse article text; `rel` is its path under the articles root."""
    where = path or rel
    try:
        post = frontmatter.loads(text, handler=frontmatter.detect_format(text, _HANDLERS))
    except yaml.YAMLError as e:
        # The context mark is where the broken construct starts (an unclosed `[` or quote).
        mark = getattr(e, "context_mark", None) or getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1  # the YAML text starts with the newline after ---
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        tabs = [i for i, ln in enumerate(text.split("\n")[:line], 1) if "\t" in ln]
        if "cannot start any token" in problem and tabs:
            line, problem = tabs[-1], "tab character in YAML (indent with spaces)"
        raise ArticleError(where, f"invalid YAML frontmatter: {problem}", line=line, code="yaml") from None
    except _NotMapping:
        raise ArticleError(
            where, "invalid YAML frontmatter: it is not `key: value` lines", line=2, code="yaml"
        ) from None
    except tomllib.TOMLDecodeError as e:
        raise ArticleError(where, f"invalid TOML frontmatter: {e}", code="toml") from None
    except ValueError:  # PyYAML builds dates itself: `created: 2026-02-30` raises here
        # Read the dates as text instead: the article indexes, and `kb check` reports the date
        # (E204) together with every other problem of the file.
        post = frontmatter.loads(text, handler=_TextDatesHandler())
    meta = post.metadata
    body = post.content
    body_line = text[: len(text) - len(body)].count("\n") + 1 if body else text.count("\n") + 1
    p = Path(rel)
    title = _as_text(meta["title"]) if meta.get("title") else _title_from(body, p)
    kind = str(meta.get("type") or "").strip().lower()
    if kind not in TYPES:
        kind = FOLDER_TYPES.get(p.parts[0] if len(p.parts) > 1 else "", "kb")
    art_id = _as_text(meta["id"]) if meta.get("id") else p.with_suffix("").as_posix()
    return Article(id=art_id, path=p.as_posix(), title=title, type=kind, body=body, meta=meta, body_line=body_line)


def parse_file(path: Path, root: Path) -> Article:
    """Read and parse one article file; raises ArticleError with `path:line: reason`."""
    try:
        size = path.stat().st_size
        if size > MAX_ARTICLE_BYTES:
            raise ArticleError(path, f"file is {size // 1024} KiB, over the 5 MiB limit", code="too_large")
        raw = path.read_bytes()
    except OSError as e:
        raise ArticleError(path, f"cannot read: {e.strerror}", code="io") from None
    text = decode(raw, path)
    return parse_text(text, path.relative_to(root).as_posix(), path)


def is_article_path(folders: tuple[str, ...], name: str) -> bool:
    """Whether a Markdown file (its folders under the articles root, and its name) is an
    article: files in folders named `.x` or `_x` (`.templates/`, `_drafts/`), READMEs and
    hidden files are not."""
    return not (
        any(part.startswith((".", "_")) for part in folders) or name.lower() in SKIP_NAMES or name.startswith(".")
    )


def article_paths(root: Path) -> Iterator[Path]:
    """Every article file under root, sorted (see is_article_path)."""
    for path in sorted(root.rglob("*.md")):
        if is_article_path(path.relative_to(root).parts[:-1], path.name) and path.is_file():
            yield path


def duplicate_id(path: Path, art_id: str, other: str) -> ArticleError:
    """The problem of a second file claiming an id: it is skipped, the first one kept."""
    return ArticleError(path, f"duplicate id {art_id!r} (also {other}); skipped", code="duplicate_id")


@dataclass
class LoadResult:
    articles: list[Article]
    problems: list[ArticleError]


def load_articles(root: Path) -> LoadResult:
    """Parse every article under root; unreadable files are reported, never fatal."""
    if not root.is_dir():
        raise ArticlesMissing(root)
    articles: list[Article] = []
    problems: list[ArticleError] = []
    seen: dict[str, str] = {}
    for path in article_paths(root):
        try:
            art = parse_file(path, root)
        except ArticleError as e:
            problems.append(e)
            continue
        if art.id in seen:
            problems.append(duplicate_id(path, art.id, seen[art.id]))
            continue
        seen[art.id] = art.path
        articles.append(art)
    return LoadResult(articles, problems)
