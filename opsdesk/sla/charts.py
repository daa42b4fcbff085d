"""SVG charts of service-level reports: compliance per month (lines), compliance per group
(horizontal bars) and duration histograms (columns).

Like ``opsdesk.servicedesk.charts``: no inline styles or scripts (CSP), geometry as
presentation attributes, colour from CSS classes (the SLA block of app.css), and a
<title> on every mark so a pointer or a screen reader gets the number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from opsdesk.sla.reports import BUCKETS, ComplianceRow, Distribution, TrendPoint

SERIES = (("sla", "SLA"), ("ola", "OLA"), ("uc", "UC"))


def _pct(value: float | None) -> str:
    return "no data" if value is None else f"{value:.1f}%"


def count_step(largest: int) -> int:
    """A whole-number tick step so that four steps reach ``largest``: 9 -> 3, 33 -> 9,
    50 -> 20."""
    step = max(math.ceil(largest / 4), 1)
    magnitude = 10 ** math.floor(math.log10(step))
    return math.ceil(step / magnitude) * magnitude


def band(compliance: float | None) -> str:
    """A CSS suffix for a compliance figure: good (>= 95%), fair (>= 85%), poor."""
    if compliance is None:
        return "none"
    if compliance >= 95:
        return "good"
    if compliance >= 85:
        return "fair"
    return "poor"


def _svg(klass: str, width: int, height: int, title: str) -> list[str]:
    return [
        f'<svg class="slr-chart {klass}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]


def trend_chart(
    points: Sequence[TrendPoint],
    *,
    title: str,
    series: Sequence[tuple[str, str]] = SERIES,
    width: int = 1100,
    height: int = 260,
) -> SafeString:
    """Compliance per month, one line per kind, on a 0-100% axis; a month without stopped
    clocks leaves a gap."""
    left, right, top, bottom = 44, 16, 30, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(points), 1)
    step = plot_w / n
    parts = _svg("slr-trend-chart", width, height, title)
    add = parts.append
    x = left
    for key, label in series:
        add(f'<line class="slr-line slr-line-{key}" x1="{x}" y1="14" x2="{x + 18}" y2="14"/>')
        add(f'<text class="slr-legend" x="{x + 23}" y="18">{escape(label)}</text>')
        x += 40 + 8 * len(label)
    for pct in (0, 25, 50, 75, 100):
        y = top + plot_h - plot_h * pct / 100
        add(f'<line class="slr-grid" x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}"/>')
        add(
            f'<text class="slr-tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{pct}%</text>'
        )
    for i, point in enumerate(points):
        cx = left + step * i + step / 2
        add(
            f'<text class="slr-tick" x="{cx:.1f}" y="{top + plot_h + 18}" '
            f'text-anchor="middle">{escape(point.label)}</text>'
        )
    for key, label in series:
        runs: list[list[tuple[float, float]]] = [[]]
        for i, point in enumerate(points):
            row = point.by_kind.get(key)
            value = row.compliance if row is not None else None
            if value is None:
                runs.append([])
                continue
            cx = left + step * i + step / 2
            cy = top + plot_h - plot_h * value / 100
            runs[-1].append((cx, cy))
            add(
                f'<circle class="slr-dot slr-dot-{key}" cx="{cx:.1f}" cy="{cy:.1f}" r="3.5">'
                f"<title>{escape(label)} {escape(point.label)}: {_pct(value)} "
                f"({row.met} of {row.total} met)</title></circle>"
            )
        for run in runs:
            if len(run) > 1:
                coords = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in run)
                add(f'<polyline class="slr-line slr-line-{key}" points="{coords}"/>')
    add("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


def compliance_bars(rows: Sequence[ComplianceRow], *, title: str, width: int = 520) -> SafeString:
    """One bar per group: its compliance on a 0-100% scale, coloured by band."""
    row_h, label_w = 24, 170
    plot_w = width - label_w - 110
    height = max(len(rows), 1) * row_h + 8
    parts = _svg("slr-bars-chart", width, height, title)
    add = parts.append
    for i, row in enumerate(rows):
        y = 4 + i * row_h
        value = row.compliance
        w = plot_w * (value or 0) / 100
        label = row.label if len(row.label) <= 26 else row.label[:25] + "…"
        add(
            f'<text class="slr-tick" x="{label_w - 8}" y="{y + 15}" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect class="slr-track" x="{label_w}" y="{y + 3}" width="{plot_w}" height="18" '
            f'rx="2"/>'
            f'<rect class="slr-bar slr-bar-{band(value)}" x="{label_w}" y="{y + 3}" '
            f'width="{w:.1f}" height="18" rx="2"><title>{escape(row.label)}: {_pct(value)} '
            f"({row.met} of {row.total} met)</title></rect>"
            f'<text class="slr-value" x="{label_w + plot_w + 8}" y="{y + 15}">{_pct(value)}'
            f" · {row.total}</text>"
        )
    add("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


def histogram(
    distribution: Distribution, *, title: str, width: int = 520, height: int = 200
) -> SafeString:
    """Columns over the duration buckets (< 1 h ... > 7 d)."""
    left, right, top, bottom = 40, 10, 12, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    top_count = 4 * count_step(max(distribution.histogram or [0]))
    step = plot_w / len(BUCKETS)
    parts = _svg("slr-histogram", width, height, title)
    add = parts.append
    for i in range(5):
        y = top + plot_h - plot_h * i / 4
        add(f'<line class="slr-grid" x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}"/>')
        add(
            f'<text class="slr-tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{top_count * i / 4:,.0f}</text>"
        )
    for i, ((label, _lo, _hi), count) in enumerate(
        zip(BUCKETS, distribution.histogram, strict=True)
    ):
        h = plot_h * count / top_count if top_count else 0
        x = left + step * i + step * 0.15
        add(
            f'<rect class="slr-column" x="{x:.1f}" y="{top + plot_h - h:.1f}" '
            f'width="{step * 0.7:.1f}" height="{h:.1f}"><title>{escape(label)}: {count:,}'
            f"</title></rect>"
            f'<text class="slr-tick" x="{left + step * i + step / 2:.1f}" '
            f'y="{top + plot_h + 17}" text-anchor="middle">{escape(label)}</text>'
        )
    add("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped
