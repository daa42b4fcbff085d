"""Pages of service-level clocks: the incident's clock panel (refreshed by htmx), the
explanation of each clock segment by segment, and the likely-to-breach queue.

Only the roles that read clocks (agents, managers, auditors, admins) get these pages; a
requester, or an incident of another organisation, is a 404 (see `opsdesk.sla.selectors`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from opsdesk.accounts.models import Team
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.errors import FieldError, NotFound
from opsdesk.servicedesk.charts import hbar_chart
from opsdesk.servicedesk.models import Incident
from opsdesk.sla import selectors
from opsdesk.sla.choices import Kind, Metric

PAGE_SIZE = 25
#: Seconds between refreshes of the clock panel (business-hours clocks are re-counted by
#: the server, never by the browser).
PANEL_REFRESH = 60


def _org(request: HttpRequest) -> Any:
    org = request.organization
    if org is None or not selectors.can_see_clocks(request.user, org.pk):
        raise Http404("No service-level clocks here.")
    return org


def _incident(request: HttpRequest, pk: int) -> Incident:
    org = _org(request)
    try:
        incident = selectors.access_incident_clocks(request.user, pk)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    if incident.organization_id != org.pk:
        raise Http404("No incident matches the given id.")
    return incident


# --- the incident panel ----------------------------------------------------------------------


def panel_context(user: Any, incident: Incident, now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    states = [selectors.clock_state(c, now) for c in selectors.incident_clocks(user, incident)]
    return {
        "incident": incident,
        "clocks": states,
        "now": now,
        "refresh": PANEL_REFRESH,
    }


@login_required
def incident_panel(request: HttpRequest, pk: int) -> HttpResponse:
    """The clock panel alone, for the incident page's periodic htmx refresh."""
    incident = _incident(request, pk)
    return render(request, "sla/_panel.html", panel_context(request.user, incident))


# --- explain ---------------------------------------------------------------------------------

#: Segment kinds in the order of the legend.
SEGMENT_KINDS = {
    "running": "Running (counted)",
    "paused": "Paused",
    "waiting": "With another team or supplier",
    "outside_hours": "Outside working hours",
    "holiday": "Public holiday",
    "exception": "Calendar exception",
    "stopped": "Stopped",
    "not_started": "Not started",
}


