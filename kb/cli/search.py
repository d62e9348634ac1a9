"""`kb search`."""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path

import click

from kb.cli.base import cli, read_stdin, settings_of, shared_options
from kb.config import MAX_K
from kb.core import KnowledgeBase
from kb.journal import Origin
from kb.results import Filters


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
@click.option("--log", "log_it", is_flag=True, help="Log this search in the query log, as the server logs its own.")
@click.option(
    "--url",
    envvar="KB_URL",
    show_envvar=True,
    help="Search the kb server at this URL (one HTTP call) instead of a local index.",
)
@click.option("--token", envvar="KB_API_TOKEN", show_envvar=True, help="The server's bearer token, with --url.")
@click.pass_context
def search_cmd(
    ctx: click.Context,
    articles: Path | None,
    index_dir: Path | None,
    query: tuple[str, ...],
    k: int,
    as_json: bool,
    types: tuple[str, ...],
    services: tuple[str, ...],
    tags: tuple[str, ...],
    include_hidden: bool,
    explain: bool,
    log_it: bool,
    url: str | None,
    token: str | None,
) -> None:
    """Search for articles like QUERY; `-` reads the query from stdin.

    Example: kubectl logs orders-api-7d9f | kb search -

    Example: kubectl logs orders-api-7d9f | kb search --url http://kb.internal:8000 -
    """
    from kb.cli.render import format_response

    text = read_stdin() if query == ("-",) else " ".join(query)
    filters = Filters(type=list(types), services=list(services), tags=list(tags), include_hidden=include_hidden)
    user = getpass.getuser()
    if url:  # the server logs the search itself, as the API's (channel api, this user)
        from kb.client import Client, fit_paste

        text, cut = fit_paste(text)
        if cut:
            click.echo(
                f"warning: sent the last {len(text.encode()) // 1024:,} KiB of the paste (the HTTP limit)", err=True
            )
        client = Client(url, token, client=f"cli:{user}", session=f"cli:{user}:{os.getppid()}")
        response = client.search(text, k=k, filters=filters, explain=explain)
    else:
        kb = KnowledgeBase(settings_of(ctx))
        origin = Origin("cli", user, f"cli:{user}:{os.getppid()}") if log_it else None
        response = kb.search(text, k=k, filters=filters, explain=explain, origin=origin)
        if log_it and not kb.flush():
            click.echo("warning: the query log did not take this search in time", err=True)
    if as_json:
        click.echo(json.dumps(response.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(format_response(response, color=sys.stdout.isatty()))
