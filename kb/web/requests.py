"""Request bodies checked against the OpenAPI document's own schemas (one definition for the
docs and the checks), with messages that name the field: `filters.type[0]: "Runbook" is not
one of kb, runbook, known-issue, postmortem (did you mean runbook?)`."""

from __future__ import annotations

import difflib
import json
import re
from functools import cache
from typing import Any

from flask import request
from werkzeug.exceptions import UnsupportedMediaType

from kb.errors import BadQuery, QueryTooLong
from kb.web.openapi import SCHEMAS

_SURROGATE = re.compile(r"[\ud800-\udfff]")
_KINDS = {
    "string": "a string",
    "integer": "an integer",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
    "number": "a number",
}


@cache
def _validator(name: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(SCHEMAS[name])


def _where(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the body"


def _kind(value: Any) -> str:
    return {
        str: "a string",
        bool: "true/false",
        int: "a number",
        float: "a number",
        list: "a list",
        dict: "an object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _message(error: Any) -> str:
    where = _where(error.absolute_path)
    if error.validator == "additionalProperties":
        known = list(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(known))
        hints = []
        for key in extra:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
            hints.append(f"`{key}`" + (f" (did you mean `{close[0]}`?)" if close else ""))
        prefix = f"{where}: " if where != "the body" else ""
        return f"{prefix}unknown field {', '.join(hints)}; the fields are {', '.join(known)}"
    if error.validator == "required":
        return f"{where}: {error.message.split(' is a required')[0]} is required"
    if error.validator == "type":
        wanted = error.validator_value if isinstance(error.validator_value, str) else error.validator_value[0]
        return f"`{where}` must be {_KINDS.get(wanted, wanted)}, not {_kind(error.instance)}"
    if error.validator == "enum":
        options = [str(v) for v in error.validator_value]
        close = difflib.get_close_matches(str(error.instance).lower(), options, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return f"`{where}` is {error.instance!r}; use one of {', '.join(options)}{hint}"
    if error.validator in ("minimum", "maximum"):
        schema = error.schema
        return f"`{where}` must be from {schema.get('minimum')} to {schema.get('maximum')}, not {error.instance}"
    if error.validator == "minLength":
        return f"`{where}` is empty"
    return f"`{where}`: {error.message}"


def _check_text(value: Any, where: str = "the body") -> None:
    """No lone surrogates (`"\\ud800"` parses as JSON but is not text any store or model accepts)."""
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise BadQuery(f"{where} holds a lone UTF-16 surrogate (such as \\ud800): send valid Unicode text")
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_text(k, where)
            _check_text(v, f"`{k}`" if where == "the body" else where)
    elif isinstance(value, list):
        for v in value:
            _check_text(v, where)


def json_body(schema: str, raw: bytes | None = None) -> dict[str, Any]:
    """The request's JSON body (or `raw`, the body once opened), checked against SCHEMAS[schema];
    BadQuery (400) naming the field."""
    if not request.is_json:
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    if raw is None:
        raw = request.get_data(cache=True)
    try:
        body = json.loads(raw)
    except RecursionError:
        raise BadQuery("the JSON body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise BadQuery(f"the body is not valid JSON ({e})") from None
    _check_text(body)
    if not isinstance(body, dict):
        raise BadQuery('the body is not a JSON object - send {"query": "..."}')
    errors = sorted(_validator(schema).iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        if first.validator == "maxLength" and list(first.absolute_path) == ["query"]:
            raise QueryTooLong(
                f"the query has {len(first.instance):,} characters; over HTTP the limit is "
                f"{first.validator_value:,} - send the end of the log, or use `kb search -`"
            )
        raise BadQuery(_message(first))
    return body
