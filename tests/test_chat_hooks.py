"""Slack and Mattermost slash commands with requests signed by the test itself (HMAC-SHA256 over
`v0:{timestamp}:{body}`, computed here, not by kb): ephemeral answers with root cause, fix and
link, the buttons recording votes, and every unsigned, tampered, replayed, stale or malformed
request refused with a 401 before anything is searched."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from dataclasses import replace
from urllib.parse import urlencode

import jsonschema
import pytest

from kb.config import Settings
from kb.web import create_app
from kb.web.openapi import spec

from .alerting import receiver
from .conftest import FIXTURE_KB

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
MM_TOKEN = "xr3j5x3p4pfjpq3yqc8ddpzwgc"
SLACK = "/api/v1/hooks/slack"
ACTIONS = "/api/v1/hooks/slack/actions"
MATTERMOST = "/api/v1/hooks/mattermost"
TLS = "x509: certificate has expired or is not yet valid: current time 2025-10-05T06:00:03Z is after 2025-10-04"
SPEC = spec()


def assert_schema(data, name):
    schema = {"$ref": f"#/components/schemas/{name}", "components": SPEC["components"]}
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)


_TRIGGERS = itertools.count(738474920)


def command(text: str, **extra: str) -> dict[str, str]:
    return {
        "token": "legacy-verification-token",
        "team_id": "T0001",
        "team_domain": "acme",
        "channel_id": "C2147483705",
        "channel_name": "incidents",
        "user_id": "U2147483697",
        "user_name": "oncall",
        "command": "/kb",
        "text": text,
        "trigger_id": f"13345224609.{next(_TRIGGERS)}.8088930838d88f008e0",  # Slack's is new each time
        **extra,
    }


def signed(client, path, body: bytes, secret: str = SECRET, ts: str | None = None, send: bytes | None = None):
    """POST `send` (default: `body`) with Slack's headers for `body` signed with `secret` at `ts`."""
    ts = str(int(time.time())) if ts is None else ts
    signature = "v0=" + hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}
    return client.post(path, data=send if send is not None else body, headers=headers, content_type=FORM)


FORM = "application/x-www-form-urlencoded"


@pytest.fixture(scope="module")
def chat(built_index, tmp_path_factory):
    """One app for the module (loading an index costs ~1 s), with kb's bearer token set too: the
    chat hooks need their own secret, never the token."""
    data = tmp_path_factory.mktemp("chat-var")
    settings = Settings(articles=FIXTURE_KB, index=built_index, data=data, reload_interval=0.0, api_token="s3cret")
    app = create_app(replace(settings, slack_signing_secret=SECRET, mattermost_token=MM_TOKEN), {"TESTING": True})
    # Load the index and the model now (not logged: no origin): a first slash command would
    # otherwise pass the 2 s answer window on a busy machine and be answered later instead.
    app.extensions["kb"].search(TLS)
    return app, app.test_client()


def _searches(app, channel: str | None = None) -> list:
    kb = app.extensions["kb"]
    assert kb.flush()
    journal = kb.journal(create=False)
    found = list(journal.searches(0.0)) if journal else []
    return [s for s in found if channel is None or s.channel == channel]


def test_chat_hooks_are_404_until_their_secret_is_set(tmp_path):
    client = create_app(Settings(index=tmp_path / "none", data=tmp_path / "var"), {"TESTING": True}).test_client()
    for path in (SLACK, ACTIONS, MATTERMOST):
        resp = client.post(path, data=urlencode(command(TLS)), content_type=FORM)
        assert resp.status_code == 404 and resp.json["error"]["code"] == "not_found"
        assert (
            "KB_SLACK_SIGNING_SECRET" in resp.json["error"]["message"]
            or "KB_MATTERMOST_TOKEN" in resp.json["error"]["message"]
        )


