"""`kb check`: strict validation of articles, compiler style (`path:line: code message`).

Codes: the letter is the severity (E error, W warning), the number names the check; sections
and guidance are errors in published articles and warnings in drafts (README, "Authoring").
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Sequence
from pathlib import Path

from kb import schema
from kb.article_file import ArticleFile, Problem, read_article
from kb.articles import Article, article_paths, is_article_path
from kb.errors import ArticlesMissing
from kb.sections import fences, sections

LARGE_BYTES = 1024 * 1024
COPY = 0.99  # whole-article similarity from which a near-duplicate is a copy: an error, not a warning
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_GUIDANCE = re.compile(r"<!--\s*guidance:\s*(.*?)-->", re.S)
_BLANK_ROW = re.compile(r"^\s*\|[\s|:\-]*\|?\s*$")  # a table separator or a row of empty cells


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
    shown = "\n".join(visible)
    for m in _GUIDANCE.finditer(shown):
        at = shown.count("\n", 0, m.start())
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
    return out + _shared_signatures(targets, everything)


def allowed_duplicates(a: Article, b: Article) -> bool:
    """Whether either article says, in `allow_duplicates`, that it shares content with the other on purpose."""
    return b.id in a.list_value("allow_duplicates") or a.id in b.list_value("allow_duplicates")


def _signature_key(sig: dict[str, str]) -> str:
    return f"regex:{sig['regex']}" if "regex" in sig else "text:" + " ".join(sig["text"].split()).lower()


def _shared_signatures(targets: list[ArticleFile], everything: list[ArticleFile]) -> list[Problem]:
    """E216: a signature another article of the same type has too - two known issues (or two
    runbooks) would answer the same error. A post-mortem naming a known issue's error, or a runbook
    and the known issue behind it, share signatures by design and are not reported."""
    holders: dict[str, list[ArticleFile]] = {}
    for f in everything:
        if f.article and f.article.status != "deprecated":
            for sig in f.article.signatures:
                holders.setdefault(_signature_key(sig), []).append(f)
    out = []
    for f in targets:
        if not f.article or f.article.status == "deprecated":
            continue
        for i, sig in enumerate(f.article.signatures):
            others = [
                o
                for o in holders.get(_signature_key(sig), [])
                if o.rel != f.rel
                and o.article
                and o.article.type == f.article.type
                and not allowed_duplicates(f.article, o.article)
            ]
            if others:
                shown = sig.get("text") or sig.get("regex")
                message = (
                    f"signature `{shown}` is also a signature of the {f.article.type} "
                    f"{', '.join(o.shown for o in others)}: merge the two, or name the other in `allow_duplicates` "
                    "if both must answer it"
                )
                out.append(f.problem(f.line_of("signatures", i), "E216", message))
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
        problems += _near_duplicates(targets, pool, index_dir, model, cache)
    return sorted(problems, key=lambda p: (p.path, p.line, p.code))


def _near_duplicates(
    targets: list[ArticleFile], pool: list[ArticleFile], index_dir: Path | None, model: str | None, cache: Path | None
) -> list[Problem]:
    """W401 for each target within the near-duplicate threshold of another article. A pair of
    two targets is reported once, on the later one (by `created`, then path); an article and
    the one it is `superseded_by` are not compared."""
    from kb.article_vectors import article_vectors
    from kb.duplicates import near_duplicates

    files = [f for f in pool if f.article]
    wanted = {id(f) for f in targets if f.article}
    if len(files) < 2 or not wanted:
        return []
    vectors = article_vectors([f.article for f in files if f.article], index_dir, model, cache)
    order = {id(f): (str(f.article.meta.get("created") or ""), f.shown) for f in files if f.article}
    out = []
    for pair in near_duplicates(vectors, [i for i, f in enumerate(files) if id(f) in wanted]):
        a, b = files[pair.target], files[pair.other]
        assert a.article is not None and b.article is not None
        if _superseded(a.article, b.article) or allowed_duplicates(a.article, b.article):
            continue
        if id(b) in wanted and order[id(a)] < order[id(b)]:
            continue
        if pair.similarity >= COPY:
            message = (
                f"a copy of {b.shown} (similarity {pair.similarity:.3f}): edit the one that exists, or name "
                "it in `allow_duplicates` if both are meant to stay"
            )
            out.append(a.problem(a.line_of("title"), "E402", message))
        else:
            out.append(
                a.problem(a.line_of("title"), "W401", f"near-duplicate of {b.shown} (similarity {pair.similarity:.3f})")
            )
    return out


def _superseded(a: Article, b: Article) -> bool:
    return a.meta.get("superseded_by") == b.id or b.meta.get("superseded_by") == a.id


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
