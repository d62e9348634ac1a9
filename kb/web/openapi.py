"""The OpenAPI 3.1 description of the HTTP API; tests validate real responses against it."""

from __future__ import annotations

from typing import Any

from kb.articles import TYPES
from kb.config import DEFAULT_K, MAX_HTTP_BODY, MAX_K
from kb.web.hooks_openapi import HOOK_SCHEMAS, hook_paths

MAX_HTTP_QUERY = MAX_HTTP_BODY - 4096  # characters of a query in a body of at most MAX_HTTP_BODY bytes

_STR_LIST = {"type": "array", "items": {"type": "string"}}
_NULLABLE_STR = {"type": ["string", "null"]}
_ref_result = {"$ref": "#/components/schemas/Result"}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "SearchRequest": {
        "type": "object",
        "required": ["query"],
        "additionalProperties": False,
        "properties": {
            "query": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_HTTP_QUERY,
                "description": "an error, log excerpt, trace or alert; a whole log is searched on its salient lines",
            },
            "k": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": DEFAULT_K},
            "explain": {"type": "boolean"},
            "filters": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "type": {"type": "array", "items": {"enum": list(TYPES)}},
                    "services": _STR_LIST,
                    "tags": _STR_LIST,
                    "include_hidden": {"type": "boolean", "description": "also draft and deprecated articles"},
                },
            },
        },
    },
    "Result": {
        "type": "object",
        "required": [
            "id",
            "title",
            "type",
            "score",
            "confidence",
            "url",
            "snippet",
            "section",
            "root_cause",
            "resolution",
            "services",
            "tags",
            "updated",
        ],
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "type": {"enum": ["kb", "runbook", "known-issue", "postmortem"]},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "confidence": {"enum": ["strong", "possible", "weak"]},
            "url": {"type": "string"},
            "snippet": {"type": "string"},
            "section": {"type": "string"},
            "root_cause": _NULLABLE_STR,
            "resolution": _NULLABLE_STR,
            "root_cause_html": {**_NULLABLE_STR, "description": "root_cause as sanitized HTML (code kept)"},
            "resolution_html": {**_NULLABLE_STR, "description": "resolution as sanitized HTML; a link when cut"},
            "services": _STR_LIST,
            "tags": _STR_LIST,
            "updated": _NULLABLE_STR,
            "status": {"enum": ["published", "draft", "deprecated"]},
            "highlights": {
                "type": "array",
                "items": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
            },
            "signature": _NULLABLE_STR,
            "feedback": {
                "type": "object",
                "description": "votes on past searches of the same problem (present when there are some)",
                "required": ["solved", "not_relevant", "last_solved"],
                "properties": {
                    "solved": {"type": "integer", "minimum": 0},
                    "not_relevant": {"type": "integer", "minimum": 0},
                    "last_solved": _NULLABLE_STR,
                },
            },
            "seen": {
                "type": "object",
                "description": "how often it was the answer of a logged search, and when last",
                "required": ["count", "last"],
                "properties": {"count": {"type": "integer", "minimum": 1}, "last": {"type": "string"}},
            },
            "explain": {"type": "object"},
        },
    },
    "SearchResponse": {
        "type": "object",
        "required": ["query", "took_ms", "match", "novel", "results"],
        "properties": {
            "query": {"type": "string"},
            "took_ms": {"type": "number", "minimum": 0},
            "match": {"enum": ["strong", "possible", "weak", "none"]},
            "novel": {"type": "boolean"},
            "input_lines": {"type": "integer", "minimum": 0, "description": "non-empty lines of the paste"},
            "searched_lines": {
                "type": "integer",
                "minimum": 0,
                "description": "the lines searched on: all of a short paste, the salient ones of a log",
            },
            "warnings": {"type": "array", "items": {"type": "string"}},
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/Result"}},
            "normalized": {"type": "object"},
        },
    },
    "Article": {
        "type": "object",
        "required": ["id", "title", "type", "path", "body", "html", "meta"],
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "type": {"type": "string"},
            "path": {"type": "string"},
            "status": {"type": "string"},
            "body": {"type": "string"},
            "html": {"type": "string"},
            "meta": {"type": "object"},
            "services": _STR_LIST,
            "tags": _STR_LIST,
            "related": _STR_LIST,
            "updated": _NULLABLE_STR,
            "root_cause": _NULLABLE_STR,
            "resolution": _NULLABLE_STR,
            "url": {"type": "string"},
            "toc": {"type": "array"},
            "signatures": {"type": "array"},
            "seen": {"type": ["object", "null"], "description": "times it was the answer of a logged search, last"},
            "votes": {"type": ["object", "null"], "description": "active votes on it: solved, not_relevant"},
        },
    },
    "Similar": {
        "type": "object",
        "required": ["id", "results"],
        "properties": {
            "id": {"type": "string"},
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "title", "type", "score", "url"],
                    "properties": {
                        "id": {"type": "string"},
                        "title": {"type": "string"},
                        "type": {"type": "string"},
                        "score": {"type": "number", "minimum": 0, "maximum": 1},
                        "url": {"type": "string"},
                    },
                },
            },
        },
    },
    "FeedbackRequest": {
        "type": "object",
        "required": ["query", "article_id", "vote"],
        "additionalProperties": False,
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": MAX_HTTP_QUERY},
            "article_id": {"type": "string", "minLength": 1, "maxLength": 1000},
            "vote": {"enum": ["solved", "not_relevant"]},
        },
    },
    "FeedbackResponse": {
        "type": "object",
        "required": ["ok", "id"],
        "properties": {"ok": {"type": "boolean"}, "id": {"type": "integer"}},
    },
    "WithdrawRequest": {
        "type": "object",
        "required": ["query", "article_id"],
        "additionalProperties": False,
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": MAX_HTTP_QUERY},
            "article_id": {"type": "string", "minLength": 1, "maxLength": 1000},
        },
    },
    "WithdrawResponse": {
        "type": "object",
        "required": ["ok", "withdrawn"],
        "properties": {"ok": {"type": "boolean"}, "withdrawn": {"type": "integer", "minimum": 0}},
    },
    "Gap": {
        "type": "object",
        "required": ["sessions", "searches", "examples", "reasons", "last_seen", "nearest", "title", "command"],
        "properties": {
            "sessions": {"type": "integer"},
            "searches": {"type": "integer"},
            "examples": _STR_LIST,
            "reasons": {"type": "object", "additionalProperties": {"type": "integer"}},
            "last_seen": _NULLABLE_STR,
            "nearest": _NULLABLE_STR,
            "title": {"type": "string"},
            "command": {"type": "string", "description": "the `kb new` command that turns it into a draft"},
        },
    },
    "Gaps": {
        "type": "object",
        "required": ["days", "gaps", "stale_used"],
        "properties": {
            "days": {"type": "integer"},
            "gaps": {"type": "array", "items": {"$ref": "#/components/schemas/Gap"}},
            "stale_used": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Summary": {
        "type": "object",
        "required": [
            "window",
            "totals",
            "per_day",
            "channels",
            "top_articles",
            "services",
            "repeat_issues",
            "gaps",
            "stale_used",
        ],
        "properties": {
            "window": {"type": "object"},
            "totals": {
                "type": "object",
                "required": ["searches", "sessions", "no_match_rate", "failed_rate", "solved", "not_relevant"],
            },
            "per_day": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["day", "strong", "possible", "weak", "none"],
                },
            },
            "channels": {"type": "object", "additionalProperties": {"type": "integer"}},
            "top_articles": {"type": "array", "items": {"type": "object", "required": ["id", "answered", "solved"]}},
            "services": {"type": "array", "items": {"type": "object", "required": ["service", "answered"]}},
            "repeat_issues": {
                "type": "array",
                "items": {"type": "object", "required": ["example", "sessions", "searches", "answer"]},
            },
            "gaps": {"type": "array", "items": {"$ref": "#/components/schemas/Gap"}},
            "stale_used": {"type": "array", "items": {"type": "object"}},
        },
    },
    "TriageRequest": {
        "type": "object",
        "required": ["log"],
        "additionalProperties": False,
        "properties": {
            "log": {"type": "string", "minLength": 1, "description": "the whole log (up to 10 MB)"},
            "levels": {
                "type": ["string", "array"],
                "items": {"enum": ["fatal", "error", "warn", "info", "debug", "all"]},
                "description": "levels to keep: `error,warn` (the default), `all`, or a list; error keeps fatal too",
            },
            "min_count": {"type": "integer", "minimum": 1, "description": "hide templates seen fewer times"},
            "since": {"type": "string", "description": "only records from then on (ISO date or time, UTC)"},
            "until": {"type": "string", "description": "only records until then"},
            "line_numbers": {"type": "boolean", "description": "every input line of each template"},
        },
    },
    "TriageTemplate": {
        "type": "object",
        "required": [
            "template",
            "count",
            "level",
            "first_line",
            "last_line",
            "first_seen",
            "last_seen",
            "example",
            "match",
            "novel",
            "results",
        ],
        "properties": {
            "template": {"type": "string", "description": "the records' text, what varies as <*>"},
            "count": {"type": "integer", "minimum": 1, "description": "records (a stack trace is one)"},
            "level": {"enum": ["fatal", "error", "warn", "info", "debug"]},
            "first_line": {"type": "integer", "minimum": 1, "description": "where its first record starts"},
            "last_line": {"type": "integer", "minimum": 1, "description": "where its last record starts"},
            "first_seen": _NULLABLE_STR,
            "last_seen": _NULLABLE_STR,
            "example": {"type": "string", "description": "its first record as logged"},
            "match": {"enum": ["strong", "possible", "weak", "none"]},
            "novel": {"type": "boolean", "description": "kb has no answer for it"},
            "results": {"type": "array", "maxItems": 3, "items": _ref_result},
            "lines": {"type": "integer", "minimum": 1},
            "line_numbers": {"type": "array", "items": {"type": "integer", "minimum": 1}},
        },
    },
    "TriageResponse": {
        "type": "object",
        "required": ["records", "lines", "templates", "took_ms"],
        "properties": {
            "records": {"type": "integer", "minimum": 0},
            "lines": {"type": "integer", "minimum": 0},
            "kept": {"type": "integer", "minimum": 0, "description": "records at the chosen levels"},
            "levels": {"type": "string"},
            "dropped": {"type": "integer", "minimum": 0, "description": "records past the template cap"},
            "took_ms": {"type": "number", "minimum": 0},
            "timings": {
                "type": "object",
                "properties": {
                    "read_ms": {"type": "number"},
                    "mine_ms": {"type": "number"},
                    "match_ms": {"type": "number"},
                },
            },
            "notes": {"type": "array", "items": {"type": "string"}},
            "templates": {"type": "array", "items": {"$ref": "#/components/schemas/TriageTemplate"}},
        },
    },
    "Ready": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"enum": ["ready", "unavailable"]},
            "generation": {"type": "string"},
            "articles": {"type": "integer"},
            "built_at": _NULLABLE_STR,
            "git_commit": _NULLABLE_STR,
            "reload_error": {"type": "string"},
            "journal": {"enum": ["ok", "unavailable"], "description": "votes and the query log"},
            "journal_error": {"type": "string", "description": "why the journal cannot be used (searches go on)"},
            "error": {"type": "object"},
        },
    },
    **HOOK_SCHEMAS,
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