def timeline_svg(
    segments: list[selectors.ExplainedSegment], now: datetime, tz: Any, title: str
) -> SafeString:
    """The segments as one horizontal bar, coloured by kind (CSS classes, no inline style);
    projected segments hatched; day marks below when the span is at most three weeks."""
    if not segments:
        return mark_safe("")
    width, left, right, bar_y, bar_h = 1000, 8, 8, 8, 28
    first, last = segments[0].start, segments[-1].end
    tail = segments[-1]
    if len(segments) > 1 and tail.kind in selectors.QUIET_KINDS:
        # A clock stopped months ago: show a stub of its stopped tail, not months of grey.
        before = (tail.start - first).total_seconds()
        last = min(last, tail.start + timedelta(seconds=max(before * 0.08, 60)))
    span = max((last - first).total_seconds(), 1.0)
    plot = width - left - right

    def x(moment: datetime) -> float:
        return left + plot * (moment - first).total_seconds() / span

    parts = [
        f'<svg class="sla-timeline" viewBox="0 0 {width} 64" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg" '
        'preserveAspectRatio="none">'
    ]
    for seg in segments:
        x0, x1 = x(seg.start), x(min(seg.end, last))
        klass = f"sla-seg sla-seg-{escape(seg.kind)}" + (" is-projected" if seg.projected else "")
        start = seg.start.astimezone(tz)
        end = seg.end.astimezone(tz)
        counted = selectors.duration(seg.counted) if seg.counted else "not counted"
        parts.append(
            f'<rect class="{klass}" x="{x0:.1f}" y="{bar_y}" width="{max(x1 - x0, 0.8):.1f}" '
            f'height="{bar_h}"><title>{escape(seg.label)}: {start:%a %d %b %H:%M} to '
            f"{end:%a %d %b %H:%M} ({counted})</title></rect>"
        )
    days = (last - first).days
    if days <= 21:
        day = first.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
        step = 1 if days <= 10 else 2
        while day <= last:
            if day >= first:
                px = x(day)
                parts.append(
                    f'<line class="sla-tick" x1="{px:.1f}" x2="{px:.1f}" y1="{bar_y}" '
                    f'y2="{bar_y + bar_h + 6}"/><text class="sla-tick-label" x="{px + 3:.1f}" '
                    f'y="{bar_y + bar_h + 18}">{day:%a %d}</text>'
                )
            day = (day + _days(step)).astimezone(tz)
            day = day.replace(hour=0, minute=0, second=0, microsecond=0)
    if first <= now <= last:
        px = x(now)
        parts.append(
            f'<line class="sla-now" x1="{px:.1f}" x2="{px:.1f}" y1="2" y2="{bar_y + bar_h + 4}">'
            "<title>Now</title></line>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


def _days(n: int) -> Any:
    return timedelta(days=n, hours=2)  # past midnight even across a DST change


@login_required
def incident_explain(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _incident(request, pk)
    now = timezone.now()
    explained = selectors.explain_clocks(request.user, incident, now=now)
    viewer_tz = timezone.get_current_timezone()
    rows = []
    for item in explained:
        rows.append(
            {
                "item": item,
                "svg": timeline_svg(
                    item.segments,
                    now,
                    viewer_tz,
                    f"Timeline of {item.definition.name} ({item.metric})",
                ),
                "projected": any(s.projected for s in item.segments),
                "kinds": sorted({s.kind for s in item.segments}, key=list(SEGMENT_KINDS).index)
                if all(s.kind in SEGMENT_KINDS for s in item.segments)
                else sorted({s.kind for s in item.segments}),
            }
        )
    return render(
        request,
        "sla/clocks/explain.html",
        {
            "incident": incident,
            "rows": rows,
            "now": now,
            "segment_kinds": SEGMENT_KINDS,
        },
    )


# --- the likely-to-breach queue --------------------------------------------------------------

WITHIN_CHOICES = [
    ("", "Any time"),
    ("1", "1 hour"),
    ("4", "4 hours"),
    ("8", "8 hours"),
    ("24", "24 hours"),
    ("72", "3 days"),
]
ORDER_CHOICES = [("risk", "Breach risk"), ("due", "Due first"), ("-probability", "Probability")]


class ClockQueueForm(forms.Form):
    team = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    service = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    priority = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "Any")] + [(str(p), f"P{p}") for p in range(1, 6)],
    )
    kind = forms.ChoiceField(required=False, choices=[("", "Any"), *Kind.choices])
    metric = forms.ChoiceField(required=False, choices=[("", "Any"), *Metric.choices])
    within = forms.ChoiceField(required=False, choices=WITHIN_CHOICES, label="Due within")
    ordering = forms.ChoiceField(required=False, choices=ORDER_CHOICES, label="Order by")

    def __init__(self, *args: Any, organization_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        teams = Team.objects.filter(organization_id=organization_id).order_by("name")
        self.fields["team"].choices = [("", "Any")] + [(str(t.pk), t.name) for t in teams]
        services = (
            ConfigurationItem.objects.filter(
                organization_id=organization_id, ci_class__is_service=True
            )
            .order_by("name")
            .values_list("pk", "name")
        )
        self.fields["service"].choices = [("", "Any")] + [(str(pk), n) for pk, n in services]


def _titles(clocks: list[Any]) -> dict[int, str]:
    ids = {c.subject_id for c in clocks if c.subject_type == "incident"}
    return dict(Incident.objects.filter(pk__in=ids).values_list("pk", "title"))


@login_required
def queue(request: HttpRequest) -> HttpResponse:
    user = request.user
    org = _org(request)
    now = timezone.now()
    form = ClockQueueForm(request.GET or None, organization_id=org.pk)
    data: dict[str, Any] = form.cleaned_data if form.is_bound and form.is_valid() else {}
    base = selectors.ClockFilter(
        organization=org.pk,
        team=data.get("team"),
        service=data.get("service"),
        priority=[data["priority"]] if data.get("priority") else None,
        kind=[data["kind"]] if data.get("kind") else None,
        metric=data.get("metric") or None,
        ordering=data.get("ordering") or "risk",
    )
    within = data.get("within")
    try:
        breached_qs = selectors.clocks(user, _copy(base, breached=True, ordering="due"), now=now)
        risk_qs = selectors.clocks(
            user,
            _copy(base, breached=False, breaching_within_hours=float(within) if within else None),
            now=now,
        )
    except FieldError as exc:
        raise Http404(str(exc)) from exc
    breached = [
        selectors.clock_state(c, now) for c in selectors.clock_list_related(breached_qs)[:50]
    ]
    breached_total = breached_qs.count()
    paginator = Paginator(selectors.clock_list_related(risk_qs), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    risky = [selectors.clock_state(c, now) for c in page.object_list]
    titles = _titles([s.clock for s in breached + risky])
    for state in breached + risky:
        state.title = titles.get(state.clock.subject_id, "")  # type: ignore[attr-defined]
    live = selectors.clocks(user, base, now=now)
    counts = {
        "breached": breached_total,
        "within_4h": selectors.clocks(
            user, _copy(base, breached=False, breaching_within_hours=4), now=now
        ).count(),
        "running": live.filter(status="running").count(),
        "paused": live.filter(status="paused").count(),
        "waiting": live.filter(status="waiting").count(),
    }
    chart = hbar_chart(
        [
            {"label": "Breached", "count": counts["breached"], "css": "sla-bar-breached"},
            {"label": "Due in 4 h", "count": counts["within_4h"], "css": "sla-bar-warning"},
            {"label": "Running", "count": counts["running"], "css": "sla-bar-ok"},
            {"label": "Paused", "count": counts["paused"], "css": "sla-bar-paused"},
            {"label": "Other party", "count": counts["waiting"], "css": "sla-bar-paused"},
        ],
        title="Live clocks by status",
    )
    querystring = request.GET.copy()
    querystring.pop("page", None)
    return render(
        request,
        "sla/clocks/queue.html",
        {
            "form": form,
            "breached": breached,
            "breached_total": breached_total,
            "page": page,
            "risky": risky,
            "counts": counts,
            "chart": chart,
            "querystring": querystring.urlencode(),
            "now": now,
        },
    )


def _copy(f: selectors.ClockFilter, **changes: Any) -> selectors.ClockFilter:
    from dataclasses import replace

    return replace(f, **changes)
