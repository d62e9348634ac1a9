"""Where the problem shows up: alert webhooks (Alertmanager, Grafana) and chat commands (Slack,
Mattermost) under /api/v1/hooks. Each route checks who is calling, reads the body and makes one
call into the core (kb/alert_answers.py, KnowledgeBase.search / feedback).

The alert hook keeps Alertmanager's retry contract: 2xx is done, 5xx is retried, every 4xx is
dropped; so bad auth is 401, a body that is not a notification 400, 503 only while no index is
loaded, and never 429 (the rate limit skips hooks). The chat hooks verify their own secret (the
bearer token does not apply to them) and answer 404 while it is not configured.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, Flask, current_app, jsonify, request
from prometheus_client import Counter

from kb.alert_answers import AlertDesk
from kb.alerts import parse_payload
from kb.chat import RESULTS, mattermost_message, mattermost_text, parse_vote, slack_message, slack_text
from kb.chat_reply import Replier
from kb.config import Settings
from kb.core import KnowledgeBase
from kb.errors import BadQuery, KBError, NotFound
from kb.forward import Forwarder
from kb.journal import Origin
from kb.outbound import OUTCOMES, Post, Poster
from kb.seen import Memory, SharedSeen
from kb.signing import SlackVerifier, verify_mattermost
from kb.web.origins import origin

log = logging.getLogger("kb.web")
bp = Blueprint("hooks", __name__, url_prefix="/api/v1/hooks")
USAGE = "Paste an error after the command, e.g. `/kb FATAL: remaining connection slots are reserved`"


@dataclass
class Hooks:
    """What the hooks keep between requests (one per app)."""

    kb: KnowledgeBase
    desk: AlertDesk
    poster: Poster
    replier: Replier
    forwarder: Forwarder | None
    slack: SlackVerifier | None
    mattermost_token: str | None
    public_url: str | None
    alerts: Any  # kb_hook_alerts_total{source, status, match}


def init_app(app: Flask, settings: Settings) -> None:
    kb: KnowledgeBase = app.extensions["kb"]
    registry = app.extensions["kb_metrics"].values  # None under `kb serve --workers` (shared files)
    posts = {
        kind: Counter(name, text, ["outcome"], registry=registry)
        for kind, name, text in (
            ("forward", "kb_forward_messages", "Alert answers posted to KB_FORWARD_URL, by outcome"),
            ("reply", "kb_chat_replies", "Chat answers posted to a command's response_url, by outcome"),
        )
    }
    for counter in posts.values():
        for outcome in OUTCOMES:
            counter.labels(outcome)  # shown at 0 from the start
    duplicates = Counter(
        "kb_forward_duplicates", "Alerts not forwarded again (same fingerprint and startsAt)", registry=registry
    )
    poster = Poster(observe=lambda kind, outcome: posts[kind].labels(outcome).inc())
    shared = settings.run_dir / "seen.sqlite" if settings.run_dir else None  # kb serve --workers N

    def memory(kind: str, size: int) -> Memory | None:
        return SharedSeen(shared, kind, size) if shared else None

    forwarder = None
    if settings.forward_url:
        forwarded = memory("forwarded", 50_000)
        forwarder = Forwarder(settings.forward_url, poster, on_duplicate=duplicates.inc, forwarded=forwarded)
    secret = settings.slack_signing_secret
    hooks = Hooks(
        kb=kb,
        desk=AlertDesk(kb, logged=memory("logged", 50_000)),
        poster=poster,
        replier=Replier(poster),
        forwarder=forwarder,
        slack=SlackVerifier(secret, accepted=memory("slack", 10_000)) if secret else None,
        mattermost_token=settings.mattermost_token,
        public_url=settings.public_url,
        alerts=Counter(
            "kb_hook_alerts",
            "Alerts received by the alert hook (match: unsearched when resolved, empty or over the cap)",
            ["source", "status", "match"],
            registry=registry,
        ),
    )
    app.extensions["kb_hooks"] = hooks
    app.register_blueprint(bp)


def _counted(channel: str) -> Any:
    """Counts a chat search on /metrics as the API counts its own (from the worker thread too)."""
    m = current_app.extensions["kb_metrics"]

    def count(match: str) -> None:
        m.searches.labels(match, channel).inc()
        if match == "none":
            m.no_match.inc()

    return count


def _hooks() -> Hooks:
    hooks: Hooks = current_app.extensions["kb_hooks"]
    return hooks


def _base(hooks: Hooks) -> str:
    """Where people reach kb, for links: KB_PUBLIC_URL, else the URL this request came to."""
    return (hooks.public_url or request.host_url).rstrip("/")


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except RecursionError:
        raise BadQuery("the JSON body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise BadQuery(f"the body is not valid JSON ({e})") from None


def _form(raw: bytes) -> dict[str, str]:
    """A slash command's form body; BadQuery (400) for one that is not a form."""
    if request.mimetype not in ("application/x-www-form-urlencoded", ""):
        raise BadQuery("send the command as a form (application/x-www-form-urlencoded), as Slack and Mattermost do")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw), max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as e:
        raise BadQuery(f"the body is not a valid form ({e})") from None
    return dict(pairs)