def test_a_signed_slash_command_gets_an_ephemeral_block_kit_answer(chat):
    app, client = chat
    resp = signed(client, SLACK, urlencode(command(TLS)).encode())
    assert resp.status_code == 200
    assert_schema(resp.json, "ChatMessage")
    msg = resp.json
    assert msg["response_type"] == "ephemeral"
    assert msg["text"].startswith("kb: TLS handshake fails")
    intro, _, best, buttons = msg["blocks"][:4]
    assert intro["text"]["text"].startswith("*match: strong*")
    text = best["text"]["text"]
    assert "<http://localhost/a/runbooks/tls-cert-expired|TLS handshake fails" in text
    assert "*Root cause:*" in text and "*Fix:*" in text
    solved, not_relevant = buttons["elements"]
    assert (solved["action_id"], not_relevant["action_id"]) == ("kb_solved", "kb_not_relevant")
    assert json.loads(solved["value"]) == {"q": TLS, "a": "runbooks/tls-cert-expired"}
    assert "Open this search in kb" in msg["blocks"][-1]["elements"][0]["text"]
    logged = _searches(app, "slack")[-1]
    assert logged.query.startswith("x509: certificate has expired") and logged.top_ids[0] == "runbooks/tls-cert-expired"
    metrics = client.get("/metrics", headers={"Authorization": "Bearer s3cret"}).data.decode()
    assert 'kb_searches_total{channel="slack",match="strong"}' in metrics


def test_no_good_match_is_said_honestly_with_the_kb_new_command(chat):
    _, client = chat
    resp = signed(client, SLACK, urlencode(command("How do I bake sourdough bread at home?")).encode())
    head = resp.json["blocks"][0]["text"]["text"]
    assert head.startswith("*No good match in the knowledge base.*")
    assert "kb new known-issue" in head and "--from-query -" in head
    assert not [b for b in resp.json["blocks"] if b["type"] == "actions"]  # nothing to vote on


def test_an_empty_command_says_how_to_use_it(chat):
    _, client = chat
    resp = signed(client, SLACK, urlencode(command("  ")).encode())
    assert resp.status_code == 200 and "Paste an error after the command" in resp.json["text"]


def test_unsigned_tampered_replayed_stale_and_garbled_requests_are_401_and_never_search(chat):
    app, client = chat
    body = urlencode(command(TLS, channel_id="C-refused")).encode()
    now = int(time.time())
    before = len(_searches(app))
    refused = [
        client.post(SLACK, data=body, content_type=FORM),  # unsigned
        signed(client, SLACK, body, send=body.replace(b"x509", b"x510")),  # tampered
        signed(client, SLACK, body, secret="not-the-secret"),  # another app's secret
        signed(client, SLACK, body, ts=str(now - 301)),  # older than 5 minutes
        signed(client, SLACK, body, ts=str(now + 301)),  # from the future
        signed(client, SLACK, body, ts="12abc"),  # not a number: 401, not 500
        signed(client, SLACK, body, ts="1_700_000_000"),  # Python would read it; Slack never sends it
        client.post(
            SLACK,
            data=body,
            content_type=FORM,
            headers={"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": "v0=é"},
        ),
    ]
    for resp in refused:
        assert resp.status_code == 401 and resp.json["error"]["code"] == "unauthorized", resp.json
    assert len(_searches(app)) == before
    ts = str(now)
    first = signed(client, SLACK, body, ts=ts)
    replay = signed(client, SLACK, body, ts=ts)  # the same signed request again
    assert first.status_code == 200 and replay.status_code == 401 and "replay" in replay.json["error"]["message"]
    assert len(_searches(app)) == before + 1


def test_a_signed_request_that_is_not_a_form_is_a_400(chat):
    _, client = chat
    ts = str(int(time.time()))
    for body, content_type in ((b'{"text": "disk full"}', "application/json"), (b"text&&=%%", FORM)):
        sig = "v0=" + hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
        resp = client.post(
            SLACK,
            data=body,
            content_type=content_type,
            headers={"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig},
        )
        assert resp.status_code == 400 and resp.json["error"]["code"] == "bad_query"


def _actions(value: str, action_id: str = "kb_solved", response_url: str = "") -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": "U2147483697", "username": "oncall"},
        "team": {"id": "T0001"},
        "channel": {"id": "C2147483705"},
        "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": "kb_vote_1", "value": value, "type": "button"}],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_the_buttons_record_votes_and_confirm_at_the_response_url(chat):
    app, client = chat
    answer = signed(client, SLACK, urlencode(command(TLS)).encode()).json
    value = answer["blocks"][3]["elements"][0]["value"]
    with receiver() as slack:
        resp = signed(client, ACTIONS, _actions(value, response_url=slack.url))
        assert resp.status_code == 200 and resp.json["text"].startswith("Thanks")
        (confirmation,) = slack.wait(1, timeout=10)
        assert confirmation["response_type"] == "ephemeral" and confirmation["text"] == resp.json["text"]
    journal = app.extensions["kb"].journal()
    assert [(v.article_id, v.vote) for v in journal.votes()] == [("runbooks/tls-cert-expired", "solved")]
    signed(client, ACTIONS, _actions(value, "kb_not_relevant"))  # the same user changes their mind
    assert [(v.article_id, v.vote) for v in journal.votes()] == [("runbooks/tls-cert-expired", "not_relevant")]
    vote = list(journal.vote_rows(0.0))[-1]
    assert vote.query.startswith("x509: certificate has expired")  # keyed by the problem that was searched
    gone = signed(client, ACTIONS, _actions(json.dumps({"q": TLS, "a": "runbooks/deleted-since"})))
    assert gone.status_code == 200 and "could not record the vote" in gone.json["text"]
    assert client.post(ACTIONS, data=_actions(value), content_type=FORM).status_code == 401  # unsigned
    assert len(journal.votes()) == 1


def test_a_slow_search_is_acknowledged_and_answered_at_the_response_url(chat):
    app, client = chat
    kb, replier = app.extensions["kb"], app.extensions["kb_hooks"].replier
    search = kb.search
    replier.wait = 0.05

    def slow(*args, **kwargs):
        time.sleep(0.5)
        return search(*args, **kwargs)

    kb.search = slow
    try:
        with receiver() as slack:
            resp = signed(client, SLACK, urlencode(command(TLS, response_url=slack.url)).encode())
            assert resp.status_code == 200 and resp.json["text"].startswith("Searching kb")
            (late,) = slack.wait(1, timeout=10)
    finally:
        del kb.search
        replier.wait = 2.0
    assert late["response_type"] == "ephemeral" and "tls-cert-expired" in late["blocks"][2]["text"]["text"]


def test_mattermost_answers_markdown_with_its_token_and_always_a_response_type(chat):
    app, client = chat
    before = len(_searches(app, "mattermost"))
    form = urlencode(command(TLS, token=MM_TOKEN)).encode()
    resp = client.post(MATTERMOST, data=form, content_type=FORM, headers={"Authorization": f"Token {MM_TOKEN}"})
    assert resp.status_code == 200
    assert_schema(resp.json, "ChatMessage")
    assert resp.json["response_type"] == "ephemeral"
    text = resp.json["text"]
    assert "**1. [TLS handshake fails" in text and "](http://localhost/a/runbooks/tls-cert-expired)**" in text
    assert "**Root cause:**" in text and "**Fix:**" in text
    assert client.post(MATTERMOST, data=form, content_type=FORM).status_code == 200  # the form's token alone
    usage = client.post(MATTERMOST, data=urlencode(command("", token=MM_TOKEN)), content_type=FORM)
    assert usage.json["response_type"] == "ephemeral" and "Paste an error" in usage.json["text"]
    refused = [
        client.post(MATTERMOST, data=urlencode(command(TLS, token="wrong")), content_type=FORM),
        client.post(MATTERMOST, data=form, content_type=FORM, headers={"Authorization": "Token wrong"}),
        client.post(MATTERMOST, data=urlencode({"text": TLS}), content_type=FORM),
    ]
    assert [r.status_code for r in refused] == [401, 401, 401]
    assert len(_searches(app, "mattermost")) == before + 2


def test_without_an_index_chat_says_so_in_the_chat(tmp_path):
    settings = Settings(index=tmp_path / "none", data=tmp_path / "var", mattermost_token=MM_TOKEN)
    client = create_app(settings, {"TESTING": True}).test_client()
    resp = client.post(MATTERMOST, data=urlencode(command(TLS, token=MM_TOKEN)), content_type=FORM)
    assert resp.status_code == 200 and resp.json["response_type"] == "ephemeral"
    assert resp.json["text"].startswith("kb could not search: no index yet")
