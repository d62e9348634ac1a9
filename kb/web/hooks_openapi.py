"""The hooks' part of the OpenAPI document (kb/web/openapi.py merges it): the alert webhook's
payload and answer, and the chat commands' forms and messages."""

from __future__ import annotations

from typing import Any

from kb.alert_answers import RESULTS

_STR = {"type": "string"}
_NULLABLE_STR = {"type": ["string", "null"]}
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _form(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": _ref(name)}}}


HOOK_SCHEMAS: dict[str, Any] = {
    "AlertNotification": {
        "type": "object",
        "description": "Alertmanager's webhook payload (version 4) or Grafana alerting's (version 1). Also read: "
        "commonLabels, commonAnnotations, externalURL, Grafana's orgId, state, title and message, and per alert "
        "generatorURL, values, valueString, silenceURL, dashboardURL, panelURL; unknown keys are ignored and no "
        "version is required",
        "required": ["alerts"],
        "properties": {
            "version": _STR,
            "status": _STR,
            "receiver": _STR,
            "groupKey": _STR,
            "truncatedAlerts": {"type": "integer", "minimum": 0},
            "groupLabels": _STRINGS,
            "alerts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "status": _STR,
                        "labels": _STRINGS,
                        "annotations": _STRINGS,
                        "startsAt": _STR,
                        "endsAt": _STR,
                        "fingerprint": _STR,
                    },
                },
            },
        },
    },
    "AlertResult": {
        "type": "object",
        "required": ["id", "title", "url", "confidence", "score", "root_cause", "resolution"],
        "properties": {
            "id": _STR,
            "title": _STR,
            "url": {**_STR, "description": "the article's page, absolute"},
            "confidence": {"enum": ["strong", "possible", "weak"]},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "root_cause": _NULLABLE_STR,
            "resolution": _NULLABLE_STR,
            "exact": {"type": "boolean", "description": "the alert names this article, or the article names the alert"},
        },
    },
    "AlertAnswer": {
        "type": "object",
        "required": ["fingerprint", "alertname", "status", "query", "match", "searched", "results"],
        "properties": {
            "fingerprint": _STR,
            "alertname": _STR,
            "status": _STR,
            "query": {
                **_STR,
                "description": "what was searched: alertname, summary, description, service/namespace/job",
            },
            "match": {"enum": ["exact", "strong", "possible", "weak", "none"]},
            "searched": {"type": "boolean", "description": "false for resolved alerts and alerts without text"},
            "note": {**_STR, "description": "why the alert was not searched"},
            "results": {"type": "array", "maxItems": RESULTS, "items": _ref("AlertResult")},
        },
    },
    "AlertHookResponse": {
        "type": "object",
        "required": ["alerts", "searches", "took_ms"],
        "properties": {
            "alerts": {"type": "array", "items": _ref("AlertAnswer")},
            "searches": {"type": "integer", "minimum": 0, "description": "distinct searches made (one batch)"},
            "took_ms": {"type": "number", "minimum": 0},
        },
    },
    "SlashCommand": {
        "type": "object",
        "description": "Slack's or Mattermost's slash command request; `token` is Mattermost's",
        "properties": {
            name: _STR
            for name in (
                "text",
                "command",
                "response_url",
                "trigger_id",
                "user_id",
                "user_name",
                "team_id",
                "team_domain",
                "channel_id",
                "channel_name",
                "token",
            )
        },
    },
    "SlackInteraction": {
        "type": "object",
        "required": ["payload"],
        "properties": {"payload": {**_STR, "description": "Slack's block_actions JSON"}},
    },
    "ChatMessage": {
        "type": "object",
        "required": ["response_type", "text"],
        "properties": {
            "response_type": {"enum": ["ephemeral", "in_channel"]},
            "text": _STR,
            "blocks": {"type": "array", "items": {"type": "object"}, "description": "Slack Block Kit"},
            "replace_original": {"type": "boolean"},
        },
    },
}

_ERRORS = {
    str(code): _json("Error", text)
    for code, text in (
        (400, "the body is not a notification / a form (malformed JSON, `alerts` missing)"),
        (401, "wrong or missing bearer token, Slack signature or Mattermost token (nothing is searched)"),
        (404, "this chat hook is not configured (KB_SLACK_SIGNING_SECRET, KB_MATTERMOST_TOKEN)"),
        (413, "body over 1 MiB"),
        (500, "internal error"),
        (503, "no index loaded yet: Alertmanager retries"),
    )
}
_EXAMPLE = {
    "version": "4",
    "status": "firing",
    "receiver": "kb",
    "groupKey": '{}:{alertname="KubePodCrashLooping"}',
    "groupLabels": {"alertname": "KubePodCrashLooping"},
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "KubePodCrashLooping", "namespace": "prod", "service": "orders"},
            "annotations": {"summary": "Pod prod/orders-api-7d9f8b-x2kqp is in CrashLoopBackOff"},
            "startsAt": "2026-12-02T01:00:00Z",
            "fingerprint": "a1b2c3d4e5f60718",
        }
    ],
}
_SLACK_HEADERS = [
    {"name": "X-Slack-Request-Timestamp", "in": "header", "schema": _STR},
    {"name": "X-Slack-Signature", "in": "header", "schema": _STR, "description": "v0=HMAC-SHA256"},
]


def hook_paths() -> dict[str, Any]:
    """The hooks' paths of the OpenAPI document."""
    chat_errors = {k: v for k, v in _ERRORS.items() if k != "503"}
    return {
        "/api/v1/hooks/alertmanager": {
            "post": {
                "operationId": "alertHook",
                "summary": "Alertmanager / Grafana webhook: the best articles for each firing alert",
                "description": "All alerts of a notification are searched in one batch; resolved alerts are "
                "acknowledged, not searched. With KB_FORWARD_URL the answer is also posted to chat, once per "
                "firing. Never 429; 503 only while no index is loaded.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("AlertNotification"), "example": _EXAMPLE}},
                },
                "responses": {"200": _json("AlertHookResponse", "each alert's answer"), **_ERRORS},
            }
        },
        "/api/v1/hooks/slack": {
            "post": {
                "operationId": "slackCommand",
                "summary": "Slack slash command (`/kb <paste>`), signed with the app's signing secret",
                "security": [{}],
                "parameters": _SLACK_HEADERS,
                "requestBody": _form("SlashCommand"),
                "responses": {"200": _json("ChatMessage", "an ephemeral Block Kit answer"), **chat_errors},
            }
        },
        "/api/v1/hooks/slack/actions": {
            "post": {
                "operationId": "slackActions",
                "summary": "Slack buttons: 'This solved it' / 'Not relevant' record a vote",
                "security": [{}],
                "parameters": _SLACK_HEADERS,
                "requestBody": _form("SlackInteraction"),
                "responses": {"200": _json("ChatMessage", "the vote is recorded"), **chat_errors},
            }
        },
        "/api/v1/hooks/mattermost": {
            "post": {
                "operationId": "mattermostCommand",
                "summary": "Mattermost slash command, with its token in the form and in `Authorization: Token ...`",
                "security": [{}],
                "requestBody": _form("SlashCommand"),
                "responses": {"200": _json("ChatMessage", "an ephemeral Markdown answer"), **chat_errors},
            }
        },
    }
