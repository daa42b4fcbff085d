"""Pages of the SLA -> OLA -> UC chain: the matrix of services x priorities (fits / does not
fit / gap) and the detail of one cell, with the typical path drawn as stacked bars against
the SLA's due time. Also the SVG charts the incident page's "Where the time went" panel uses.

Charts are plain SVG with presentation attributes and CSS classes (the CSP forbids inline
styles); every mark has a <title>.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.pages import page_organization
from opsdesk.sla.chain import (
    VERDICT_LABELS,
    ChainRow,
    ClockAttribution,
    Walk,
    check_chain,
    fmt_duration,
    fmt_moment,
)
from opsdesk.sla.models import Definition

PRIORITIES = [("", "All priorities")] + [(str(p), f"P{p}") for p in range(1, 6)]


def _org(request: HttpRequest) -> Any:
    return page_organization(request, Definition, "Service levels are not part of your role.")


class ChainFilterForm(forms.Form):
    service = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    priority = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, choices=PRIORITIES
    )

    def __init__(self, *args: Any, services: Sequence[tuple[int, str]] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["service"].choices = [("", "All services")] + [
            (str(pk), name) for pk, name in services
        ]


def _services(org: Any) -> list[tuple[int, str]]:
    """Business services, and any other CI an SLA names."""
    named = set(
        Definition.objects.filter(organization_id=org.pk, kind="sla", is_active=True)
        .exclude(services=None)
        .values_list("services", flat=True)
    )
    return list(
        ConfigurationItem.objects.filter(organization_id=org.pk)
        .filter(Q(ci_class__key="business_service") | Q(pk__in=named))
        .order_by("name")
        .values_list("pk", "name")
    )


@login_required
def chain_matrix(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    form = ChainFilterForm(request.GET or None, services=_services(org))
    service = priority = None
    status = 200
    if form.is_bound:
        if form.is_valid():
            service, priority = form.cleaned_data["service"], form.cleaned_data["priority"]
        else:
            status = 400
    rows = check_chain(org.pk, service, priority) if status == 200 else []
    priorities = sorted({r.priority for r in rows})
    services: dict[str, dict[str, Any]] = {}
    for r in rows:
        entry = services.setdefault(
            r.service_key, {"key": r.service_key, "name": r.service_name, "cells": {}}
        )
        entry["cells"][r.priority] = r
    matrix = [{**s, "cells": [s["cells"].get(p) for p in priorities]} for s in services.values()]
    counts = {v: sum(1 for r in rows if r.verdict == v) for v in VERDICT_LABELS}
    return render(
        request,
        "sla/chain/matrix.html",
        {
            "form": form,
            "rows": rows,
            "priorities": priorities,
            "matrix": matrix,
            "counts": counts,
            "labels": VERDICT_LABELS,
        },
        status=status,
    )


@login_required
def chain_detail(request: HttpRequest, service: str, priority: int) -> HttpResponse:
    org = _org(request)
    if service == "all":
        service_id = None
    elif service.isdigit() and len(service) < 18:
        service_id = int(service)
    else:
        raise Http404("No such service.")
    if not 1 <= priority <= 5:
        raise Http404("No such priority.")
    rows = [
        r
        for r in check_chain(org.pk, service_id, priority)
        if r.service_id == service_id and r.priority == priority
    ]
    if not rows:
        raise Http404("No active SLA covers this service and priority.")
    row = rows[0]
    return render(
        request,
        "sla/chain/detail.html",
        {
            "row": row,
            "walks": [(w, walk_chart(w, row)) for w in row.walks],
            "links": [*row.teams, *row.suppliers],
            "agreements": agreements_chart(row),
            "labels": VERDICT_LABELS,
        },
    )


# --- charts ---------------------------------------------------------------------------------


def _tick_step(hours: float) -> int:
    for step in (1, 2, 4, 6, 12, 24, 48):
        if hours / step <= 8:
            return step
    return 96


def _hours(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 3600


def walk_chart(walk: Walk, row: ChainRow, *, width: int = 760) -> SafeString:
    """The typical path from one reference start: a stacked bar of wall-clock time, one
    segment per OLA/UC, and the SLA's due time as a line."""
    left, right, top, bar_h = 12, 12, 26, 30
    height = top + bar_h + 40
    total = max(_hours(walk.start, walk.end), _hours(walk.start, walk.sla_due), 1.0) * 1.08
    scale = (width - left - right) / total
    tz = walk.start.tzinfo
    verdict = "fits" if walk.fits else "late"
    title = (
        f"From {walk.reference} ({fmt_moment(walk.start, tz)}): the typical path ends "
        f"{fmt_moment(walk.end, tz)}; the SLA is due {fmt_moment(walk.sla_due, tz)}"
    )
    parts = [
        f'<svg class="chart chain-chart chain-{verdict}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, step in enumerate(walk.steps):
        x = left + _hours(walk.start, step.start) * scale
        w = max(_hours(step.start, step.end) * scale, 1)
        over = step.end > walk.sla_due
        cls = f"chain-seg chain-seg-{step.kind} chain-seg-{i % 4}" + (
            " chain-seg-over" if over else ""
        )
        tip = (
            f"{step.label}: {fmt_moment(step.start, tz)} to {fmt_moment(step.end, tz)} "
            f"({fmt_duration((step.end - step.start).total_seconds())} wall-clock)"
        )
        parts.append(
            f'<rect class="{cls}" x="{x:.1f}" y="{top}" width="{w:.1f}" height="{bar_h}">'
            f"<title>{escape(tip)}</title></rect>"
        )
        if w > 70:
            parts.append(
                f'<text class="chain-seg-label" x="{x + 6:.1f}" y="{top + bar_h / 2 + 4:.1f}">'
                f"{escape(step.label)}</text>"
            )
    step_h = _tick_step(total)
    tick = 0
    while tick <= total:
        x = left + tick * scale
        parts.append(
            f'<line class="chain-tick" x1="{x:.1f}" y1="{top + bar_h}" x2="{x:.1f}" '
            f'y2="{top + bar_h + 5}"/><text class="chain-axis" x="{x:.1f}" '
            f'y="{top + bar_h + 18}" text-anchor="middle">{tick} h</text>'
        )
        tick += step_h
    due_x = left + _hours(walk.start, walk.sla_due) * scale
    label = f"SLA due {fmt_moment(walk.sla_due, tz)}"
    anchor = "end" if due_x > width * 0.6 else "start"
    dx = -4 if anchor == "end" else 4
    parts.append(
        f'<line class="chain-due" x1="{due_x:.1f}" y1="{top - 16}" x2="{due_x:.1f}" '
        f'y2="{top + bar_h + 6}"><title>{escape(label)}</title></line>'
        f'<text class="chain-due-label" x="{due_x + dx:.1f}" y="{top - 8}" '
        f'text-anchor="{anchor}">{escape(label)}</text>'
    )
    parts.append(
        f'<text class="chain-axis" x="{width - right}" y="{height - 4}" text-anchor="end">'
        f"hours after {escape(fmt_moment(walk.start, tz))} ({escape(row.time_zone)})</text>"
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text is escaped above


def agreements_chart(row: ChainRow, *, width: int = 760) -> SafeString:
    """Every OLA and UC alone, in business hours on its own calendar, against the SLA's
    target (a line): one bar per agreement."""
    links = [t for t in row.teams if t.target_seconds is not None] + [
        s for s in row.suppliers if s.target_seconds is not None
    ]
    if not links:
        return mark_safe("")
    left, right, top, bar_h, gap = 190, 20, 22, 18, 8
    height = top + len(links) * (bar_h + gap) + 24
    longest = max([row.resolution_seconds, *[x.target_seconds or 0 for x in links]]) / 3600
    total = max(longest * 1.08, 1.0)
    scale = (width - left - right) / total
    title = f"Each OLA and UC of {row.service_name} P{row.priority} against the SLA target"
    parts = [
        f'<svg class="chart chain-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, link in enumerate(links):
        y = top + i * (bar_h + gap)
        hours = (link.target_seconds or 0) / 3600
        cls = f"chain-seg chain-seg-{link.kind}" + ("" if link.fits else " chain-seg-over")
        tip = f"{link.label} P{row.priority}: {fmt_duration(link.target_seconds or 0)} ({link.calendar})"
        parts.append(
            f'<text class="chain-name" x="{left - 8}" y="{y + bar_h - 5}" text-anchor="end">'
            f"{escape(link.label)}</text>"
            f'<rect class="{cls}" x="{left}" y="{y}" width="{max(hours * scale, 1):.1f}" '
            f'height="{bar_h}"><title>{escape(tip)}</title></rect>'
            f'<text class="chain-axis" x="{left + hours * scale + 4:.1f}" y="{y + bar_h - 5}">'
            f"{escape(fmt_duration(link.target_seconds or 0))} · {escape(link.calendar)}</text>"
        )
    sla_x = left + row.resolution_seconds / 3600 * scale
    label = f"SLA {fmt_duration(row.resolution_seconds)} ({row.sla_calendar})"
    parts.append(
        f'<line class="chain-due" x1="{sla_x:.1f}" y1="{top - 10}" x2="{sla_x:.1f}" '
        f'y2="{height - 20}"><title>{escape(label)}</title></line>'
        f'<text class="chain-due-label" x="{sla_x + (-4 if sla_x > width * 0.6 else 4):.1f}" '
        f'y="{height - 6}" text-anchor="{"end" if sla_x > width * 0.6 else "start"}">'
        f"{escape(label)}</text></svg>"
    )
    return mark_safe("".join(parts))  # noqa: S308 - every text is escaped above


def shares_chart(clock: ClockAttribution, *, width: int = 340) -> SafeString:
    """An SLA clock's counted time as a stacked bar by team and supplier, the target as a
    line; a share whose own OLA/UC was breached is marked."""
    left, right, top, bar_h = 4, 4, 20, 24
    height = top + bar_h + 22
    counted = sum(s.seconds for s in clock.shares)
    total = max(counted, clock.target_seconds, 1) * 1.05
    scale = (width - left - right) / total
    title = (
        f"{clock.definition_name} {clock.metric}: {fmt_duration(counted)} counted of "
        f"{fmt_duration(clock.target_seconds)}"
    )
    parts = [
        f'<svg class="chart chain-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    x = float(left)
    for i, share in enumerate(clock.shares):
        w = share.seconds * scale
        cls = f"chain-seg chain-seg-{share.kind} chain-seg-{i % 4}" + (
            " chain-seg-over" if share.over_seconds > 0 else ""
        )
        tip = f"{share.name}: {fmt_duration(share.seconds)}"
        if share.target_seconds is not None:
            tip += f" (its {share.agreement} {fmt_duration(share.target_seconds)})"
        parts.append(
            f'<rect class="{cls}" x="{x:.1f}" y="{top}" width="{max(w, 1):.1f}" '
            f'height="{bar_h}"><title>{escape(tip)}</title></rect>'
        )
        x += w
    tx = left + clock.target_seconds * scale
    label = f"SLA {fmt_duration(clock.target_seconds)}"
    anchor = "end" if tx > width * 0.6 else "start"
    parts.append(
        f'<line class="chain-due" x1="{tx:.1f}" y1="{top - 6}" x2="{tx:.1f}" '
        f'y2="{top + bar_h + 4}"><title>{escape(label)}</title></line>'
        f'<text class="chain-due-label" x="{tx + (-3 if anchor == "end" else 3):.1f}" '
        f'y="{top - 8}" text-anchor="{anchor}">{escape(label)}</text></svg>'
    )
    return mark_safe("".join(parts))  # noqa: S308 - every text is escaped above
