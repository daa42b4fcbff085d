"""Small server-side SVG charts. The Content-Security-Policy forbids inline styles and
scripts, so charts are plain SVG with presentation attributes for geometry and CSS classes
(desk.css) for colour; every mark carries a <title> so a pointer or a screen reader gets the
number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def nice_max(value: float) -> int:
    """The smallest 1, 2 or 5 x 10^k that is >= value (at least 4), for round axis ticks."""
    if value <= 4:
        return 4
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value:
            return math.ceil(candidate)
    return int(10 ** (exponent + 1))


def _fmt(n: float) -> str:
    return f"{n:,.0f}"


def trend_chart(
    points: Sequence[dict[str, Any]],
    *,
    title: str,
    width: int = 1100,
    height: int = 260,
    bars: Sequence[tuple[str, str, str]] = (
        ("opened", "Opened", "bar-opened"),
        ("resolved", "Resolved", "bar-resolved"),
    ),
    line: tuple[str, str, str] = ("backlog", "Open backlog", "line-backlog"),
    label_every: int = 5,
) -> SafeString:
    """Grouped daily bars on the left axis and a line on the right axis.

    ``points`` are dicts with a ``day`` (date) and the keys named in ``bars`` and ``line``.
    """
    left, right, top, bottom = 44, 52, 34, 36
    plot_w = width - left - right
    plot_h = height - top - bottom
    n = max(len(points), 1)
    bar_max = nice_max(max([p[key] for p in points for key, _l, _c in bars] or [0]))
    line_values = [p[line[0]] for p in points]
    line_low = 0
    line_max = nice_max(max(line_values or [0]))
    band = plot_w / n
    bar_w = max(band * 0.8 / max(len(bars), 1), 1)
    parts: list[str] = []
    add = parts.append
    add(
        f'<svg class="chart trend-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="trend-title" preserveAspectRatio="xMidYMid meet" '
        f'xmlns="http://www.w3.org/2000/svg">'
    )
    add(f'<title id="trend-title">{escape(title)}</title>')
    # Legend
    x = left
    for _key, label, css in bars:
        add(f'<rect class="{css}" x="{x}" y="8" width="12" height="12" rx="2"/>')
        add(f'<text class="chart-legend" x="{x + 17}" y="18">{escape(label)}</text>')
        x += 28 + 7 * len(label)
    add(f'<line class="{line[2]}" x1="{x}" y1="14" x2="{x + 16}" y2="14"/>')
    add(f'<text class="chart-legend" x="{x + 21}" y="18">{escape(line[1])} (right axis)</text>')
    # Grid and axes
    ticks = 4
    for i in range(ticks + 1):
        y = top + plot_h - plot_h * i / ticks
        add(
            f'<line class="chart-grid" x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}"/>'
        )
        add(
            f'<text class="chart-tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_fmt(bar_max * i / ticks)}</text>"
        )
        value = line_low + (line_max - line_low) * i / ticks
        add(
            f'<text class="chart-tick chart-tick-right" x="{left + plot_w + 6}" y="{y + 4:.1f}" '
            f'text-anchor="start">{_fmt(value)}</text>'
        )
    add(
        f'<line class="chart-axis" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
        f'y2="{top + plot_h}"/>'
    )
    # Bars
    for i, p in enumerate(points):
        day = p["day"]
        x0 = left + band * i + band * 0.1
        for j, (key, label, css) in enumerate(bars):
            value = p[key]
            h = plot_h * value / bar_max if bar_max else 0
            y = top + plot_h - h
            add(
                f'<rect class="{css}" x="{x0 + j * bar_w:.1f}" y="{y:.1f}" '
                f'width="{max(bar_w - 1, 1):.1f}" height="{h:.1f}">'
                f"<title>{day:%d %b}: {_fmt(value)} {escape(label.lower())}</title></rect>"
            )
        if i % label_every == 0 or i == len(points) - 1:
            cx = left + band * i + band / 2
            add(
                f'<text class="chart-tick" x="{cx:.1f}" y="{top + plot_h + 16}" '
                f'text-anchor="middle">{day:%d %b}</text>'
            )
    # Line
    coords = []
    for i, p in enumerate(points):
        cx = left + band * i + band / 2
        span = (line_max - line_low) or 1
        cy = top + plot_h - plot_h * (p[line[0]] - line_low) / span
        coords.append((cx, cy, p))
    if coords:
        d = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy, _p in coords)
        add(f'<polyline class="{line[2]}" points="{d}"/>')
        for cx, cy, p in coords:
            add(
                f'<circle class="{line[2]}-dot" cx="{cx:.1f}" cy="{cy:.1f}" r="2.5">'
                f"<title>{p['day']:%d %b}: {_fmt(p[line[0]])} {escape(line[1].lower())}</title>"
                f"</circle>"
            )
    add("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


def hbar_chart(
    rows: Sequence[dict[str, Any]], *, title: str, css: str = "bar-opened", width: int = 360
) -> SafeString:
    """Horizontal bars, one row per ``{"label", "count"}`` (ageing, priorities)."""
    row_h, label_w, gap = 24, 96, 6
    height = len(rows) * row_h + 8
    top = max([r["count"] for r in rows] or [0]) or 1
    plot_w = width - label_w - 48
    parts = [
        f'<svg class="chart hbar-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, row in enumerate(rows):
        y = 4 + i * row_h
        w = plot_w * row["count"] / top
        klass = row.get("css") or css
        parts.append(
            f'<text class="chart-tick" x="{label_w - 8}" y="{y + 15}" text-anchor="end">'
            f"{escape(row['label'])}</text>"
            f'<rect class="{klass}" x="{label_w}" y="{y + 3}" width="{max(w, 0):.1f}" '
            f'height="{row_h - gap}" rx="2"><title>{escape(row["label"])}: '
            f"{_fmt(row['count'])}</title></rect>"
            f'<text class="chart-value" x="{label_w + w + 6:.1f}" y="{y + 15}">'
            f"{_fmt(row['count'])}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped
