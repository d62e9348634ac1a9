"""The JSON API under /api/v1: search, articles, similar, feedback, OpenAPI."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from kb.config import DEFAULT_K
from kb.errors import BadQuery, KBError
from kb.render import render_markdown
from kb.search import Filters
from kb.web.metrics import observe_search

bp = Blueprint("api", __name__, url_prefix="/api/v1")


class Unauthorized(KBError):
    code = "unauthorized"
    status = 401


@bp.before_request
def _auth() -> None:
    token = current_app.config["KB_SETTINGS"].api_token
    if not token or request.endpoint == "api.openapi":
        return
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
        raise Unauthorized("missing or wrong bearer token (Authorization: Bearer $KB_API_TOKEN)")


def _kb() -> Any:
    return current_app.extensions["kb"]


def _json_body() -> dict[str, Any]:
    if not request.is_json:
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    try:
        body = request.get_json()
    except BadRequest:
        raise BadQuery("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadQuery('the body is not a JSON object - send {"query": "..."}')
    return body


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true", "yes", "on")


@bp.route("/search", methods=["GET", "POST"])
def search() -> Any:
    if request.method == "POST":
        body = _json_body()
        query, k = body.get("query"), body.get("k", DEFAULT_K)
        filters = Filters.from_dict(body.get("filters"))
        explain = _flag(body.get("explain"))
    else:
        args = request.args
        query, k = args.get("q", ""), args.get("k", DEFAULT_K)
        filters = Filters(
            type=args.getlist("type"),
            services=args.getlist("service"),
            tags=args.getlist("tag"),
            include_hidden=_flag(args.get("all")),
        )
        explain = _flag(args.get("explain"))
    response = _kb().search(query, k=k, filters=filters, explain=explain)
    observe_search(response.match)
    return jsonify(response.to_dict())


@bp.get("/articles/<path:article_id>")
def article(article_id: str) -> Any:
    data = _kb().index().article(article_id)
    data["html"], data["toc"] = render_markdown(data["body"], data["path"])
    data["url"] = f"/a/{data['id']}"
    return jsonify(data)


@bp.get("/articles/<path:article_id>/similar")
def similar(article_id: str) -> Any:
    k = request.args.get("k", 5)
    try:
        k = int(k)
    except ValueError:
        raise BadQuery("`k` must be an integer from 1 to 50") from None
    if not 1 <= k <= 50:
        raise BadQuery("`k` must be an integer from 1 to 50")
    return jsonify({"id": article_id, "results": _kb().index().similar(article_id, k)})


@bp.post("/feedback")
def feedback() -> Any:
    body = _json_body()
    kb = _kb()
    idx = kb.index()
    article_id = body.get("article_id")
    if isinstance(article_id, str):
        idx.article(article_id)  # 404 for an unknown article
    row = current_app.extensions["kb_feedback"].record(body.get("query"), article_id, body.get("vote"), idx.generation)
    return jsonify({"ok": True, "id": row}), 201


@bp.get("/openapi.json")
def openapi() -> Any:
    from kb.web.openapi import spec

    return jsonify(spec())
