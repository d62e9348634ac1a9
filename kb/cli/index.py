"""`kb index`."""

from __future__ import annotations

from pathlib import Path

import click

from kb.cli.base import cli, settings_of, shared_options
from kb.config import FAISS_KINDS
from kb.core import KnowledgeBase


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
    type=click.Choice(FAISS_KINDS),
    envvar="KB_FAISS",
    show_envvar=True,
    help="Dense index: exact flat, approximate HNSW, or auto by size [default auto].",
)
@click.option(
    "--export",
    "export_to",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the published generation to this file (.tar or .tar.gz) for replicas to serve.",
)
@click.pass_context
def index_cmd(
    ctx: click.Context,
    articles: Path | None,
    index_dir: Path | None,
    full: bool,
    wait: float,
    faiss_kind: str | None,
    export_to: Path | None,
) -> None:
    """Build or update the index from the articles folder.

    Example: kb index --articles ./articles --export kb-index.tar.gz
    """
    settings = settings_of(ctx, faiss=faiss_kind)
    if settings.index.is_file():
        raise click.ClickException(
            f"{settings.index} is a file: kb index builds into a folder "
            "(`kb serve --index FILE` serves an exported one)"
        )
    result = KnowledgeBase(settings).build(full=full, wait=wait, log=lambda m: click.echo(m, err=True))
    s = result.stats
    click.echo(
        f"indexed {s.changed:,} changed, {s.deleted:,} deleted, {s.unchanged:,} unchanged "
        f"({s.articles:,} articles, {s.chunks:,} chunks, {s.embedded:,} embedded), "
        f"{s.skipped:,} skipped in {s.seconds:.1f} s -> {settings.index / result.generation}"
    )
    if export_to is not None:
        from kb.artifact import export

        done = export(settings.index, export_to)
        click.echo(f"exported {done.generation} to {done.path} ({done.bytes / 1e6:,.1f} MB)")
