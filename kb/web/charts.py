"""Charts for /insights drawn here as inline SVG: no CDN, no JavaScript, colours from the
stylesheet's classes (so dark mode recolours them), a <title> on every mark for a hover tooltip
and an aria-label on the chart. Small enough not to need a charting library: a stacked bar
chart and a horizontal bar chart are all the page shows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape


def _nice(top: float) -> int:
    """A round axis maximum at or above `top`."""
    if top <= 5:
        return 5
    step = 10 ** (len(str(int(top))) - 1)
    for m in (1, 2, 2.5, 5, 10):
        if top <= m * step:
            return int(m * step)
    return int(10 * step)


def stacked_bars(rows: Sequence[dict[str, Any]], keys: Sequence[str], label: str, width: int = 720) -> Markup:
    """One bar a row (`rows[i]["day"]` under it), stacked by `keys` (CSS class `bar-<key>`)."""
    height, left, bottom, top = 180, 36, 22, 8
    n = max(len(rows), 1)
    plot_w, plot_h = width - left - 4, height - bottom - top
    peak = _nice(max((sum(int(r[k]) for k in keys) for r in rows), default=0))
    slot = plot_w / n
    bar = max(1.0, slot * 0.8)
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    for frac in (0, 0.5, 1):
        y = top + plot_h * (1 - frac)
        out.append(f'<line class="grid" x1="{left}" x2="{width - 4}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="axis" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{int(peak * frac)}</text>')
    every = max(1, n // 8)
    for i, r in enumerate(rows):
        x = left + i * slot + (slot - bar) / 2
        y = top + plot_h
        total = sum(int(r[k]) for k in keys)
        for k in keys:
            v = int(r[k])
            if not v:
                continue
            h = plot_h * v / peak
            y -= h
            tip = f"{r['day']}: {v} {k} of {total}"
            out.append(
                f'<rect class="bar-{escape(k)}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}">'
                f"<title>{escape(tip)}</title></rect>"
            )
        if i % every == 0:
            day = str(r["day"])[5:]
            out.append(
                f'<text class="axis" x="{x + bar / 2:.1f}" y="{height - 6}" text-anchor="middle">{escape(day)}</text>'
            )
    out.append("</svg>")
    return Markup("".join(out))


def hbars(rows: Sequence[tuple[str, int, int]], label: str, width: int = 720) -> Markup:
    """One row a (name, first, second): a bar for `first` (answered) with `second` (solved)
    drawn over its start."""
    line, name_w = 22, 300
    height = max(line * len(rows), line) + 4
    peak = max((r[1] for r in rows), default=0) or 1
    plot_w = width - name_w - 60
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (name, first, second) in enumerate(rows):
        y = 2 + i * line
        short = name if len(name) <= 44 else name[:43] + "…"
        w1 = plot_w * first / peak
        w2 = plot_w * min(second, first) / peak if first else 0
        out.append(f'<text class="label" x="{name_w - 6}" y="{y + 15}" text-anchor="end">{escape(short)}</text>')
        out.append(
            f'<rect class="bar-answered" x="{name_w}" y="{y + 3}" width="{max(w1, 1):.1f}" height="{line - 6}">'
            f"<title>{escape(name)}: answered {first}</title></rect>"
        )
        if second:
            out.append(
                f'<rect class="bar-solved" x="{name_w}" y="{y + 3}" width="{max(w2, 1):.1f}" height="{line - 6}">'
                f"<title>{escape(name)}: solved {second}</title></rect>"
            )
        out.append(f'<text class="value" x="{name_w + w1 + 6:.1f}" y="{y + 15}">{first} / {second}</text>')
    out.append("</svg>")
    return Markup("".join(out))
