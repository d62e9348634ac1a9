"""Search responses as text for people at a terminal."""

from __future__ import annotations

import textwrap

from kb.results import Response

_COLORS = {"strong": "32", "possible": "33", "weak": "90", "none": "90"}


def _c(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color else text


def _summary(label: str, text: str, max_lines: int = 6) -> list[str]:
    """`Root cause: ...` wrapped at 100 columns; code lines kept as they are, indented."""
    out: list[str] = []
    first = True
    for line in text.split("\n"):
        if line.startswith("    "):  # code: never wrapped, never joined
            out.append("     " + line)
            continue
        prefix = f"{label}: " if first else ""
        out += textwrap.wrap(prefix + line, 100, initial_indent="   " if first else "     ", subsequent_indent="     ")
        first = False
    if len(out) > max_lines:
        out = out[:max_lines]
        out[-1] = out[-1][:96].rstrip() + " …"
    return out


def format_response(r: Response, color: bool = False) -> str:
    """Header line, then one block per result with its root cause and fix."""
    lines = [_c(f"warning: {w}", "33", color) for w in r.warnings]
    if r.match == "none":
        head = "No good match in the knowledge base."
        if r.warnings:
            head = "No match with these filters."
        elif r.novel:
            head += " This looks new: consider writing it up with `kb new known-issue ... --from-query -`."
        lines.append(_c(head, "1", color))
        if r.results:
            lines.append("Nearest misses:")
    else:
        lines.append(f"match: {_c(r.match, _COLORS[r.match], color)} - {len(r.results)} results in {r.took_ms:.0f} ms")
    if r.searched_lines < r.input_lines:
        lines.append(f"searched on {r.searched_lines:,} of {r.input_lines:,} lines (the salient ones)")
    if r.normalized:
        lines.append("normalized query: " + r.normalized["text"].replace("\n", " | ")[:300])
    for i, res in enumerate(r.results, 1):
        lines.append("")
        tag = _c(f"[{res.confidence} {res.score:.2f}]", _COLORS[res.confidence], color)
        lines.append(f"{i}. {tag} {_c(res.title, '1', color)}")
        meta = [res.type, ", ".join(res.services) or "-", f"updated {res.updated or '?'}", res.id]
        lines.append("   " + " · ".join(meta))
        if res.signature:
            lines.append(f"   matched signature: {res.signature}")
        for label, value in (("Root cause", res.root_cause), ("Fix", res.resolution)):
            if value:
                lines += _summary(label, value)
        if res.explain:
            lines.append("   why: " + ", ".join(f"{k}={v}" for k, v in res.explain.items()))
    return "\n".join(lines)
