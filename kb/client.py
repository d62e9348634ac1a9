"""A small typed client of kb's HTTP API, for other Python tools and for `kb search --url`: the
search goes to a running `kb serve` (one HTTP call) instead of loading a local index.

    from kb.client import Client

    r = Client("http://kb.internal:8000", token).search("FATAL: remaining connection slots", k=3)
    print(r.match, [(x.id, x.confidence) for x in r.results])

Errors are KBErrors: the server's own (the same code and message as a local search's) or a
RemoteError when the server cannot be reached or answers something that is not kb's.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import fields
from typing import Any

from kb.config import MAX_HTTP_BODY
from kb.errors import KBError, QueryTooLong, RemoteError
from kb.results import Filters, Response, Result, validate

TIMEOUT = 30.0
_RESULT_FIELDS = {f.name for f in fields(Result)}
_ROOM = MAX_HTTP_BODY - 4096  # bytes of a paste in one request body, with room for the rest of it


def fit_paste(text: str, limit: int = _ROOM) -> tuple[str, bool]:
    """The paste, or its end when it is over what one HTTP request may carry (the end of a log
    holds the failure); whether it was cut. Cut at a line boundary when there is one."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text, False
    tail = data[-limit:].decode("utf-8", errors="ignore")
    newline = tail.find("\n")
    return (tail[newline + 1 :] if 0 <= newline < len(tail) - 1 else tail), True


def response_from_dict(data: dict[str, Any]) -> Response:
    """A search response from the API's JSON (fields this client does not know are ignored)."""
    results = [Result(**{k: v for k, v in r.items() if k in _RESULT_FIELDS}) for r in data.get("results", [])]
    return Response(
        query=data.get("query", ""),
        took_ms=float(data.get("took_ms", 0.0)),
        match=data.get("match", "none"),
        novel=bool(data.get("novel", False)),
        results=results,
        normalized=data.get("normalized"),
        input_lines=int(data.get("input_lines", 0)),
        searched_lines=int(data.get("searched_lines", 0)),
        warnings=list(data.get("warnings", [])),
    )


class Client:
    """kb's HTTP API at `url` (`http://kb.internal:8000`), with the server's bearer token when it
    has one. `client` and `session` name who searches, for the server's query log."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        timeout: float = TIMEOUT,
        client: str | None = None,
        session: str | None = None,
    ) -> None:
        url = url.strip().rstrip("/")
        self.url = url if "://" in url else f"http://{url}"
        self.token = token
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "kb-client"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        if client:
            self.headers["X-KB-Client"] = client
        if session:
            self.headers["X-KB-Session"] = session

    def search(self, query: str, k: int = 5, filters: Filters | None = None, explain: bool = False) -> Response:
        """The server's answer to a search, as a local `KnowledgeBase.search` returns it."""
        return response_from_dict(self.search_json(query, k, filters, explain))

    def search_json(
        self, query: str, k: int = 5, filters: Filters | None = None, explain: bool = False
    ) -> dict[str, Any]:
        """The server's JSON answer to a search (`kb search --json` prints it)."""
        query, k = validate(query, k)  # what a local search would refuse, with the same message
        body: dict[str, Any] = {"query": query, "k": k}
        f = filters or Filters()
        lists = {"type": f.type, "services": f.services, "tags": f.tags}
        wanted: dict[str, Any] = {key: value for key, value in lists.items() if value}
        if f.include_hidden:
            wanted["include_hidden"] = True
        if wanted:
            body["filters"] = wanted
        if explain:
            body["explain"] = True
        data = json.dumps(body, ensure_ascii=False).encode()
        if len(data) > MAX_HTTP_BODY:
            raise QueryTooLong(
                f"the paste is over {MAX_HTTP_BODY // 1024:,} KiB, what one request to a kb server may carry - "
                "send the end of the log (`tail -c 1000000`)"
            )
        answer = self._post("/api/v1/search", data)
        if not isinstance(answer, dict) or "results" not in answer:
            raise RemoteError(f"{self.url} did not answer like a kb server (no search results in its answer)")
        return answer

    def _post(self, path: str, data: bytes) -> Any:
        req = urllib.request.Request(self.url + path, data, self.headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - the user's URL
                return json.loads(resp.read())
        except urllib.error.HTTPError as e:
            raise _server_error(self.url, e) from None
        except (urllib.error.URLError, OSError) as e:  # refused, DNS, TLS, a timeout
            reason = getattr(e, "reason", e)
            raise RemoteError(
                f"cannot reach kb at {self.url} ({reason}) - is `kb serve` running there? (--url / KB_URL)"
            ) from None
        except ValueError:
            raise RemoteError(f"{self.url} answered something that is not JSON - is it a kb server?") from None


def _server_error(url: str, e: urllib.error.HTTPError) -> KBError:
    """The server's JSON error as the KBError a local search raises (same code, status, message)."""
    try:
        err = json.loads(e.read(65536))["error"]
        message, code = str(err["message"]), str(err["code"])
    except (ValueError, KeyError, TypeError, OSError):
        return RemoteError(f"{url} answered {e.code} {e.reason} - is it a kb server?", status=e.code)
    if e.code == 401:
        message += " - pass the server's token with --token or KB_API_TOKEN"
    return KBError(message, code=code, status=e.code)
