"""The site: paste box, results page, article page, feedback form, health endpoints."""

from __future__ import annotations

import datetime as dt
import shlex
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from kb.errors import KBError
from kb.render import render_markdown
from kb.schema import KNOWN_KEYS
from kb.search import Filters
from kb.templates import article_id, load_template, render

bp = Blueprint("pages", __name__)
TYPES = [("known-issue", "Known issue"), ("postmortem", "Post-mortem"), ("runbook", "Runbook"), ("kb", "How-to")]
STALE_DAYS = 365


def _kb() -> Any:
    return current_app.extensions["kb"]


def is_stale(updated: str | None, today: dt.date | None = None) -> bool:
    """True when an article was last updated more than a year ago."""
    try:
        day = dt.date.fromisoformat(str(updated)[:10])
    except (TypeError, ValueError):
        return False
    return ((today or dt.date.today()) - day).days > STALE_DAYS


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {"type_label": dict(TYPES), "is_stale": is_stale, "types": TYPES}


@bp.get("/healthz")
def healthz() -> Any:
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> Any:
    kb = _kb()
    try:
        idx = kb.index()
    except KBError as e:
        return {"status": "unavailable", "error": {"code": e.code, "message": str(e)}}, 503
    body = {
        "status": "ready",
        "generation": idx.generation,
        "articles": idx.article_count,
        "built_at": idx.manifest.get("built_at"),
        "git_commit": idx.manifest.get("git_commit"),
    }
    if kb.last_reload_error:
        body["reload_error"] = kb.last_reload_error
    return body


@bp.get("/")
def home() -> Any:
    return render_template("index.html", q="", filters=Filters())


def _filters_from_args() -> Filters:
    a = request.args
    return Filters(
        type=[t for t in a.getlist("type") if t],
        services=[s for s in a.getlist("service") if s],
        tags=[t for t in a.getlist("tag") if t],
        include_hidden=a.get("all") == "1",
    )


@bp.get("/search")
def search() -> Any:
    q = request.args.get("q", "")
    filters = _filters_from_args()
    if not q.strip():
        message = "Paste an error, a log excerpt or a symptom."
        return render_template("index.html", q=q, filters=filters, message=message)
    response = _kb().search(q, k=10, filters=filters)
    from kb.web.metrics import observe_search

    observe_search(response.match)
    title = " ".join(q.split())[:70]
    command = f"kb new known-issue {shlex.quote(title)} --from-query -"
    draft = None
    if response.match == "none":  # the template `kb new ... --from-query` would write
        today = dt.date.today()
        art_id = article_id("known-issue", title, today)
        articles = current_app.config["KB_SETTINGS"].articles
        draft = render(load_template(articles, "known-issue"), "known-issue", title, art_id, today, query=q)
    return render_template(
        "search.html",
        q=q,
        filters=filters,
        r=response,
        write_up=command,
        draft=draft,
        thanks=request.args.get("thanks"),
    )


@bp.get("/a/<path:article_id>")
def article(article_id: str) -> Any:
    idx = _kb().index()
    data = idx.article(article_id)
    html, toc = render_markdown(data["body"], data["path"])
    settings = current_app.config["KB_SETTINGS"]
    edit = f"{settings.repo_url.rstrip('/')}/{data['path']}" if settings.repo_url else None
    extra = {k: v for k, v in data["meta"].items() if k not in KNOWN_KEYS}
    related = []
    for rid in data["related"] + ([data["meta"]["superseded_by"]] if data["meta"].get("superseded_by") else []):
        if rid in idx.by_id:
            related.append(idx.article(rid))
    return render_template(
        "article.html",
        a=data,
        html=html,
        toc=toc,
        similar=idx.similar(article_id, 5),
        edit_url=edit,
        extra=extra,
        related=related,
    )


@bp.post("/feedback")
def feedback() -> Any:
    """The no-JavaScript path of the feedback buttons."""
    f = request.form
    idx = _kb().index()
    article_id = f.get("article_id", "")
    idx.article(article_id)
    current_app.extensions["kb_feedback"].record(f.get("query", ""), article_id, f.get("vote", ""), idx.generation)
    return redirect(url_for("pages.search", q=f.get("query", ""), thanks=article_id), code=303)
