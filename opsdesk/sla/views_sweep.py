"""Pages of the recompute log (/sla/recomputes/): every recomputation of clocks after a
calendar or definition changed (or by hand with ``opsdesk sla recompute``), what moved,
and the warnings and breaches the sweep recorded lately with the escalations it performed.

Readable by the roles that read definitions (agents, managers, auditors, admins) of the
current organisation; anyone else gets a 404.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from opsdesk.core.permissions import Action, has_permission
from opsdesk.servicedesk.charts import hbar_chart
from opsdesk.sla.models import ClockEvent, Recompute

PAGE_SIZE = 25
#: Recomputations in the chart, and recent warnings and breaches listed.
CHART_ROWS = 12
RECENT_EVENTS = 20


def _org(request: HttpRequest) -> Any:
    org = request.organization
    if org is None or not has_permission(request.user, Recompute, Action.VIEW, org.pk):
        raise Http404("No service-level log here.")
    return org


def _recomputes(request: HttpRequest, org: Any) -> Any:
    return (
        Recompute.objects.restrict(request.user, Action.VIEW)
        .filter(organization=org)
        .select_related("actor")
        .order_by("-at", "-id")
    )


def _action_text(action: dict[str, Any]) -> str:
    name = action.get("action", "")
    if name == "notify":
        who = ", ".join(action.get("names") or []) or "nobody"
        text = f"Notified {who}"
    elif name == "reassign":
        text = f"Reassigned to {action.get('team_name') or action.get('team')}"
    elif name == "raise_priority":
        text = (
            f"Priority P{action['from']} → P{action['to']}"
            if action.get("done")
            else "Raise priority"
        )
    else:
        text = str(name)
    if not action.get("done"):
        text += f" (not done: {action.get('reason') or 'nothing to do'})"
    return text


@login_required
def recompute_log(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    qs = _recomputes(request, org)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    latest = list(qs[:CHART_ROWS])
    chart = (
        hbar_chart(
            [
                {
                    "label": f"{timezone.localtime(r.at):%d %b %H:%M}",
                    "count": r.changed,
                    "css": "swp-bar-moved",
                }
                for r in reversed(latest)
            ],
            title="Due times moved by each recomputation",
            width=420,
        )
        if latest
        else ""
    )
    events = list(
        ClockEvent.objects.restrict(request.user, Action.VIEW)
        .filter(organization=org)
        .select_related("clock", "clock__definition")
        .order_by("-at", "-id")[:RECENT_EVENTS]
    )
    rows = [{"event": e, "actions": [_action_text(a) for a in e.actions or []]} for e in events]
    return render(
        request,
        "sla/sweep/recompute_log.html",
        {"page": page, "chart": chart, "events": rows, "querystring": ""},
    )


@login_required
def recompute_detail(request: HttpRequest, recompute_id: int) -> HttpResponse:
    org = _org(request)
    log = _recomputes(request, org).filter(pk=recompute_id).first()
    if log is None:
        raise Http404("No recomputation matches the given id.")
    return render(request, "sla/sweep/recompute_detail.html", {"log": log})
