"""The forward (KB_FORWARD_URL): one message per alert notification, posted to a Slack-compatible
incoming webhook (Mattermost's take the same JSON), with each newly firing alert, the best article
for it with its confidence, root cause and fix, and a link.

The message uses `text` and `attachments`, which Slack and Mattermost both render (Mattermost
ignores Block Kit `blocks`), in plain words with no markup of either's own. An alert is forwarded
once per firing (fingerprint + startsAt): a repeat notification of the same group posts nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kb.alert_answers import AlertAnswer, GroupAnswer
from kb.outbound import Post, Poster
from kb.seen import Memory, Seen

MAX_ATTACHMENTS = 20  # alerts shown in one message; the rest are counted
MAX_SUMMARY = 600  # characters of a root cause or fix
COLORS = {"exact": "#2eb67d", "strong": "#2eb67d", "possible": "#ecb22e", "weak": "#9e9e9e", "none": "#9e9e9e"}


def escape(text: str) -> str:
    """Slack's three escapes (Mattermost renders them as the characters)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str | None, limit: int = MAX_SUMMARY) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + " …"


def _where(a: AlertAnswer) -> str:
    labels = a.alert.labels
    parts = [labels[k] for k in ("namespace", "service", "job", "instance", "pod") if labels.get(k)]
    return " · ".join(parts)


def attachment(a: AlertAnswer) -> dict[str, Any]:
    """One alert and kb's best article for it."""
    name = a.alert.name or "alert"
    summary = a.alert.annotations.get("summary") or a.alert.annotations.get("description") or ""
    where = _where(a)
    heading = f"{name} ({where})" if where else name
    best = a.best
    if best is None or a.match == "none":
        hint = f'This looks new: write it up with `kb new known-issue "{name}" --from-query -`'
        return {
            "color": COLORS["none"],
            "fallback": escape(f"{heading}: no good match in kb"),
            "title": escape(f"{heading}: no good match in kb"),
            "text": escape("\n".join(t for t in (_cut(summary), hint) if t)),
            "footer": "kb",
        }
    match = "exact (the alert names this article)" if best.exact else f"{best.confidence} {best.score:.2f}"
    fields = [
        {"title": "Alert", "value": escape(heading), "short": True},
        {"title": "Match", "value": match, "short": True},
    ]
    for title, value in (("Root cause", best.root_cause), ("Fix", best.resolution)):
        if value:
            fields.append({"title": title, "value": escape(_cut(value)), "short": False})
    return {
        "color": COLORS.get(a.match, COLORS["none"]),
        "fallback": escape(f"{heading}: {best.title} ({match}) {best.url}"),
        "title": escape(best.title),
        "title_link": best.url,
        "text": escape(_cut(summary)),
        "fields": fields,
        "footer": "kb",
    }


def message(answer: GroupAnswer, alerts: list[AlertAnswer]) -> dict[str, Any]:
    """The message for the alerts of a notification that are new."""
    group = answer.group
    shown = alerts[:MAX_ATTACHMENTS]
    text = f"[FIRING:{len(alerts)}] {group.title}"
    matched = sum(1 for a in alerts if a.match != "none")
    text += f" - kb has an answer for {matched} of {len(alerts)}" if len(alerts) > 1 else ""
    if len(alerts) > len(shown):
        text += f" ({len(alerts) - len(shown)} more not shown)"
    return {"text": escape(text), "attachments": [attachment(a) for a in shown]}


class Forwarder:
    """Posts each notification's newly firing, searched alerts to KB_FORWARD_URL, once."""

    def __init__(
        self,
        url: str,
        poster: Poster,
        on_duplicate: Callable[[], None] | None = None,
        forwarded: Memory | None = None,
    ) -> None:
        self.url = url
        self.poster = poster
        self.forwarded = forwarded if forwarded is not None else Seen()  # alert keys posted or being posted
        self.on_duplicate = on_duplicate  # told of each alert not posted again (/metrics)

    def forward(self, answer: GroupAnswer) -> int:
        """Queue the message (nothing when no alert is new); how many alerts it holds."""
        fresh = []
        for a in answer.alerts:
            if a.alert.status != "firing" or not a.searched:
                continue
            if self.forwarded.add(a.alert.key):
                fresh.append(a)
            elif self.on_duplicate is not None:
                self.on_duplicate()
        if not fresh:
            return 0
        keys = [a.alert.key for a in fresh]

        def failed() -> None:  # not sent: the next notification of these alerts tries again
            for key in keys:
                self.forwarded.discard(key)

        self.poster.submit(Post("forward", self.url, message(answer, fresh), on_failed=failed))
        return len(fresh)
