"""Log triage on the web: the /triage page (paste or upload, progress while it works, a table)
and what POST /api/v1/triage reads. Both are thin adapters over `KnowledgeBase.triage`; the
page's triages run as background jobs (kb/triage/jobs.py) so that none holds a request thread."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from flask import Blueprint, Flask, current_app, redirect, render_template, request, url_for
from werkzeug.exceptions import UnsupportedMediaType

from kb.config import Settings
from kb.core import KnowledgeBase
from kb.errors import BadQuery, KBError, NotALog
from kb.journal import Origin
from kb.triage.jobs import Job, TriageJobs
from kb.triage.options import TriageOptions
from kb.triage.reading import GZIP_MAGIC, MAX_HTTP_BYTES, decompress, too_large
from kb.triage.result import Triage
from kb.web.origins import origin, site_session
from kb.web.requests import json_body

bp = Blueprint("triage", __name__)
BODY_LIMIT = MAX_HTTP_BYTES + (1 << 20)  # a 10 MB log and the form around it
BUDGET = 120.0  # seconds a triage of the server may take
LEVELS = [("error,warn", "Errors and warnings"), ("error", "Errors only"), ("all", "All levels")]


def _kb() -> KnowledgeBase:
    kb: KnowledgeBase = current_app.extensions["kb"]
    return kb


def _jobs() -> TriageJobs:
    jobs: TriageJobs = current_app.extensions["kb_triage_jobs"]
    return jobs


def init_app(app: Flask, settings: Settings) -> None:
    """The page and its jobs. Call before the CSRF check is installed: a triage's body may be
    10 MB, so its limits are raised before anything reads the form."""
    shared = settings.run_dir  # under `kb serve --workers N`: where the workers see each other's jobs
    app.extensions["kb_triage_jobs"] = TriageJobs(shared / "triage" if shared else None)

    @app.before_request
    def _triage_limits() -> None:
        if request.endpoint in ("triage.submit", "api.triage"):
            request.max_content_length = BODY_LIMIT
            request.max_form_memory_size = BODY_LIMIT

    app.register_blueprint(bp)


def api_request() -> tuple[bytes | str, TriageOptions]:
    """POST /api/v1/triage's log and options: a text/plain body (options in the query string),
    or JSON `{"log": ..., "levels": ...}`; either may be gzipped (Content-Encoding: gzip)."""
    raw = request.get_data(cache=True)
    if request.headers.get("Content-Encoding", "").lower() == "gzip" and not raw.startswith(GZIP_MAGIC):
        raise NotALog("the body says Content-Encoding: gzip but is not gzip data")
    raw = decompress(raw, MAX_HTTP_BYTES, "the body")
    if request.mimetype == "application/json":
        body = json_body("TriageRequest", raw)
        options = TriageOptions.parse(
            body.get("levels"), body.get("min_count"), body.get("since"), body.get("until"), body.get("line_numbers")
        )
        return body["log"], options
    if request.mimetype not in ("text/plain", "application/octet-stream", "application/gzip", ""):
        raise UnsupportedMediaType('send the log as text/plain (or gzip), or JSON {"log": ...}')
    a = request.args
    options = TriageOptions.parse(
        a.get("levels"), a.get("min_count"), a.get("since"), a.get("until"), a.get("line_numbers")
    )
    if len(raw) > MAX_HTTP_BYTES:
        raise too_large(MAX_HTTP_BYTES)
    return raw, options


@bp.get("/triage")
def form() -> Any:
    return render_template("triage.html", job=None, levels=LEVELS, chosen="error,warn", message=None)


@bp.post("/triage")
def submit() -> Any:
    """Start a triage of the uploaded file (or the pasted log); its page shows the progress."""
    f = request.form
    chosen = f.get("levels") or "error,warn"
    upload = request.files.get("file")
    try:
        options = TriageOptions.parse(chosen, f.get("min_count") or None)
        data: bytes | str
        if upload is not None and upload.filename:
            data, name = upload.stream.read(MAX_HTTP_BYTES + 1), upload.filename[:200]
            if len(data) > MAX_HTTP_BYTES:
                raise too_large(MAX_HTTP_BYTES, name)
        else:
            data, name = f.get("log", ""), "pasted log"
        if not data.strip():
            raise BadQuery("paste a log, or choose a file to upload")
        job = _jobs().submit(site_session(), name, len(data), _work(_kb(), data, options, origin("site")))
    except KBError as e:
        if request.accept_mimetypes.best == "application/json":
            return {"error": {"code": e.code, "message": str(e)}}, e.status
        page = render_template("triage.html", job=None, levels=LEVELS, chosen=chosen, message=str(e))
        return page, e.status
    url = url_for("triage.job", job_id=job.id)
    if request.accept_mimetypes.best == "application/json":
        return {"id": job.id, "url": url, "status_url": url_for("triage.status", job_id=job.id)}, 202
    return redirect(url, code=303)


def _work(kb: KnowledgeBase, data: bytes | str, options: TriageOptions, site: Origin) -> Callable[[Job], Triage]:
    who = replace(site, channel="triage")  # the query log counts a triage's gaps apart from searches

    def work(job: Job) -> Triage:
        return kb.triage(
            data, options, origin=who, progress=job.progress, limit=MAX_HTTP_BYTES, wait=None, budget=BUDGET
        )

    return work


@bp.get("/triage/<job_id>")
def job(job_id: str) -> Any:
    j = _jobs().get(job_id, site_session())
    return render_template("triage.html", job=j, levels=LEVELS, chosen="error,warn", message=None)


@bp.get("/triage/<job_id>/status")
def status(job_id: str) -> Any:
    return _jobs().get(job_id, site_session()).status()
