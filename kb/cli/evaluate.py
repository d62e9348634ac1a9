"""`kb eval`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kb.cli.base import cli, given, settings_of, shared_options
from kb.core import KnowledgeBase


@cli.command("eval")
@shared_options
@click.argument("queries", type=click.Path(exists=True, dir_okay=False, path_type=Path))
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
@click.option(
    "--history",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Past searches (query lines) replayed as 'solved' on their relevant articles; adds a 'history' row.",
)
@click.pass_context
def eval_cmd(
    ctx: click.Context,
    articles: Path | None,
    index_dir: Path | None,
    queries: Path,
    channels: bool,
    as_json: str | None,
    history: Path | None,
) -> None:
    """Measure retrieval on QUERIES.jsonl: Recall@1/5/10, MRR@10, nDCG@10 per variant.

    With --articles and no --index, the articles are indexed into a cache folder first.

    Example: kb eval ../shared/corpora/alerts/queries.dev.jsonl --articles ../shared/corpora/alerts
    """
    from kb.evaluate import format_table

    settings = settings_of(ctx)
    own_articles = given(ctx, "articles")
    kb = KnowledgeBase.scratch(settings) if own_articles and not given(ctx, "index_dir") else KnowledgeBase(settings)
    result = kb.evaluate(queries, None if channels else ("fused",), build=own_articles, history=history)
    if as_json == "-":
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    click.echo(format_table(result))
    if as_json:
        Path(as_json).write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
