"""The `kb` group and what every command shares: its options, its settings, and the one place
where core errors become `Error: ...` and exit status 1."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from kb.config import MAX_PASTE_CHARS, Settings
from kb.errors import KBError, QueryTooLong

F = TypeVar("F", bound=Callable[..., Any])


class KBGroup(click.Group):
    """The one place where core errors become `Error: ...` and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KBError as e:
            raise click.ClickException(str(e)) from e
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as e:
            if os.environ.get("KB_DEBUG"):
                raise
            raise click.ClickException(
                f"unexpected {type(e).__name__}: {e} (this is a bug in kb; KB_DEBUG=1 shows the traceback)"
            ) from e


_FOLDER = click.Path(file_okay=False, path_type=Path)
_INDEX = click.Path(path_type=Path)  # a folder, or an exported index file (kb/artifact.py)
SHARED = {"articles": "articles", "index_dir": "index"}  # option name -> Settings field


def shared_options(f: F) -> F:
    """--articles and --index, accepted by `kb` and by every command (`kb index --articles x`)."""
    f = click.option(
        "--index",
        "index_dir",
        type=_INDEX,
        envvar="KB_INDEX",
        show_envvar=True,
        help="Index folder [default ./index], or a file `kb index --export` wrote.",
    )(f)
    return click.option(
        "--articles", type=_FOLDER, envvar="KB_ARTICLES", show_envvar=True, help="Articles folder [default ./articles]."
    )(f)


def given(ctx: click.Context, name: str) -> bool:
    """Whether a shared option was given on the command line, to the command or to `kb`."""
    return any(c.get_parameter_source(name) == ParameterSource.COMMANDLINE for c in (ctx, ctx.parent) if c)


def settings_of(ctx: click.Context, **overrides: object) -> Settings:
    """A command's settings: an option given to the command beats one given to `kb`, which
    beats the KB_* variable, which beats the default."""
    for name, key in SHARED.items():
        for c in (ctx, ctx.parent):
            if c is not None and c.get_parameter_source(name) == ParameterSource.COMMANDLINE:
                overrides[key] = c.params[name]
                break
    settings = Settings.from_env(None, **overrides)
    if settings.index.is_file() and ctx.info_name != "index":  # an exported index: unpacked and checked once
        from dataclasses import replace

        from kb.artifact import materialize

        cache = settings.cache or Path(tempfile.gettempdir()) / "kb"
        settings = replace(settings, index=materialize(settings.index, cache))
    return settings


def read_stdin(limit: int = MAX_PASTE_CHARS) -> str:
    """Standard input as text (bad UTF-8 replaced, not fatal), at most `limit` bytes."""
    data = sys.stdin.buffer.read(limit + 1) if hasattr(sys.stdin, "buffer") else sys.stdin.read(limit + 1).encode()
    if len(data) > limit:
        raise QueryTooLong(
            f"the paste on stdin is over {limit:,} bytes - search on the end of the log: "
            f"`... | tail -c {limit} | kb search -`"
        )
    return data.decode("utf-8", errors="replace")


@click.group(cls=KBGroup)
@shared_options
@click.version_option(package_name="kb")
def cli(articles: Path | None, index_dir: Path | None) -> None:
    """kb: paste an error, find the past incident, known issue or runbook that fixed it."""
