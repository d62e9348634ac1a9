"""A record's message as the miner sees it: volatile tokens (anything with a digit: ids,
counts, addresses, times) masked as `<*>`, and the tokens that name the problem protected.

Protected tokens - error codes (`ORA-00942`, `PGW-E4012`, `AADSTS50076`), exception and error
class names (`java.lang.OutOfMemoryError`, `CommitFailedException`), errno names
(`ECONNREFUSED`), SQLSTATEs (`SQLSTATE 53300`, `40P01`), HTTP statuses (`HTTP/1.1" 503`,
`status=503`, `503 Service Unavailable`), exit codes and signals (`exit code 137`) and
CamelCase identifiers (`OOMKilled`, `CrashLoopBackOff`) - are never masked, and they are the
record's *key*: records with different keys never share a template, so Drain cannot merge
`HTTP 502` with `HTTP 503`, nor `ORA-00942` with `ORA-01017`, however alike the rest is.
"""

from __future__ import annotations

import re

from kb.linear_regex import compile_linear

PARAM = "<*>"
MAX_KEY = 6  # protected tokens a key keeps (the first ones)

# RE2 (linear, and ~2x faster here than `re` on this alternation); no capture groups, which
# make RE2 slower: a match's protected value is read from its text (`_value`).
_PROTECTED = compile_linear(
    r"\b[A-Z][A-Z0-9]{1,9}[-_][A-Z]?\d{2,6}[A-Z]?\b"  # ORA-00942, PGW-E4012, ERR_1234
    r"|\b[A-Z]{1,8}\d{3,6}\b"  # E4012, AADSTS50076, AH01114
    r"|\bSQLSTATE\W{0,3}[0-9A-Z]{5}\b"
    r"|\b(?:\d\d[A-Z]\d\d|\d[A-Z]\d{3})\b"  # 40P01, 2BP01 (a SQLSTATE on its own)
    r"|(?:HTTP/\d(?:\.\d)?\"?\s+|\bHTTP\s+|\bstatus(?:[ _-]?code)?\W{0,3}|\bcode[=:]\s*|\breturned\s+(?:status\s+)?|"
    r"\bresponse(?:\s+code)?[=:\s]\s*)[1-5]\d\d\b"
    r"|\b[1-5]\d\d\s+(?:Bad Request|Unauthorized|Forbidden|Not Found|Method Not Allowed|Conflict|"
    r"Gone|Payload Too Large|Too Many Requests|Internal Server Error|Not Implemented|Bad Gateway|"
    r"Service Unavailable|Gateway Time-?out|Request Timeout)\b"
    r"|\b(?i:exit(?:ed)?(?: with)?(?: code| status)|exitCode|exit_code|errno|error[ _]code|signal|code)"
    r"[=: ]{1,3}\(?-?\d{1,5}\b"
    r"|\b(?:x509|http2|s3|ec2|oauth2|log4j|sha256|ipv4|ipv6|base64|k8s)\b"  # names with a digit
    r"|\b(?:[A-Za-z_][\w$]*\.)*[A-Z][\w$]*(?:Exception|Error|Throwable|Fault|Failure)\b"
    r"|\bE[A-Z]{4,}\b"
    r"|\b(?:[A-Z]+[a-z]+[A-Z][A-Za-z]*|[A-Z]{2,}[a-z]+[A-Za-z]*)\b"  # OOMKilled, CrashLoopBackOff
)
_NOT_ERRNO = frozenset(("ERROR", "ERRORS", "EMERG", "EVENT", "EVENTS", "EXIT", "ENTRY", "EMPTY", "ENABLED", "END"))
_CONTEXT_NUMBER = re.compile(r"-?\d+$")
# A run with a digit between separators: brackets, quotes, `|`, `=`, `:` and `,` stay.
_DIGITS = re.compile(r"[^\s()\[\]{}<>,;|=:\"']*\d[^\s()\[\]{}<>,;|=:\"']*")
_EDGES = "()[]{}<>,;:'\"."


def _value(span: str) -> str:
    """The protected value of a match: itself, or the status / code of `HTTP 503`, `exit code 137`,
    `503 Service Unavailable`, `SQLSTATE 53300`."""
    if span[0].isdigit() and " " in span:  # 503 Service Unavailable
        return span.split(None, 1)[0]
    if span.startswith("SQLSTATE"):
        return span[-5:]
    if any(c in span for c in ' =:/"('):
        m = _CONTEXT_NUMBER.search(span)
        return m.group(0) if m else span
    return span


def protected(msg: str) -> list[str]:
    """The message's protected tokens, in order, each once."""
    out: list[str] = []
    for m in _PROTECTED.finditer(msg):
        value = _value(m.group(0))
        if value in out or value in _NOT_ERRNO:
            continue
        out.append(value)
    return out


def mask(msg: str) -> tuple[tuple[str, ...], str]:
    """The message's key (its protected tokens) and its text with the other tokens that hold a
    digit replaced by PARAM."""
    keep = protected(msg)
    key = tuple(keep[:MAX_KEY])
    if not keep:
        return key, _DIGITS.sub(PARAM, msg)
    kept = frozenset(keep)

    def one(m: re.Match[str]) -> str:
        token = m.group(0)
        core = token.strip(_EDGES)
        if core in kept:
            return token
        # a token that holds a protected one (`(SQLSTATE`, `code=137,`): keep that part
        for value in keep:
            if value in token and (value[0].isdigit() or value[0].isupper()):
                start = token.index(value)
                return _DIGITS.sub(PARAM, token[:start]) + value + _DIGITS.sub(PARAM, token[start + len(value) :])
        return PARAM

    return key, _DIGITS.sub(one, msg)
