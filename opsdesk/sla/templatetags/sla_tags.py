"""Template helpers of service-level clocks: durations, the percent bar with its warning
thresholds (SVG, no inline style) and the queue badge."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from opsdesk.sla.selectors import ClockState, duration

register = template.Library()


@register.filter(name="sla_duration")
def sla_duration(seconds: Any) -> str:
    """Business seconds as "3 h 20 min"."""
    try:
        return duration(float(seconds))
    except (TypeError, ValueError):
        return ""


@register.filter(name="sla_percent")
def sla_percent(value: Any) -> str:
    """A probability 0..1 as "72 %"."""
    try:
        return f"{round(float(value) * 100)} %"
    except (TypeError, ValueError):
        return ""


@register.simple_tag
def sla_bar(state: ClockState) -> SafeString:
    """How much of the target is used, with the warning thresholds marked."""
    pct = state.bar_percent
    target = duration(state.clock.target_seconds)
    title = f"{round(state.percent)}% of the {target} target used"
    parts = [
        '<svg class="sla-bar" viewBox="0 0 100 12" preserveAspectRatio="none" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>"
        '<rect class="sla-bar-track" x="0" y="2" width="100" height="8" rx="1"/>'
        f'<rect class="sla-bar-fill sla-fill-{escape(state.tone)}" x="0" y="2" '
        f'width="{pct:.1f}" height="8" rx="1"/>'
    ]
    for mark in state.thresholds:
        parts.append(
            f'<line class="sla-bar-mark" x1="{mark}" x2="{mark}" y1="0" y2="12">'
            f"<title>Warning at {mark}%</title></line>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


@register.inclusion_tag("sla/_badge.html")
def sla_badge(state: ClockState | None) -> dict[str, Any]:
    return {"state": state}