@bp.post("/alertmanager")
def alertmanager() -> Any:
    hooks = _hooks()
    group = parse_payload(_json(request.get_data(cache=True)))
    answer = hooks.desk.answer(group, _base(hooks), origin(group.source))
    for a in answer.alerts:  # a status as sent would be one series per invented word: /metrics without bound
        status = a.alert.status if a.alert.status in ("firing", "resolved") else "other"
        hooks.alerts.labels(group.source, status, a.match if a.searched else "unsearched").inc()
    if hooks.forwarder is not None:
        try:
            hooks.forwarder.forward(answer)
        except Exception:  # noqa: BLE001 - a forward never turns into a 5xx that Alertmanager would retry
            log.exception("could not forward the answer to %d alerts", len(answer.alerts))
            hooks.poster.record("forward", "failed")
    return jsonify(answer.to_dict())


def _id(value: object) -> str:
    """The `id` of a Slack payload's `user`, `team` or `channel` object."""
    return str(value.get("id", "")) if isinstance(value, dict) else ""


def _chat_origin(form: dict[str, str], channel: str) -> Origin:
    team, user = form.get("team_id", "")[:64], form.get("user_id", "")[:64]
    return Origin(channel, f"{channel}:{team}:{user}", f"{channel}:{team}:{form.get('channel_id', '')[:64]}:{user}")


@bp.post("/slack")
def slack() -> Any:
    hooks = _hooks()
    raw = _signed_by_slack(hooks)
    form = _form(raw)
    text = form.get("text", "").strip()
    if not text:
        return slack_text(USAGE)
    return _answer_command(hooks, form, text, "slack", slack_message, slack_text)


@bp.post("/slack/actions")
def slack_actions() -> Any:
    hooks = _hooks()
    raw = _signed_by_slack(hooks)
    payload = _json(_form(raw).get("payload", "").encode())
    if not isinstance(payload, dict):
        raise BadQuery("`payload` must be Slack's interaction JSON object")
    ids = {f"{key}_id": _id(payload.get(key)) for key in ("team", "user", "channel")}
    who = _chat_origin(ids, "slack")
    said = []
    actions = payload.get("actions")
    for action in actions if isinstance(actions, list) else []:
        try:
            vote, query, article = parse_vote(action)
        except BadQuery:
            continue  # another app's button
        try:
            hooks.kb.feedback(query, article, vote, who)
            said.append("Thanks: kb will rank it " + ("first" if vote == "solved" else "lower") + " for this problem.")
        except KBError as e:
            said.append(f"kb could not record the vote: {e}")
    if not said:
        return slack_text("kb: nothing to record")
    message = slack_text(" ".join(said))
    url = payload.get("response_url")
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        hooks.poster.submit(Post("reply", url, message))
    return message


@bp.post("/mattermost")
def mattermost() -> Any:
    hooks = _hooks()
    if hooks.mattermost_token is None:
        raise NotFound("the Mattermost hook is off: set KB_MATTERMOST_TOKEN to the slash command's token")
    header = request.headers.get("Authorization")
    if header and header.lower().startswith("token "):  # a wrong token is refused before the body is read
        verify_mattermost(hooks.mattermost_token, None, header)
    form = _form(request.get_data(cache=True))
    verify_mattermost(hooks.mattermost_token, form.get("token"), header)
    text = form.get("text", "").strip()
    if not text:
        return mattermost_text(USAGE.replace("/kb", form.get("command") or "/kb"))
    return _answer_command(hooks, form, text, "mattermost", mattermost_message, mattermost_text)


def _signed_by_slack(hooks: Hooks) -> bytes:
    """The request's body, once its Slack signature is verified (404 while the hook is off)."""
    if hooks.slack is None:
        raise NotFound("the Slack hook is off: set KB_SLACK_SIGNING_SECRET to the Slack app's signing secret")
    raw = request.get_data(cache=True)
    hooks.slack.verify(request.headers.get("X-Slack-Request-Timestamp"), request.headers.get("X-Slack-Signature"), raw)
    return raw


def _answer_command(
    hooks: Hooks,
    form: dict[str, str],
    text: str,
    channel: str,
    message: Callable[..., dict[str, Any]],
    plain: Callable[[str], dict[str, Any]],
) -> Any:
    """A slash command's search, answered at once when it is quick, else acknowledged and answered
    at `response_url` (kb/chat_reply.py); `message` renders a response, `plain` a line of text."""
    kb, base, who, count = hooks.kb, _base(hooks), _chat_origin(form, channel), _counted(channel)

    def work() -> dict[str, Any]:
        response = kb.search(text, k=RESULTS, origin=who)
        count(response.match)
        draft = kb.draft(text).command if response.match == "none" and response.novel else None
        return message(response, text, base, draft)

    ack = plain("Searching kb... the answer follows in a few seconds.")
    return hooks.replier.reply(work, lambda e: plain(f"kb could not search: {e}"), ack, form.get("response_url"))
