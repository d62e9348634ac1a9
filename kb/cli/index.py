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
@click.pass_context
def index_cmd(
    ctx: click.Context, articles: Path | None, index_dir: Path | None, full: bool, wait: float, faiss_kind: str | None
) -> None:
    """Build or update the index from the articles folder.

    Example: kb index --articles ./articles
    """
    settings = settings_of(ctx, faiss=faiss_kind)
    result = KnowledgeBase(settings).build(full=full, wait=wait, log=lambda m: click.echo(m, err=True))
    s = result.stats
    click.echo(
        f"indexed {s.changed:,} changed, {s.deleted:,} deleted, {s.unchanged:,} unchanged "
        f"({s.articles:,} articles, {s.chunks:,} chunks, {s.embedded:,} embedded), "
        f"{s.skipped:,} skipped in {s.seconds:.1f} s -> {settings.index / result.generation}"
    )
