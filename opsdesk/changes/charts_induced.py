"""SVG charts of the change metrics page: both rates per month (lines) and one rate per
service / team / type (horizontal bars).

Like `opsdesk.sla.charts` (whose CSS classes they reuse): no inline styles or scripts (CSP),
geometry as presentation attributes, colour from CSS classes, a <title> on every mark.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from opsdesk.changes.metrics import MetricRow

#: (attribute, legend, CSS series of the SLA charts)
SERIES = (("success_rate", "Success rate", "sla"), ("induced_rate", "Change-induced rate", "uc"))


def _pct(value: float | None) -> str:
    return "no data" if value is None else f"{value:.1f}%"


def _svg(klass: str, width: int, height: int, title: str) -> list[str]:
    return [
        f'<svg class="slr-chart {klass}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]


def rate_trend(
    rows: Sequence[MetricRow], *, title: str, width: int = 1100, height: int = 260
) -> SafeString:
    """Both rates per month on a 0-100% axis; a month without changes leaves a gap."""
    left, right, top, bottom = 44, 16, 30, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(rows), 1)
    parts = _svg("chg-trend-chart", width, height, title)
    add = parts.append
    x = left
    for _attr, label, css in SERIES:
        add(f'<line class="slr-line slr-line-{css}" x1="{x}" y1="14" x2="{x + 18}" y2="14"/>')
        add(f'<text class="slr-legend" x="{x + 23}" y="18">{escape(label)}</text>')
        x += 40 + 8 * len(label)
    for pct in (0, 25, 50, 75, 100):
        y = top + plot_h - plot_h * pct / 100
        add(f'<line class="slr-grid" x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}"/>')
        add(
            f'<text class="slr-tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{pct}%</text>'
        )
    for i, row in enumerate(rows):
        cx = left + step * i + step / 2
        add(
            f'<text class="slr-tick" x="{cx:.1f}" y="{top + plot_h + 18}" '
            f'text-anchor="middle">{escape(row.label)}</text>'
        )
    for attr, label, css in SERIES:
        runs: list[list[tuple[float, float]]] = [[]]
        for i, row in enumerate(rows):
            value = getattr(row, attr)
            if value is None:
                runs.append([])
                continue
            cx = left + step * i + step / 2
            cy = top + plot_h - plot_h * value / 100
            runs[-1].append((cx, cy))
            of = (
                f"{row.successful} of {row.closed} closed"
                if attr == "success_rate"
                else f"{row.induced} of {row.implemented} implemented"
            )
            add(
                f'<circle class="slr-dot slr-dot-{css}" cx="{cx:.1f}" cy="{cy:.1f}" r="3.5">'
                f"<title>{escape(label)} {escape(row.label)}: {_pct(value)} ({of})</title>"
                "</circle>"
            )
        for run in runs:
            if len(run) > 1:
                coords = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in run)
                add(f'<polyline class="slr-line slr-line-{css}" points="{coords}"/>')
    add("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


def _band(kind: str, value: float | None) -> str:
    """good / fair / poor: a high success rate is good, a high induced rate is poor."""
    if value is None:
        return "none"
    if kind == "induced":
        return "good" if value <= 5 else "fair" if value <= 15 else "poor"
    return "good" if value >= 95 else "fair" if value >= 85 else "poor"


def rate_bars(rows: Sequence[MetricRow], kind: str, *, title: str, width: int = 520) -> SafeString:
    """One bar per group: the success rate (``kind="success"``) or the change-induced
    incident rate (``kind="induced"``) on a 0-100% scale."""
    row_h, label_w = 24, 170
    plot_w = width - label_w - 110
    height = max(len(rows), 1) * row_h + 8
    parts = _svg("chg-bars-chart", width, height, title)
    add = parts.append
    for i, row in enumerate(rows):
        y = 4 + i * row_h
        if kind == "induced":
            value, count, of = (
                row.induced_rate,
                row.implemented,
                f"{row.induced} of {row.implemented}",
            )
        else:
            value, count, of = row.success_rate, row.closed, f"{row.successful} of {row.closed}"
        w = plot_w * (value or 0) / 100
        label = row.label if len(row.label) <= 26 else row.label[:25] + "…"
        add(
            f'<text class="slr-tick" x="{label_w - 8}" y="{y + 15}" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect class="slr-track" x="{label_w}" y="{y + 3}" width="{plot_w}" height="18" '
            f'rx="2"/>'
            f'<rect class="slr-bar slr-bar-{_band(kind, value)}" x="{label_w}" y="{y + 3}" '
            f'width="{w:.1f}" height="18" rx="2"><title>{escape(row.label)}: {_pct(value)} '
            f"({of})</title></rect>"
            f'<text class="slr-value" x="{label_w + plot_w + 8}" y="{y + 15}">{_pct(value)}'
            f" · {count}</text>"
        )
    add("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped
