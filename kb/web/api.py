"""The JSON API under /api/v1: search, articles, similar, feedback, OpenAPI. Each route is one
call into the KnowledgeBase."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from kb.config import DEFAULT_K
from kb.core import KnowledgeBase
from kb.errors import BadQuery
from kb.results import Filters
from kb.triage.reading import MAX_HTTP_BYTES
from kb.web.metrics import observe_feedback, observe_search
from kb.web.origins import origin
from kb.web.requests import json_body

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _kb() -> KnowledgeBase:
    kb: KnowledgeBase = current_app.extensions["kb"]
    return kb


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true", "yes", "on")


@bp.route("/search", methods=["GET", "POST"])
def search() -> Any:
    if request.method == "POST":
        body = json_body("SearchRequest")
        query, k = body["query"], body.get("k", DEFAULT_K)
        filters = Filters.from_dict(body.get("filters"))
        explain = bool(body.get("explain"))
    else:
        args = request.args
        if "all" in args:
            raise BadQuery("`all` is now `include_hidden=1` (also draft and deprecated articles)")
        query, k = args.get("q", ""), args.get("k", DEFAULT_K)
        filters = Filters(
            type=args.getlist("type"),
            services=args.getlist("service"),
            tags=args.getlist("tag"),
            include_hidden=_flag(args.get("include_hidden")),
        )
        explain = _flag(args.get("explain"))
    response = _kb().search(query, k=k, filters=filters, explain=explain, origin=origin("api"))
    observe_search(response.match, "api")
    return jsonify(response.to_dict())


@bp.post("/triage")
def triage() -> Any:
    from kb.web.triage import BUDGET, api_request

    log, options = api_request()
    result = _kb().triage(log, options, origin=origin("triage"), limit=MAX_HTTP_BYTES, budget=BUDGET)
    return jsonify(result.to_dict())


@bp.get("/articles/<path:article_id>")
def article(article_id: str) -> Any:
    return jsonify(_kb().article(article_id).to_dict())


@bp.get("/articles/<path:article_id>/similar")
def similar(article_id: str) -> Any:
    results = _kb().similar(article_id, request.args.get("k", 5))
    return jsonify({"id": article_id, "results": [r.to_dict() for r in results]})


@bp.post("/feedback")
def feedback() -> Any:
    body = json_body("FeedbackRequest")
    receipt = _kb().feedback(body["query"], body["article_id"], body["vote"], origin("api"))
    observe_feedback(body["vote"])
    return jsonify(receipt.to_dict()), 201


@bp.post("/feedback/withdraw")
def withdraw() -> Any:
    body = json_body("WithdrawRequest")
    receipt = _kb().withdraw(body["query"], body["article_id"], origin("api"))
    return jsonify(receipt.to_dict())


@bp.get("/openapi.json")
def openapi() -> Any:
    from kb.web.openapi import spec

    status = _kb().status()
    return jsonify(spec(example_id=status.example_id))


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(f"`{name}` must be a whole number from {low} to {high}, not {raw[:20]!r}") from None
    if not low <= value <= high:
        raise BadQuery(f"`{name}` must be from {low} to {high}, not {value}")
    return value


@bp.get("/insights/summary")
def insights_summary() -> Any:
    return jsonify(_kb().insights(_int_arg("days", 30, 1, 3650)).summary())


@bp.get("/insights/gaps")
def insights_gaps() -> Any:
    days, limit = _int_arg("days", 30, 1, 3650), _int_arg("limit", 20, 1, 500)
    analysis = _kb().insights(days)
    return jsonify(
        {"days": days, "gaps": [g.to_dict() for g in analysis.gaps(limit)], "stale_used": analysis.stale_used()}
    )
