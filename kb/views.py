"""What the KnowledgeBase answers besides search responses: typed, with the API's JSON shape."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from kb.article_file import Problem
from kb.errors import KBError
from kb.metadata import StoredArticle
from kb.results import SimilarArticle


@dataclass(frozen=True)
class ArticleLink:
    """Another article named by `related` or `superseded_by`."""

    id: str
    title: str
    type: str
    url: str


@dataclass(frozen=True)
class ArticleView:
    """One article as its page and `GET /api/v1/articles/<id>` show it."""

    article: StoredArticle
    html: str  # the body rendered and sanitized
    toc: list[dict[str, str]]  # id, name, level of each heading
    url: str
    links: list[ArticleLink] = field(default_factory=list)
    similar: list[SimilarArticle] = field(default_factory=list)
    edit_url: str | None = None  # "edit in git", when KB_REPO_URL is set
    extra: dict[str, Any] = field(default_factory=dict)  # frontmatter keys outside the schema
    seen: dict[str, Any] | None = None  # how often it was the answer of a logged search: count, last
    votes: dict[str, int] | None = None  # active votes on it: solved, not_relevant

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self.article)
        data.pop("idx")
        data.update(html=self.html, toc=self.toc, url=self.url, seen=self.seen, votes=self.votes)
        return data


@dataclass(frozen=True)
class FeedbackReceipt:
    id: int  # the stored vote's row

    def to_dict(self) -> dict[str, Any]:
        return {"ok": True, "id": self.id}


@dataclass(frozen=True)
class WithdrawReceipt:
    withdrawn: int  # votes taken back: 1, or 0 when there was none

    def to_dict(self) -> dict[str, Any]:
        return {"ok": True, "withdrawn": self.withdrawn}


@dataclass(frozen=True)
class CheckReport:
    """What `kb check` found: one Problem per finding, sorted by place."""

    problems: list[Problem]

    @property
    def errors(self) -> int:
        return sum(p.severity == "error" for p in self.problems)

    @property
    def warnings(self) -> int:
        return len(self.problems) - self.errors

    def to_dict(self) -> dict[str, Any]:
        return {"problems": [p.to_dict() for p in self.problems], "errors": self.errors, "warnings": self.warnings}


@dataclass(frozen=True)
class Draft:
    """The article `kb new ... --from-query` would write for a paste that found nothing."""

    title: str
    article_id: str
    command: str  # the `kb new` command line that writes it
    text: str  # the file it would write


@dataclass(frozen=True)
class Status:
    """Whether an index generation is loaded (`/readyz`)."""

    ready: bool
    generation: str | None = None
    articles: int = 0
    built_at: str | None = None
    git_commit: str | None = None
    reload_error: str | None = None  # why a newer generation was refused
    example_id: str | None = None  # an article of the loaded generation (the API document's example)
    error: KBError | None = None  # why none is loaded
    journal_error: str | None = None  # why votes and the query log cannot be used (searches go on)
