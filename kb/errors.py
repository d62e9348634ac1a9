"""The one error hierarchy: each error says what to do next and carries its HTTP status."""

from __future__ import annotations

from pathlib import Path


class KBError(Exception):
    """Base of every error kb reports to a person or a tool."""

    code = "kb_error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        if code:
            self.code = code
        if status:
            self.status = status


class BadQuery(KBError):
    code = "bad_query"
    status = 400


class QueryTooLong(KBError):
    code = "query_too_long"
    status = 413


class QueryTooComplex(KBError):
    """A paste whose analysis ran past the per-search CPU budget (KB_SEARCH_BUDGET)."""

    code = "query_too_complex"
    status = 422


class LogTooLarge(KBError):
    """A log over the triage cap (50 MB on the CLI, 10 MB over HTTP), compressed or not."""

    code = "log_too_large"
    status = 413


class EmptyLog(KBError):
    code = "empty_log"
    status = 400


class NotALog(KBError):
    """Input that is not text: binary data, damaged gzip."""

    code = "not_a_log"
    status = 400


class TriageBusy(KBError):
    """Another triage holds the server's one triage slot."""

    code = "triage_busy"
    status = 503


class TriageFailed(KBError):
    """The worker process of a triage stopped, or its analysis ran past the triage budget."""

    code = "triage_failed"
    status = 500


class NotFound(KBError):
    code = "not_found"
    status = 404


class IndexMissing(KBError):
    code = "index_missing"
    status = 503

    def __init__(self, index_dir: Path) -> None:
        super().__init__(f"no index yet in the folder {str(index_dir).rstrip('/')}/ - run `kb index` first")


class IndexIncompatible(KBError):
    code = "index_incompatible"
    status = 503

    def __init__(self, index_dir: Path, reason: str) -> None:
        super().__init__(f"the index in {index_dir} cannot be used: {reason} - run `kb index --full`")


class IndexCorrupt(KBError):
    code = "index_corrupt"
    status = 503


class IndexLocked(KBError):
    code = "index_locked"
    status = 409


class ConfigError(KBError):
    """A setting (an option or a KB_* variable) that kb cannot use."""

    code = "config_error"
    status = 500


class ArticlesMissing(KBError):
    code = "articles_missing"
    status = 503

    def __init__(self, root: Path) -> None:
        super().__init__(f"articles folder {root} not found - set --articles or KB_ARTICLES")


class PortInUse(KBError):
    code = "port_in_use"

    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            f"{host}:{port} is already in use - stop the other server, or pick another port with "
            f"`kb serve --port N` (`make run PORT=N`)"
        )


class Unauthorized(KBError):
    code = "unauthorized"
    status = 401


class RateLimited(KBError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ModelError(KBError):
    code = "model_error"
    status = 500


class ArticleError(KBError):
    """An article that cannot be read; `line` points at the problem when known."""

    code = "article_error"

    def __init__(self, path: Path | str, reason: str, line: int = 1, code: str = "parse") -> None:
        super().__init__(f"{path}:{line}: {reason}", code=code)
        self.path = str(path)
        self.line = line
        self.reason = reason
        self.detail = reason


class RemoteError(KBError):
    """A kb server that `kb search --url` (kb.client) could not reach, or its error answer."""

    code = "remote_error"
    status = 502
