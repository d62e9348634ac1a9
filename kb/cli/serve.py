"""`kb serve`."""

from __future__ import annotations

import errno
import logging
import os
import signal
from pathlib import Path

import click

from kb.cli.base import cli, settings_of, shared_options
from kb.errors import PortInUse


@cli.command("serve")
@shared_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
# Searches are CPU-bound and share one GIL: one thread per core plus one (to cover a request
# waiting on I/O) served 172-188 req/s on 2 cores where 8 threads served 125-141 (bench/README.md).
@click.option(
    "--threads",
    default=lambda: (os.cpu_count() or 1) + 1,
    show_default="cores + 1",
    type=click.IntRange(min=1),
    help="Worker threads.",
)
@click.option(
    "--access-log/--no-access-log",
    default=None,
    help="One log line per request: client, method, path, status, ms [env KB_ACCESS_LOG; default on].",
)
@click.pass_context
def serve_cmd(
    ctx: click.Context,
    articles: Path | None,
    index_dir: Path | None,
    host: str,
    port: int,
    threads: int,
    access_log: bool | None,
) -> None:
    """Serve the site and the JSON API with waitress (a production WSGI server).

    Example: kb serve --port 8000
    """
    from kb.web import create_app
    from kb.web.server import Timeouts, limit_malloc_arenas, make_server

    limit_malloc_arenas()  # before any thread starts
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss").setLevel(logging.WARNING)  # its loader reports CPU-feature probing at INFO
    settings = settings_of(ctx, access_log=access_log)
    app = create_app(settings)
    try:
        timeouts = Timeouts(header=settings.header_timeout, body=settings.body_timeout)
        server = make_server(app, host=host, port=port, threads=threads, timeouts=timeouts)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise PortInUse(host, port) from None
        raise
    click.echo(f"kb serving on http://{host}:{port} (articles in {settings.articles}/, index in {settings.index}/)")
    signal.signal(signal.SIGTERM, _stop)  # a service manager's stop: write the queued query log first
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        app.extensions["kb"].flush(5.0)


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