_ERRORS = {
    str(code): _json("Error", text)
    for code, text in (
        (400, "bad request (empty query, bad k, malformed JSON)"),
        (401, "missing or wrong bearer token"),
        (404, "unknown article or route"),
        (405, "method not allowed"),
        (413, "query or body too large"),
        (415, "body is not JSON"),
        (422, "the paste took longer to analyse than a search may (KB_SEARCH_BUDGET), or the log than a triage may"),
        (429, "too many requests from this client (KB_RATE_LIMIT)"),
        (431, "request line or headers too large"),
        (500, "internal error"),
        (
            503,
            "no index yet - run `kb index` (feedback, insights: the journal is unavailable; triage: another runs)",
        ),
    )
}


_MOVED = {"308": _json("Error", "the same route at its normalized path (repeated slashes merged)")}


def spec(example_id: str | None = None) -> dict[str, Any]:
    """The OpenAPI document; `example_id` (an article of the served index) is the example for
    article ids, so generated requests reach real articles."""
    q = [
        {
            "name": "q",
            "in": "query",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 60_000},
        },
        {"name": "k", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_K}},
        {"name": "type", "in": "query", "schema": {"type": "array", "items": {"enum": list(TYPES)}}},
        {"name": "service", "in": "query", "schema": _STR_LIST},
        {"name": "tag", "in": "query", "schema": _STR_LIST},
        {"name": "include_hidden", "in": "query", "schema": {"type": "boolean"}, "description": "drafts, deprecated"},
        {"name": "explain", "in": "query", "schema": {"type": "boolean"}},
    ]
    art = [
        {
            "name": "id",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 1000},
            "description": "article id, e.g. known-issues/orders-db-too-many-connections",
            **({"example": example_id} if example_id else {}),
        }
    ]
    days = {
        "name": "days",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 3650, "default": 30},
        "description": "the window: the last N days",
    }
    triage_args = [
        {"name": "levels", "in": "query", "schema": {"type": "string"}, "description": "error,warn (default) or all"},
        {"name": "min_count", "in": "query", "schema": {"type": "integer", "minimum": 1}},
        {"name": "since", "in": "query", "schema": {"type": "string"}, "description": "ISO date or time"},
        {"name": "until", "in": "query", "schema": {"type": "string"}},
        {"name": "line_numbers", "in": "query", "schema": {"type": "boolean"}},
    ]
    to_article = {  # the ids a search answers are the ids the article routes take
        "article": {"operationId": "getArticle", "parameters": {"id": "$response.body#/results/0/id"}},
        "similar": {"operationId": "getSimilar", "parameters": {"id": "$response.body#/results/0/id"}},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "kb similarity API",
            "version": "1.0.0",
            "description": "Paste an error, log excerpt, stack trace or alert; get the most similar "
            "known issues, post-mortems and runbooks with root cause and fix.",
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "required only when the server sets KB_API_TOKEN",
                }
            },
        },
        "security": [{}, {"bearer": []}],
        "paths": {
            "/api/v1/search": {
                "post": {
                    "operationId": "search",
                    "summary": "Search",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("SearchRequest")}},
                    },
                    "responses": {"200": {**_json("SearchResponse", "ranked results"), "links": to_article}, **_ERRORS},
                },
                "get": {
                    "operationId": "searchGet",
                    "summary": "Search (query string)",
                    "parameters": q,
                    "responses": {"200": {**_json("SearchResponse", "ranked results"), "links": to_article}, **_ERRORS},
                },
            },
            "/api/v1/triage": {
                "post": {
                    "operationId": "triage",
                    "summary": "Triage a whole log: one entry per distinct problem, each with kb's best match",
                    "description": "The body is the log as text/plain (gzip accepted: Content-Encoding: gzip), "
                    "with the options in the query string, or JSON with the log and the options in it. Up to "
                    "10 MB (decompressed); one triage at a time per server (503 while another runs).",
                    "parameters": triage_args,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "text/plain": {"schema": {"type": "string", "minLength": 1}},
                            "application/json": {"schema": _ref("TriageRequest")},
                        },
                    },
                    "responses": {"200": _json("TriageResponse", "the templates, most severe first"), **_ERRORS},
                }
            },
            "/api/v1/articles/{id}": {
                "get": {
                    "operationId": "getArticle",
                    "summary": "One article with rendered HTML",
                    "parameters": art,
                    "responses": {"200": _json("Article", "the article"), **_MOVED, **_ERRORS},
                }
            },
            "/api/v1/articles/{id}/similar": {
                "get": {
                    "operationId": "getSimilar",
                    "summary": "Articles similar to this one",
                    "parameters": art,
                    "responses": {"200": _json("Similar", "similar articles"), **_MOVED, **_ERRORS},
                }
            },
            "/api/v1/feedback": {
                "post": {
                    "summary": "Record 'this solved it' / 'not relevant'",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("FeedbackRequest")}},
                    },
                    "responses": {"201": _json("FeedbackResponse", "recorded"), **_ERRORS},
                }
            },
            "/api/v1/feedback/withdraw": {
                "post": {
                    "summary": "Withdraw this client's vote on a problem and an article",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("WithdrawRequest")}},
                    },
                    "responses": {"200": _json("WithdrawResponse", "withdrawn (0 when there was none)"), **_ERRORS},
                }
            },
            "/api/v1/insights/summary": {
                "get": {
                    "summary": "Searches, matches, top articles, repeat issues, gaps, stale articles still used",
                    "parameters": [days],
                    "responses": {"200": _json("Summary", "the window's figures"), **_ERRORS},
                }
            },
            "/api/v1/insights/gaps": {
                "get": {
                    "summary": "Failed searches clustered into problems kb has no answer for",
                    "parameters": [
                        days,
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                    ],
                    "responses": {"200": _json("Gaps", "gaps, most sessions first"), **_ERRORS},
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [{}],
                    "responses": {"200": {"description": "OpenAPI 3.1"}},
                }
            },
            "/healthz": {
                "get": {"summary": "Process is up", "security": [{}], "responses": {"200": {"description": "ok"}}}
            },
            "/readyz": {
                "get": {
                    "summary": "Index loaded",
                    "security": [{}],
                    "responses": {"200": _json("Ready", "ready"), "503": _json("Ready", "no index")},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "security": [{}],
                    "responses": {"200": {"description": "text exposition format"}},
                }
            },
            **hook_paths(),
        },
    }
