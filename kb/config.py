"""Settings: the only reader of the environment. Option > KB_* variable > default."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from kb.errors import ConfigError

# A paste may be a whole log: the CLI takes up to 5 MB, HTTP up to 1 MiB a body; long pastes are
# reduced to their salient lines before they are searched (kb/salient.py).
MAX_PASTE_CHARS = 5_000_000
MAX_HTTP_BODY = 1024 * 1024
MIN_SIGNATURE_CHARS = 4  # shorter text signatures are ignored by search (`kb check` warns, W213)
MAX_K = 50
DEFAULT_K = 10
FAISS_KINDS = ("auto", "flat", "hnsw")

_T = TypeVar("_T", int, float)


@dataclass(frozen=True)
class Settings:
    """Where things live and how kb behaves; built once and passed down."""

    articles: Path = Path("articles")
    index: Path = Path("index")
    data: Path = Path("var")
    model: str | None = None  # a local sentence-transformers directory; None = bundled MiniLM
    api_token: str | None = None
    repo_url: str | None = None  # for "edit in git" links, e.g. https://git.example.com/kb/blob/main
    reload_interval: float = 2.0  # seconds between checks for a new index generation
    rate_limit: int = 0  # API requests a minute per client; 0 = no limit
    faiss: str = "auto"  # dense index: "flat" (exact), "hnsw" (approximate) or "auto" by size
    cache: Path | None = None  # where the model's ONNX export is kept for every index; None = none
    search_budget: float = 5.0  # seconds the analysis of one paste may take
    header_timeout: float = 10.0  # seconds a client may take to send a request's line and headers
    body_timeout: float = 30.0  # and then its body
    public_site: bool = False  # with api_token set, the site stays open (the API does not)
    access_log: bool = True  # `kb serve` logs one line per request
    metrics_public: bool = False  # with api_token set, /metrics stays open
    query_log: bool = True  # searches through the API, the site and integrations are logged (KB_QUERY_LOG)
    retention_days: float = 90.0  # logged searches older than this are pruned (votes are kept)
    database_url: str | None = None  # postgresql://... : the journal in PostgreSQL, shared by replicas
    forward_url: str | None = None  # a Slack-compatible incoming webhook that alert answers are posted to
    slack_signing_secret: str | None = None  # verifies Slack's requests; unset: the Slack hooks are 404
    mattermost_token: str | None = None  # the Mattermost slash command's token; unset: that hook is 404
    public_url: str | None = None  # where people reach kb, for links in chat; unset: the URL a hook was called at
    run_dir: Path | None = None  # the directory the workers of one `kb serve --workers N` share (set by its master)

    def __post_init__(self) -> None:
        if self.faiss not in FAISS_KINDS:
            raise ConfigError(f"unknown dense index kind {self.faiss!r} (KB_FAISS / --faiss): use flat, hnsw or auto")
        if self.reload_interval < 0:
            raise ConfigError(f"KB_RELOAD_INTERVAL must be 0 or more seconds, not {self.reload_interval}")
        if self.rate_limit < 0:
            raise ConfigError(f"KB_RATE_LIMIT must be 0 (off) or more requests a minute, not {self.rate_limit}")
        if self.database_url and not self.database_url.startswith(("postgresql://", "postgres://")):
            raise ConfigError(
                f"KB_DATABASE_URL must be a postgresql:// URL, not {self.database_url.split('://')[0]!r}:// "
                "(unset it to keep the journal in SQLite under KB_DATA)"
            )
        if self.retention_days <= 0:
            raise ConfigError(f"KB_RETENTION_DAYS must be more than 0 days, not {self.retention_days}")
        for key, url in (("KB_FORWARD_URL", self.forward_url), ("KB_PUBLIC_URL", self.public_url)):
            if url is not None and not url.startswith(("http://", "https://")):
                raise ConfigError(f"{key} must be an http:// or https:// URL, not {url[:80]!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read KB_* variables, then apply non-None overrides (CLI options)."""
        env = os.environ if env is None else env
        cache_home = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        s = cls(
            articles=Path(env.get("KB_ARTICLES", "articles")),
            index=Path(env.get("KB_INDEX", "index")),
            data=Path(env.get("KB_DATA", "var")),
            model=env.get("KB_MODEL") or None,
            api_token=env.get("KB_API_TOKEN") or None,
            repo_url=env.get("KB_REPO_URL") or None,
            reload_interval=_number(env, "KB_RELOAD_INTERVAL", 2.0, float, "a number of seconds"),
            rate_limit=_number(env, "KB_RATE_LIMIT", 0, int, "a whole number of requests a minute"),
            faiss=env.get("KB_FAISS") or "auto",
            cache=Path(env["KB_CACHE"]) if env.get("KB_CACHE") else cache_home / "kb",
            search_budget=_number(env, "KB_SEARCH_BUDGET", 5.0, float, "a number of seconds"),
            header_timeout=_number(env, "KB_HEADER_TIMEOUT", 10.0, float, "a number of seconds"),
            body_timeout=_number(env, "KB_BODY_TIMEOUT", 30.0, float, "a number of seconds"),
            public_site=_flag(env, "KB_PUBLIC_SITE"),
            access_log=_flag(env, "KB_ACCESS_LOG", default=True),
            metrics_public=_flag(env, "KB_METRICS_PUBLIC"),
            query_log=_flag(env, "KB_QUERY_LOG", default=True),
            retention_days=_number(env, "KB_RETENTION_DAYS", 90.0, float, "a number of days"),
            database_url=env.get("KB_DATABASE_URL") or None,
            forward_url=env.get("KB_FORWARD_URL") or None,
            slack_signing_secret=env.get("KB_SLACK_SIGNING_SECRET") or None,
            mattermost_token=env.get("KB_MATTERMOST_TOKEN") or None,
            public_url=env.get("KB_PUBLIC_URL") or None,
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        for key in ("articles", "index", "data"):
            if key in given:
                given[key] = Path(str(given[key]))
        return replace(s, **given)  # type: ignore[arg-type]


def _number(env: Mapping[str, str], key: str, default: _T, kind: Callable[[str], _T], what: str) -> _T:
    """A numeric variable; a value that is not one is a ConfigError naming the variable."""
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{key}={raw!r} is not {what}") from None


def _flag(env: Mapping[str, str], key: str, default: bool = False) -> bool:
    """A yes/no variable: 1, true, yes, on (any case) or 0, false, no, off; unset or empty: default."""
    raw = env.get(key, "").strip().lower()
    if not raw:
        return default
    if raw in ("0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{key}={env[key]!r} is not yes or no (use 1 or 0)")
