"""The site: paste box, results page, article page, feedback form, health endpoints. Each route
is one call into the KnowledgeBase."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from kb.core import KnowledgeBase
from kb.errors import KBError
from kb.results import Filters
from kb.web.errors import error_body
from kb.web.metrics import observe_search

bp = Blueprint("pages", __name__)
TYPES = [("known-issue", "Known issue"), ("postmortem", "Post-mortem"), ("runbook", "Runbook"), ("kb", "How-to")]
STALE_DAYS = 365


def _kb() -> KnowledgeBase:
    kb: KnowledgeBase = current_app.extensions["kb"]
    return kb


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
    s = _kb().status()
    if not s.ready:
        assert s.error is not None
        return {"status": "unavailable", **error_body(s.error.code, str(s.error))}, 503
    body = {
        "status": "ready",
        "generation": s.generation,
        "articles": s.articles,
        "built_at": s.built_at,
        "git_commit": s.git_commit,
    }
    if s.reload_error:
        body["reload_error"] = s.reload_error
    return body


@bp.get("/api")
def api_docs() -> Any:
    """The API described for people, from the same OpenAPI document tools read."""
    from kb.web.openapi import spec

    return render_template("api.html", doc=spec(example_id=_kb().status().example_id))


@bp.get("/")
def home() -> Any:
    return render_template("index.html", q="", filters=Filters())


def _filters_from_args() -> Filters:
    a = request.values
    return Filters(
        type=[t for t in a.getlist("type") if t],
        services=[s for s in a.getlist("service") if s],
        tags=[t for t in a.getlist("tag") if t],
        include_hidden=a.get("include_hidden") == "1",
    )


@bp.route("/search", methods=["GET", "POST"])
def search() -> Any:
    """Results for a paste: GET for a link, POST (the form switches to it for long pastes)."""
    q = request.values.get("q", "")
    filters = _filters_from_args()
    if not q.strip():
        message = "Paste an error, a log excerpt or a symptom."
        return render_template("index.html", q=q, filters=filters, message=message)
    kb = _kb()
    try:
        response = kb.search(q, k=10, filters=filters)
    except KBError as e:  # the paste stays in the box, with what to change
        return render_template("index.html", q=q, filters=filters, message=str(e)), e.status
    observe_search(response.match)
    draft = kb.draft(q) if response.match == "none" else None
    thanks = request.values.get("thanks")
    back = request.full_path if request.method == "GET" and len(request.full_path) <= 1500 else None
    return render_template("search.html", q=q, filters=filters, r=response, draft=draft, thanks=thanks, back=back)


@bp.get("/a/<path:article_id>")
def article(article_id: str) -> Any:
    view = _kb().article(article_id, similar=5)
    given = request.args.get("back", "")
    back = given if given.startswith("/search?") and "//" not in given else None  # only back to our results
    return render_template("article.html", a=view.article, view=view, back=back)


@bp.post("/feedback")
def feedback() -> Any:
    """The feedback buttons: JSON for the page's script, else back to the same results."""
    f = request.form
    receipt = _kb().feedback(f.get("query", ""), f.get("article_id", ""), f.get("vote", ""))
    if request.accept_mimetypes.best == "application/json":
        return receipt.to_dict(), 201
    filters = _filters_from_args()
    back: dict[str, Any] = {"type": filters.type, "service": filters.services, "tag": filters.tags}
    if filters.include_hidden:
        back["include_hidden"] = ["1"]
    return redirect(url_for("pages.search", q=f.get("query", ""), thanks=f.get("article_id", ""), **back), code=303)
