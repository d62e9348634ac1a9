"""What the journal keeps of a paste: its text with secrets masked, the key of the problem it is
(its template), a salted hash of who sent it, and its embedding in half precision."""

from __future__ import annotations

import hashlib
import re

import numpy as np

MAX_QUERY = 2000

# Secrets that pastes carry, masked before anything reaches disk. Each is linear-time.
_SECRETS = [
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"), "<aws-key>"),
    (re.compile(r"(?i)\baws_secret_access_key\s*[=:]\s*\S+"), "aws_secret_access_key=<secret>"),
    (re.compile(r"\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]{5,}"), "<jwt>"),
    (re.compile(r"(?i)\b(bearer|token|basic)\s+[A-Za-z0-9._~+/=-]{12,}"), r"\1 <secret>"),
    (
        re.compile(
            r"(?i)\b(authorization|x-api-key|api[_-]?key|apikey|secret|token|passwd|password|pwd)"
            r"(\s*[=:]\s*|\"\s*:\s*\")[^\s\"',;&]+"
        ),
        r"\1\2<secret>",
    ),
    (re.compile(r"(?i)\b(?:gh[pousr]|github_pat|glpat|xox[abpr])[-_][A-Za-z0-9_-]{10,}"), "<token>"),
    (re.compile(r"(?i)(?<![\w+.-])[a-z][a-z0-9+.-]*://[^\s:/@]+:[^\s@/]+@"), "<scheme>://<user>:<secret>@"),
    (re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), "<email>"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"), "<private-key>"),
    (re.compile(r"\b[0-9a-fA-F]{32,}\b"), "<hex>"),
    (re.compile(r"(?<![\w/+=])[A-Za-z0-9+/]{40,}={0,2}(?![\w/+=])"), "<base64>"),
]
_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")


def mask_secrets(text: str) -> str:
    """Tokens, keys, passwords, emails, private keys and long hex or base64 runs replaced by
    placeholders; what remains is cut to MAX_QUERY characters."""
    text = text[: MAX_QUERY * 4]
    for rx, repl in _SECRETS:
        text = rx.sub(repl, text)
    return text[:MAX_QUERY]


def template_of(normalized: str) -> str:
    """The problem's key: the normalized, masked text lowercased, numbers and spacing dropped; two
    pastes of one error a minute apart have the same template."""
    return template_of_masked(mask_secrets(normalized))


def template_of_masked(masked: str) -> str:
    """template_of for a text mask_secrets already went over (the writer's, to mask once)."""
    return _SPACE.sub(" ", _DIGITS.sub("", masked.lower())).strip()[:500]


def client_hash(salt: str, who: str) -> str:
    """A client (address, token) as 16 hex characters of a salted hash: countable, not identifiable."""
    return hashlib.sha256(f"{salt}\0{who}".encode()).hexdigest()[:16]


def pack(vector: np.ndarray | None) -> bytes:
    return b"" if vector is None else np.asarray(vector, dtype=np.float16).reshape(-1).tobytes()


def unpack(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float16).astype(np.float32) if blob else np.zeros(0, dtype=np.float32)
