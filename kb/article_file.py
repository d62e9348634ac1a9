"""Article files as `kb check` reads them: the parsed article (or the problem that stopped
it), the line of every frontmatter key and list item, and where the body starts."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kb.articles import MAX_ARTICLE_BYTES, Article, decode, parse_text
from kb.errors import ArticleError

_PARSE_CODES = {"io": "E101", "encoding": "E102", "empty": "E103", "too_large": "E104", "yaml": "E106", "toml": "E107"}


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
