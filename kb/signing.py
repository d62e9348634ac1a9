"""Who may call the chat hooks: Slack's signed requests (`v0=` HMAC-SHA256 of
`v0:{timestamp}:{raw body}` with the app's signing secret, a timestamp under 5 minutes old, each
signature accepted once) and Mattermost's slash-command token. Every failure is Unauthorized
(401) and is checked before anything is parsed or searched."""

from __future__ import annotations

import hashlib
import hmac
import re
import time

from kb.errors import Unauthorized
from kb.seen import Memory, Seen

MAX_AGE = 300  # seconds a signed request stays valid (Slack's own advice)
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Slack-Signature` Slack sends for this body at this timestamp."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class SlackVerifier:
    """Checks Slack's signatures, and refuses a signature it has accepted before (a replay)."""

    def __init__(self, secret: str, max_age: float = MAX_AGE, accepted: Memory | None = None) -> None:
        self.secret = secret
        self.max_age = max_age
        # Signatures accepted: a replay older than max_age is refused by its timestamp, so the
        # memory needs only the last few minutes' (10,000 is 33 commands a second for 5 minutes).
        self.accepted = accepted if accepted is not None else Seen(10_000)

    def verify(self, timestamp: str | None, signature: str | None, body: bytes, now: float | None = None) -> None:
        """Unauthorized unless the request is signed with the secret, recent, and new."""
        now = time.time() if now is None else now
        if not timestamp or not signature:
            raise Unauthorized("not signed by Slack: X-Slack-Request-Timestamp and X-Slack-Signature are required")
        if not _TIMESTAMP.fullmatch(timestamp):
            raise Unauthorized("X-Slack-Request-Timestamp is not a Unix time in seconds")
        if abs(now - int(timestamp)) > self.max_age:
            raise Unauthorized(
                "the signed request is more than 5 minutes old (or a clock is wrong): refused as a replay"
            )
        expected = slack_signature(self.secret, timestamp, body)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise Unauthorized("the Slack signature does not match this request (check KB_SLACK_SIGNING_SECRET)")
        if not self.accepted.add(signature):
            raise Unauthorized("this signed request was received before: refused as a replay")


def verify_mattermost(expected: str, form_token: str | None, authorization: str | None) -> None:
    """Unauthorized unless the command's token (in the form, in `Authorization: Token ...`, or
    both) is the configured one; every token given must be."""
    given = []
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() == "token":
        given.append(value.strip())
    if form_token is not None:
        given.append(form_token)
    if not given or not all(hmac.compare_digest(g.encode(), expected.encode()) for g in given):
        raise Unauthorized("missing or wrong Mattermost token (the command's token is KB_MATTERMOST_TOKEN)")
