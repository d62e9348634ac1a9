"""The `kb` command: thin adapters over the core; core errors become `Error: ...`, exit 1."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from kb.config import MAX_K, Settings
from kb.errors import KBError


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


def _settings(ctx: click.Context) -> Settings:
    return ctx.find_object(Settings) or Settings.from_env()


@click.group(cls=KBGroup)
@click.option(
    "--articles",
    type=click.Path(file_okay=False),
    default=None,
    help="Articles folder [env KB_ARTICLES; default ./articles].",
)
@click.option(
    "--index",
    "index_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Index folder [env KB_INDEX; default ./index].",
)
@click.version_option(package_name="kb")
@click.pass_context
def cli(ctx: click.Context, articles: str | None, index_dir: str | None) -> None:
    """kb: paste an error, find the past incident, known issue or runbook that fixed it."""
    ctx.obj = Settings.from_env(articles=articles, index=index_dir)


def shared_options(f: Any) -> Any:
    """--articles/--index accepted after the sub-command too (`kb index --articles x`)."""
    f = click.option(
        "--index", "index_dir", type=click.Path(file_okay=False), default=None, help="Index folder [env KB_INDEX]."
    )(f)
    return click.option(
        "--articles", type=click.Path(file_okay=False), default=None, help="Articles folder [env KB_ARTICLES]."
    )(f)


def _with(ctx: click.Context, articles: str | None, index_dir: str | None) -> Settings:
    from dataclasses import replace
    from pathlib import Path

    s = _settings(ctx)
    if articles:
        s = replace(s, articles=Path(articles))
    if index_dir:
        s = replace(s, index=Path(index_dir))
    return s


@cli.command("index")
@shared_options
@click.option("--full", is_flag=True, help="Re-embed everything instead of only what changed.")
@click.option(
    "--wait",
    type=float,
    default=0.0,
    show_default=True,
    help="Seconds to wait for another running `kb index` before giving up.",
)
@click.option(
    "--faiss",
    "faiss_kind",
    type=click.Choice(["auto", "flat", "hnsw"]),
    default=None,
    help="Dense index: exact flat, approximate HNSW, or auto by size [env KB_FAISS; default auto].",
)
@click.pass_context
def index_cmd(
    ctx: click.Context, articles: str | None, index_dir: str | None, full: bool, wait: float, faiss_kind: str | None
) -> None:
    """Build or update the index from the articles folder.

    Example: kb index --articles ./articles
    """
    from kb.indexer import build

    settings = _with(ctx, articles, index_dir)
    if faiss_kind:
        from dataclasses import replace

        settings = replace(settings, faiss=faiss_kind)
    result = build(settings, full=full, wait=wait, log=lambda m: click.echo(m, err=True))
    s = result.stats
    click.echo(
        f"indexed {s.changed:,} changed, {s.deleted:,} deleted, {s.unchanged:,} unchanged "
        f"({s.articles:,} articles, {s.chunks:,} chunks, {s.embedded:,} embedded), "
        f"{s.skipped:,} skipped in {s.seconds:.1f} s -> {settings.index / result.generation}"
    )


@cli.command("search")
@shared_options
@click.argument("query", nargs=-1)
@click.option("-k", "k", type=int, default=5, show_default=True, help=f"Number of results (1..{MAX_K}).")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON response.")
@click.option("--type", "types", multiple=True, help="Only this article type (repeatable).")
@click.option("--service", "services", multiple=True, help="Only articles about this service.")
@click.option("--tag", "tags", multiple=True, help="Only articles with this tag.")
@click.option("--all", "include_hidden", is_flag=True, help="Include draft and deprecated articles.")
@click.option("--explain", is_flag=True, help="Show the normalized query and why each result matched.")
@click.pass_context
def search_cmd(
    ctx: click.Context,
    articles: str | None,
    index_dir: str | None,
    query: tuple[str, ...],
    k: int,
    as_json: bool,
    types: tuple[str, ...],
    services: tuple[str, ...],
    tags: tuple[str, ...],
    include_hidden: bool,
    explain: bool,
) -> None:
    """Search for articles like QUERY; `-` reads the query from stdin.

    Example: kubectl logs orders-api-7d9f | kb search -
    """
    from kb.core import KnowledgeBase
    from kb.render_text import format_response
    from kb.search import Filters

    text = sys.stdin.read() if query == ("-",) else " ".join(query)
    kb = KnowledgeBase(_with(ctx, articles, index_dir))
    filters = Filters(type=list(types), services=list(services), tags=list(tags), include_hidden=include_hidden)
    response = kb.search(text, k=k, filters=filters, explain=explain)
    if as_json:
        click.echo(json.dumps(response.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(format_response(response, color=sys.stdout.isatty()))


@cli.command("serve")
@shared_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
# Searches are CPU-bound and share one GIL: one thread per core plus one (to cover a request
# waiting on I/O) served 172-188 req/s on 2 cores where 8 threads served 125-141 (bench/README.md).
@click.option(
    "--threads", default=lambda: (os.cpu_count() or 1) + 1, show_default="cores + 1", type=int, help="Worker threads."
)
@click.pass_context
def serve_cmd(
    ctx: click.Context, articles: str | None, index_dir: str | None, host: str, port: int, threads: int
) -> None:
    """Serve the site and the JSON API with waitress (a production WSGI server).

    Example: kb serve --port 8000
    """
    import logging

    from waitress import serve

    from kb.web import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss").setLevel(logging.WARNING)  # its loader reports CPU-feature probing at INFO
    app = create_app(_with(ctx, articles, index_dir))
    click.echo(f"kb serving on http://{host}:{port} (index {app.config['KB_SETTINGS'].index})")
    serve(app, host=host, port=port, threads=threads, ident="kb")


@cli.command("eval")
@shared_options
@click.argument("queries", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--channels/--no-channels",
    default=True,
    show_default=True,
    help="Also score the lexical-only and dense-only rankings of the same index.",
)
@click.option(
    "--json",
    "as_json",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the figures as JSON to this file ('-' for stdout).",
)
@click.pass_context
def eval_cmd(
    ctx: click.Context, articles: str | None, index_dir: str | None, queries: str, channels: bool, as_json: str | None
) -> None:
    """Measure retrieval on QUERIES.jsonl: Recall@1/5/10, MRR@10, nDCG@10 per variant.

    With --articles and no --index, the articles are indexed into a cache folder first.

    Example: kb eval ../shared/corpora/alerts/queries.dev.jsonl --articles ../shared/corpora/alerts
    """
    from pathlib import Path

    from kb.core import KnowledgeBase
    from kb.evaluate import CHANNELS, evaluate, format_table, load_queries

    settings = _with(ctx, articles, index_dir)
    if articles and not index_dir:
        import hashlib
        import tempfile
        from dataclasses import replace

        key = hashlib.sha1(str(Path(articles).resolve()).encode()).hexdigest()[:12]
        settings = replace(settings, index=Path(tempfile.gettempdir()) / f"kb-eval-{key}")
    if articles:
        from kb.indexer import build

        build(settings, log=lambda m: None)
    qs = load_queries(Path(queries))
    result = evaluate(KnowledgeBase(settings).index(), qs, CHANNELS if channels else ("fused",))
    if as_json == "-":
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(format_table(result))
    if as_json:
        Path(as_json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


from kb.cli_authoring import check_cmd, new_cmd  # noqa: E402

cli.add_command(new_cmd)
cli.add_command(check_cmd)


def main() -> None:
    cli(prog_name="kb")


if __name__ == "__main__":
    main()
