"""Settings: the only reader of the environment. Option > KB_* variable > default."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

MAX_QUERY_CHARS = 20_000
MIN_SIGNATURE_CHARS = 4  # shorter text signatures are ignored by search (`kb check` warns, W213)
MAX_K = 50
DEFAULT_K = 10


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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read KB_* variables, then apply non-None overrides (CLI options)."""
        env = os.environ if env is None else env
        s = cls(
            articles=Path(env.get("KB_ARTICLES", "articles")),
            index=Path(env.get("KB_INDEX", "index")),
            data=Path(env.get("KB_DATA", "var")),
            model=env.get("KB_MODEL") or None,
            api_token=env.get("KB_API_TOKEN") or None,
            repo_url=env.get("KB_REPO_URL") or None,
            reload_interval=float(env.get("KB_RELOAD_INTERVAL", "2.0")),
            rate_limit=int(env.get("KB_RATE_LIMIT", "0") or 0),
            faiss=env.get("KB_FAISS", "auto") or "auto",
            cache=Path(env["KB_CACHE"])
            if env.get("KB_CACHE")
            else Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kb",
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        for key in ("articles", "index", "data"):
            if key in given:
                given[key] = Path(str(given[key]))
        return replace(s, **given)  # type: ignore[arg-type]
