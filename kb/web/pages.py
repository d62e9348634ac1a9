"""The site: paste box, results page, article page, feedback form, health endpoints. Each route
is one call into the KnowledgeBase."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from kb.core import KnowledgeBase
from kb.errors import KBError
from kb.insights import is_stale
from kb.results import Filters
from kb.web.errors import error_body
from kb.web.metrics import observe_feedback, observe_search
from kb.web.origins import origin

bp = Blueprint("pages", __name__)
TYPES = [("known-issue", "Known issue"), ("postmortem", "Post-mortem"), ("runbook", "Runbook"), ("kb", "How-to")]


def _kb() -> KnowledgeBase:
    kb: KnowledgeBase = current_app.extensions["kb"]
    return kb


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {"type_label": dict(TYPES), "is_stale": is_stale, "types": TYPES, "ago": ago}


def ago(iso: str | None, now: dt.datetime | None = None) -> str:
    """An ISO time as people say it: "just now", "3 hours ago", "2 days ago"."""
    if not iso:
        return "never"
    try:
        then = dt.datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if then.tzinfo is None:
        then = then.replace(tzinfo=dt.UTC)
    seconds = ((now or dt.datetime.now(dt.UTC)) - then).total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


@bp.get("/healthz")
def healthz() -> Any:
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> Any:
    s = _kb().status()
    if not s.ready:
        assert s.error is not None
        return {"status": "unavailable", **error_body(s.error.code, str(s.error)), "pid": os.getpid()}, 503
    body = {
        "status": "ready",
        "generation": s.generation,
        "articles": s.articles,
        "built_at": s.built_at,
        "git_commit": s.git_commit,
        "pid": os.getpid(),  # which process answered: one of `kb serve --workers N`, or the only one
    }
    if s.reload_error:
        body["reload_error"] = s.reload_error
    body["journal"] = "ok" if not s.journal_error else "unavailable"
    if s.journal_error:  # searches go on; votes and the query log wait for a person
        body["journal_error"] = s.journal_error
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
        response = kb.search(q, k=10, filters=filters, origin=origin("site"))
    except KBError as e:  # the paste stays in the box, with what to change
        return render_template("index.html", q=q, filters=filters, message=str(e)), e.status
    observe_search(response.match, "site")
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
    receipt = _kb().feedback(f.get("query", ""), f.get("article_id", ""), f.get("vote", ""), origin("site"))
    observe_feedback(f.get("vote", ""))
    if request.accept_mimetypes.best == "application/json":
        return receipt.to_dict(), 201
    filters = _filters_from_args()
    back: dict[str, Any] = {"type": filters.type, "service": filters.services, "tag": filters.tags}
    if filters.include_hidden:
        back["include_hidden"] = ["1"]
    return redirect(url_for("pages.search", q=f.get("query", ""), thanks=f.get("article_id", ""), **back), code=303)


@bp.get("/insights")
def insights() -> Any:
    """What recurs, what kb answered, and where its knowledge is missing, for people."""
    from kb.insights import MATCHES, REPEAT_SESSIONS
    from kb.web.charts import hbars, stacked_bars

    raw = request.args.get("days", "30")
    days = int(raw) if raw.isdigit() and 1 <= int(raw) <= 3650 else 30
    summary = _kb().insights(days).summary()
    per_day = stacked_bars(summary["per_day"], MATCHES, f"searches a day over the last {days} days, by match level")
    top = hbars(
        [(a["title"] or a["id"], a["answered"], a["solved"]) for a in summary["top_articles"]],
        "top articles: times answered, times solved",
    )
    return render_template(
        "insights.html", s=summary, days=days, per_day_chart=per_day, top_chart=top, repeat_sessions=REPEAT_SESSIONS
    )
