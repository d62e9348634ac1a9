"""Article templates and `kb new`: a new article file with its frontmatter filled in.

Templates ship in kb/templates/<type>.md; `articles/.templates/<type>.md` overrides one.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from kb.articles import FOLDER_TYPES, TYPES, decode
from kb.errors import KBError
from kb.generalize import signature_from
from kb.schema import LIST_KEYS
from kb.sections import sections

TYPE_FOLDERS = {**{t: f for f, t in FOLDER_TYPES.items()}, "kb": "kb"}
# The section that receives a pasted error (`--from-query`), by preference.
QUERY_SECTIONS = ("error", "alert or symptom", "symptoms", "symptom", "detection", "troubleshooting")
_FRONTMATTER = re.compile(r"\A---\n(.*?)\n---[ \t]*(?:\n|\Z)", re.S)


def load_template(root: Path, kind: str) -> str:
    """The template text for an article type; `<root>/.templates/<type>.md` wins."""
    if kind not in TYPES:
        raise KBError(f"unknown article type {kind!r}; use one of {', '.join(TYPES)}")
    override = root / ".templates" / f"{kind}.md"
    if override.is_file():
        return decode(override.read_bytes(), override)
    return (resources.files("kb") / "templates" / f"{kind}.md").read_text(encoding="utf-8")


def slugify(title: str, max_len: int = 60) -> str:
    """`Checkout 502s after LB cert rotation` -> `checkout-502s-after-lb-cert-rotation`."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    if len(slug) > max_len:  # at a word end: keep a word that ends exactly at the limit
        head = slug[: max_len + 1]
        slug = head[:-1] if head.endswith("-") else head.rsplit("-", 1)[0] if "-" in head else slug[:max_len]
    return slug or "article"


def _split(template: str) -> tuple[dict[str, Any], str]:
    match = _FRONTMATTER.match(template)
    if not match:
        return {}, template
    meta = yaml.safe_load(match.group(1)) or {}
    return (meta if isinstance(meta, dict) else {}), template[match.end() :]


def _dump(meta: dict[str, Any]) -> str:
    lines = []
    for key, value in meta.items():
        if value is None:
            lines.append(f"{key}:\n")
            continue
        flow = None if key in LIST_KEYS else False
        lines.append(
            yaml.safe_dump({key: value}, sort_keys=False, allow_unicode=True, width=10_000, default_flow_style=flow)
        )
    return "".join(lines)


def _fenced(text: str) -> str:
    longest = max((len(m.group(0)) for m in re.finditer(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}\n"


def _insert_query(body: str, text: str) -> str:
    block = (
        _fenced(text) + "\n<!-- guidance: pasted by `kb new --from-query`: remove secrets and "
        "customer data, keep the lines that identify the error. -->\n"
    )
    headings = {s.heading.lower().rstrip(":"): s for s in reversed(sections(body)) if s.level}
    target = next((headings[name] for name in QUERY_SECTIONS if name in headings), None)
    if target is None:
        return f"\n## Error\n\n{block}\n{body.lstrip(chr(10))}"
    end = body.find("\n", target.at)  # the end of the heading line
    end = len(body) if end < 0 else end
    return f"{body[:end]}\n\n{block}{body[end:]}"


def render(
    template: str,
    kind: str,
    title: str,
    art_id: str,
    created: dt.date,
    services: Sequence[str] = (),
    tags: Sequence[str] = (),
    query: str | None = None,
) -> str:
    """Fill a template: id, title, type, created, services, tags, and the pasted query if any."""
    meta, body = _split(template)
    filled: dict[str, Any] = {"id": art_id, "title": title, "type": kind}
    filled.update({k: v for k, v in meta.items() if k not in filled})
    filled["created"] = created
    filled["services"] = list(services) or meta.get("services") or []
    filled["tags"] = list(tags) or meta.get("tags") or []
    if query is not None:
        sig = signature_from(query)
        old = [s for s in meta.get("signatures") or [] if s]
        filled["signatures"] = ([sig] if sig else []) + old
        body = _insert_query(body, query.strip("\n"))
    return f"---\n{_dump(filled)}---\n{body}"


def article_id(kind: str, title: str, day: dt.date) -> str:
    """The id (and path without `.md`) `kb new` gives an article: `<type folder>/<date>-<slug>`."""
    return f"{TYPE_FOLDERS[kind]}/{day.isoformat()}-{slugify(title)}"


def new_article(
    root: Path,
    kind: str,
    title: str,
    services: Sequence[str] = (),
    tags: Sequence[str] = (),
    query: str | None = None,
    today: dt.date | None = None,
) -> Path:
    """Write `<root>/<type folder>/<date>-<slug>.md` from the type's template; never overwrites."""
    title = " ".join(title.split())
    if not title:
        raise KBError("the title is empty - give the article a one-line title")
    if query is not None and not query.strip():
        raise KBError("the pasted query is empty - paste the error text, or leave out --from-query")
    template = load_template(root, kind)
    today = today or dt.date.today()
    art_id = article_id(kind, title, today)
    text = render(template, kind, title, art_id, today, services, tags, query)
    path = root / f"{art_id}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x", encoding="utf-8", newline="\n") as f:
            f.write(text)
    except FileExistsError:
        raise KBError(f"{path} already exists - edit it, or choose another title") from None
    return path
