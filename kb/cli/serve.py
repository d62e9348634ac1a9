"""`kb serve`."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
from dataclasses import replace
from pathlib import Path

import click

from kb.cli.base import cli, settings_of, shared_options
from kb.errors import KBError, PortInUse


@cli.command("serve")
@shared_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
# Searches are CPU-bound and share one GIL: one thread per core plus one (to cover a request
# waiting on I/O) served 172-188 req/s on 2 cores where 8 threads served 125-141; with two
# workers, 2 threads each served 126 req/s at 10k where 3 each served 112 (bench/README.md).
@click.option(
    "--threads",
    default=None,
    show_default="cores / workers + 1",
    type=click.IntRange(min=1),
    help="Threads per worker process.",
)
# Two workers served 18-25% more searches a second than one on 2 cores (demo KB, 10k and 100k
# articles), with a lower p99 below 100k, for 260-360 MB more (bench/README.md, "Workers").
@click.option(
    "--workers",
    default=None,
    show_default="2 on 2 or more cores, else 1",
    envvar="KB_WORKERS",
    type=click.IntRange(1, 64),
    help="Server processes sharing the port and one memory-mapped index [env KB_WORKERS].",
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
    threads: int | None,
    workers: int | None,
    access_log: bool | None,
) -> None:
    """Serve the site and the JSON API with waitress (a production WSGI server).

    Example: kb serve --port 8000
    """
    from kb.web.server import Timeouts, limit_malloc_arenas, make_server
    from kb.web.workers import Master, listen

    workers = workers or default_workers()
    threads = threads or len(os.sched_getaffinity(0)) // workers + 1
    limit_malloc_arenas()  # before any thread starts
    where = "%(process)d " if workers > 1 else ""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {where}%(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss").setLevel(logging.WARNING)  # its loader reports CPU-feature probing at INFO
    settings = settings_of(ctx, access_log=access_log)
    timeouts = Timeouts(header=settings.header_timeout, body=settings.body_timeout)
    try:
        sock = listen(host, port) if workers > 1 else None
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise PortInUse(host, port) from None
        raise

    def serve(worker: int | None = None, shared: Path | None = None) -> int:
        from kb.web import create_app

        app = create_app(replace(settings, run_dir=shared))
        try:
            server = make_server(app, host=host, port=port, threads=threads, timeouts=timeouts, sock=sock)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise PortInUse(host, port) from None
            raise
        if worker is not None:  # load the index before taking requests: the first would wait for it
            with contextlib.suppress(KBError):  # no index yet: /readyz says so, as with one process
                app.extensions["kb"].index()
        else:
            click.echo(
                f"kb serving on http://{host}:{port} (articles in {settings.articles}/, index in {settings.index}/)"
            )
        signal.signal(signal.SIGTERM, _stop)  # a service manager's stop: write the queued query log first
        try:
            server.run()
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
            app.extensions["kb"].flush(5.0)
        return 0

    if sock is None:
        serve()
        return
    click.echo(
        f"kb serving on http://{host}:{port} with {workers} workers "
        f"(articles in {settings.articles}/, index in {settings.index}/)"
    )
    ctx.exit(Master(workers, serve).run())


def default_workers() -> int:
    """2 where there are 2 cores or more: measured on 2 (more cores, more workers may pay; not measured)."""
    return 2 if len(os.sched_getaffinity(0)) >= 2 else 1


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
