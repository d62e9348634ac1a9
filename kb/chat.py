"""kb's answers as chat messages: Slack Block Kit (ephemeral, with "This solved it" / "Not
relevant" buttons whose values carry the search and the article) and Mattermost Markdown (always
with a `response_type`). Both show the best matches with their confidence, root cause, fix and a
link, or say honestly that nothing matched and give the `kb new` command that writes it up."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from kb.errors import BadQuery
from kb.results import Response, Result

RESULTS = 3  # matches a chat answer shows
MAX_SUMMARY = 600  # characters of a root cause or fix
MAX_VALUE = 2000  # Slack's limit for a button's value
MAX_LINK_QUERY = 1500  # characters of the paste in an "open in kb" link
VOTES = {"kb_solved": "solved", "kb_not_relevant": "not_relevant"}  # button action ids


def _esc(text: str) -> str:
    """Slack's mrkdwn escapes."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str | None, limit: int = MAX_SUMMARY) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + " …"


def _short(query: str, limit: int = 80) -> str:
    return _cut(query.replace("`", "'"), limit)


def _results(n: int) -> str:
    return "1 result" if n == 1 else f"{n} results"


def open_link(base: str, query: str) -> str:
    """The results page of this search on the site (where every result has its vote buttons)."""
    return f"{base}/search?q={quote(query[:MAX_LINK_QUERY])}"


def vote_value(query: str, article_id: str) -> str:
    """A button's value: the search and the article, within Slack's 2,000 characters."""
    room = MAX_VALUE - len(json.dumps({"q": "", "a": article_id}))
    q = query[: max(room, 0)]
    while len(json.dumps({"q": q, "a": article_id})) > MAX_VALUE:  # escapes make JSON longer than the text
        q = q[: len(q) * 9 // 10]
    return json.dumps({"q": q, "a": article_id})


def parse_vote(action: object) -> tuple[str, str, str]:
    """(vote, query, article id) of a Slack button action; BadQuery for anything else."""
    if not isinstance(action, dict) or action.get("action_id") not in VOTES:
        raise BadQuery("not a kb vote button")
    try:
        value = json.loads(str(action.get("value") or ""))
    except ValueError:
        raise BadQuery("the button's value is not kb's") from None
    if not isinstance(value, dict) or not isinstance(value.get("q"), str) or not isinstance(value.get("a"), str):
        raise BadQuery("the button's value is not kb's")
    return VOTES[str(action["action_id"])], value["q"], value["a"]


def _result_text(r: Result, base: str, n: int) -> str:
    title = _esc(r.title).replace("|", "-")
    lines = [f"*{n}. <{base}{r.url}|{title}>*  `{r.confidence} {r.score:.2f}`"]
    lines.append(_esc(" · ".join([r.type, ", ".join(r.services) or "-"])))
    for label, value in (("Root cause", r.root_cause), ("Fix", r.resolution)):
        if value:
            lines.append(f"*{label}:* {_esc(_cut(value))}")
    return "\n".join(lines)


def slack_message(response: Response, query: str, base: str, draft: str | None = None) -> dict[str, Any]:
    """An ephemeral Block Kit answer to a slash command."""
    results = response.results[:RESULTS]
    blocks: list[dict[str, Any]] = []
    if response.match == "none":
        head = "*No good match in the knowledge base.*"
        if draft:
            head += f" This looks new: write it up with `{_esc(draft)}`"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": head}})
        if results:
            misses = ", ".join(f"<{base}{r.url}|{_esc(r.title).replace('|', '-')}> ({r.score:.2f})" for r in results)
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Nearest misses: {misses}"}]})
        fallback = "kb: no good match"
    else:
        intro = f"*match: {response.match}* - {_results(len(results))} for `{_esc(_short(query))}`"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": intro}})
        for n, r in enumerate(results, 1):
            blocks.append({"type": "divider"})
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _result_text(r, base, n)}})
            value = vote_value(query, r.id)
            blocks.append(
                {
                    "type": "actions",
                    "block_id": f"kb_vote_{n}",
                    "elements": [
                        _button("This solved it", "kb_solved", value, "primary"),
                        _button("Not relevant", "kb_not_relevant", value),
                    ],
                }
            )
        fallback = f"kb: {results[0].title} ({results[0].confidence} {results[0].score:.2f})"
    link = f"<{open_link(base, query)}|Open this search in kb>"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": link}]})
    return {"response_type": "ephemeral", "text": _esc(fallback), "blocks": blocks}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button = {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id, "value": value}
    return {**button, "style": style} if style else button


def slack_text(text: str) -> dict[str, Any]:
    """A plain ephemeral Slack reply (usage, a wait, a failure, a recorded vote)."""
    return {"response_type": "ephemeral", "replace_original": False, "text": _esc(text)}


def _md(text: str) -> str:
    """Markdown link text without the characters that would end or restyle it."""
    return text.replace("[", "(").replace("]", ")").replace("*", "\\*").replace("_", "\\_")


def mattermost_message(response: Response, query: str, base: str, draft: str | None = None) -> dict[str, Any]:
    """An ephemeral Markdown answer to a Mattermost slash command."""
    results = response.results[:RESULTS]
    lines: list[str] = []
    if response.match == "none":
        lines.append("**No good match in the knowledge base.**" + (f" This looks new: `{draft}`" if draft else ""))
        if results:
            lines.append("Nearest misses: " + ", ".join(f"[{_md(r.title)}]({base}{r.url})" for r in results))
    else:
        lines.append(f"kb: match **{response.match}** - {_results(len(results))} for `{_short(query)}`")
        for n, r in enumerate(results, 1):
            lines += ["", f"**{n}. [{_md(r.title)}]({base}{r.url})** - {r.confidence} {r.score:.2f}"]
            lines.append(" · ".join([r.type, ", ".join(r.services) or "-"]))
            for label, value in (("Root cause", r.root_cause), ("Fix", r.resolution)):
                if value:
                    lines.append(f"**{label}:** {_cut(value)}")
    lines += ["", f"[Open this search in kb]({open_link(base, query)}) (vote there: This solved it / Not relevant)"]
    return {"response_type": "ephemeral", "text": "\n".join(lines)}


def mattermost_text(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}
