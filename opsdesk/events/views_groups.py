"""The alert-group pages: the live list (htmx polling, paused while the tab is hidden), the
group page (events timeline, topology graph with the suspected cause, root-cause candidates
with their evidence, why each alert joined, merge / split / resolve) and the alert list with
its "unbound" tab (events whose CI could not be found, so the CMDB can be fixed)."""

from __future__ import annotations

import importlib
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from opsdesk.cmdb.models import ConfigurationItem, Relationship
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.permissions import Action
from opsdesk.events.choices import EventStatus, GroupState, Method
from opsdesk.events.forms import AlertFilterForm, GroupFilterForm, MergeForm, NoteForm, SplitForm
from opsdesk.events.models import Alert, AlertEvent, AlertGroup, CorrelationDecision, Silence
from opsdesk.events.views import can, in_org, org_for, partial, report, subnav_for, tabs

PAGE_SIZE = 50
#: How often the live list refreshes itself (seconds); the page says so.
POLL_SECONDS = 5
TIMELINE_LIMIT = 300
GRAPH_LIMIT = 150
#: Neighbours drawn around a group's CIs: up to this many CIs in all, but at least the minimum.
NEIGHBOURS_UP_TO = 40
NEIGHBOURS_MIN = 6
GROUP_TABS = (("open", "Open"), ("resolved", "Resolved"), ("all", "All"))
ALERT_TABS = (
    ("firing", "Firing"),
    ("resolved", "Resolved"),
    ("unbound", "Unbound"),
    ("suppressed", "Suppressed"),
    ("all", "All"),
)
METHOD_LABELS = dict(Method.choices)
#: Labels that make a good silence by themselves (the rest of an alert's labels are offered
#: too, but these come first).
SILENCE_FIRST = ("alertname", "host.name", "service.name", "instance", "job", "namespace")


def group_actions() -> Any:
    """`opsdesk.events.group_actions` (merge, split, resolve), imported when used."""
    return importlib.import_module("opsdesk.events.group_actions")


# --- the group list ------------------------------------------------------------------------


def _groups(request: HttpRequest, org: Any, tab: str, filters: dict[str, Any]) -> Any:
    qs = AlertGroup.objects.restrict(request.user, Action.VIEW).filter(organization_id=org.pk)
    if tab == "open":
        qs = qs.filter(state=GroupState.OPEN)
    elif tab == "resolved":
        qs = qs.filter(state__in=[GroupState.RESOLVED, GroupState.MERGED])
    if filters.get("severity"):
        qs = qs.filter(severity=filters["severity"])
    if filters.get("service"):
        qs = qs.filter(service=filters["service"])
    if filters.get("q"):
        term = filters["q"]
        qs = qs.filter(Q(title__icontains=term) | Q(number__iexact=term))
    return qs.select_related("service", "incident").order_by("-last_event_at", "-id")


@login_required
def group_list(request: HttpRequest) -> HttpResponse:
    org = org_for(request)
    tab = request.GET.get("tab", "open")
    tab = tab if tab in dict(GROUP_TABS) else "open"
    form = GroupFilterForm(request.GET or None, organization=org)
    filters = form.filters() if form.is_bound else {}
    page = Paginator(_groups(request, org, tab, filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    querystring = request.GET.copy()
    querystring.pop("page", None)
    now = timezone.now()
    context = {
        "form": form,
        "page": page,
        "groups": [_row(g, now) for g in page.object_list],
        "tab": tab,
        "tabs": tabs(request, GROUP_TABS),
        "querystring": querystring.urlencode(),
        "poll_url": request.get_full_path(),
        "poll_seconds": POLL_SECONDS,
        "subnav": subnav_for(request),
        "subnav_here": "groups",
        "now": now,
    }
    template = "events/groups.html#results" if partial(request) else "events/groups.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _row(group: AlertGroup, now: datetime) -> dict[str, Any]:
    cause = (group.root_causes or [None])[0] if isinstance(group.root_causes, list) else None
    return {
        "g": group,
        "cause": cause if isinstance(cause, dict) else None,
        "ago": _duration(now - group.last_event_at),
    }


# --- the group page ------------------------------------------------------------------------


def group_in_page(request: HttpRequest, group_id: int) -> tuple[Any, AlertGroup]:
    org = org_for(request)
    return org, in_org(request, AlertGroup, group_id, org, "alert group")


def fault_onset(group: AlertGroup) -> tuple[datetime, str]:
    """The fault onset MTTD counts from: the change identified as the cause, when it was
    implemented before the first event; else the group's earliest event."""
    change = group.cause_change
    started = change.actual_start if change is not None else None
    if started is not None and started < group.onset_at:
        return started, f"the implementation of {change.number}"
    return group.onset_at, "the first event"


def _duration(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds and minutes < 10 else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} d {hours % 24} h"


def mttd(group: AlertGroup, now: datetime) -> dict[str, Any]:
    onset, basis = fault_onset(group)
    if group.incident is not None:
        return {
            "value": _duration(group.incident.opened_at - onset),
            "basis": basis,
            "detected": True,
        }
    return {"value": _duration(now - onset), "basis": basis, "detected": False}


def _timeline(group: AlertGroup) -> list[AlertEvent]:
    rows = (
        AlertEvent.objects.filter(organization_id=group.organization_id)
        # The group's own rows, and its alerts' rows since its onset (an alert that fired in
        # an earlier, resolved group keeps that history there).
        .filter(Q(group=group) | Q(alert__group=group, at__gte=group.onset_at))
        .select_related("alert", "alert__ci")
        .order_by("-at", "-id")[:TIMELINE_LIMIT]
    )
    return list(reversed(list(rows)))


def _candidates(group: AlertGroup) -> list[dict[str, Any]]:
    out = []
    for rank, row in enumerate(group.root_causes or [], start=1):
        if not isinstance(row, dict):
            continue
        evidence = row.get("evidence") or []
        out.append(
            {
                "rank": rank,
                "ci_id": row.get("ci_id"),
                "ci": row.get("ci") or "—",
                "ci_class": row.get("ci_class") or "",
                "score": row.get("score"),
                "evidence": [str(e) for e in evidence] if isinstance(evidence, list) else [],
                "change_id": row.get("change_id"),
                "change": row.get("change") or "",
            }
        )
    return out


@login_required
def group_detail(request: HttpRequest, group_id: int) -> HttpResponse:
    org, group = group_in_page(request, group_id)
    now = timezone.now()
    alerts = list(
        group.alerts.select_related("ci", "ci__ci_class").order_by("starts_at", "id")[:500]
    )
    decisions = list(
        CorrelationDecision.objects.filter(group=group)
        .select_related("alert", "actor")
        .order_by("at", "id")[:500]
    )
    can_change = can(request, AlertGroup, Action.CHANGE)
    others = []
    if can_change and group.state == GroupState.OPEN:
        others = list(
            AlertGroup.objects.restrict(request.user, Action.CHANGE)
            .filter(organization_id=org.pk, state=GroupState.OPEN)
            .exclude(pk=group.pk)
            .order_by("-last_event_at")[:100]
        )
    merged_from = list(group.merged_groups.order_by("number")[:50])
    context = {
        "group": group,
        "alerts": alerts,
        "timeline": _timeline(group),
        "decisions": [{"d": d, "method": METHOD_LABELS.get(d.method, d.method)} for d in decisions],
        "candidates": _candidates(group),
        "mttd": mttd(group, now),
        "can_change": can_change and group.state == GroupState.OPEN,
        "can_silence": can(request, Silence, Action.ADD),
        "others": others,
        "merged_from": merged_from,
        "subnav": subnav_for(request),
        "subnav_here": "groups",
        "now": now,
    }
    return render(request, "events/group_detail.html", context)


@login_required
def group_graph(request: HttpRequest, group_id: int) -> JsonResponse:
    """The group's CIs, the root-cause candidates and their direct neighbours in the CMDB,
    as JSON for the topology graph on the group page."""
    org, group = group_in_page(request, group_id)
    alerting: dict[int, dict[str, Any]] = {}
    for ci_id, status, severity in group.alerts.filter(ci__isnull=False).values_list(
        "ci_id", "status", "severity"
    ):
        entry = alerting.setdefault(ci_id, {"firing": 0, "resolved": 0, "severity": severity})
        entry["firing" if status == EventStatus.FIRING else "resolved"] += 1
    candidates = [c for c in _candidates(group) if isinstance(c["ci_id"], int)]
    cause_id = candidates[0]["ci_id"] if candidates else None
    every = set(alerting) | {c["ci_id"] for c in candidates}
    core = set(sorted(every)[:GRAPH_LIMIT])
    visible = ConfigurationItem.objects.restrict(request.user, Action.VIEW).filter(
        organization_id=org.pk
    )
    rels = list(
        Relationship.objects.filter(organization_id=org.pk)
        .filter(Q(source_id__in=core) | Q(target_id__in=core))
        .values_list("source_id", "target_id", "type__key")[: GRAPH_LIMIT * 3]
    )
    touching: Counter[int] = Counter()
    for source, target, _ in rels:
        for end in {source, target} - core:
            touching[end] += 1
    rows = {
        row["id"]: row
        for row in visible.filter(pk__in=core | set(touching)).values(
            "id", "name", "criticality", "ci_class__label", "ci_class__is_service"
        )
    }
    # Neighbours give context but crowd a big group out: the business services first, then
    # the CIs joining several of the group's CIs, within a budget that shrinks as it grows.
    budget = max(NEIGHBOURS_MIN, NEIGHBOURS_UP_TO - len(core))
    ranked = sorted(
        (n for n in touching if n in rows),
        key=lambda n: (not rows[n]["ci_class__is_service"], -touching[n], n),
    )
    hidden = ranked[budget:]
    for n in hidden:
        del rows[n]
    rank = {c["ci_id"]: c["rank"] for c in candidates}
    nodes = []
    for ci_id, row in rows.items():
        role = (
            "cause"
            if ci_id == cause_id
            else "candidate"
            if ci_id in rank
            else "alerting"
            if ci_id in alerting
            else "neighbour"
        )
        nodes.append(
            {
                "id": ci_id,
                "name": row["name"],
                "class_label": row["ci_class__label"],
                "is_service": row["ci_class__is_service"],
                "criticality": row["criticality"],
                "role": role,
                "rank": rank.get(ci_id),
                "alerts": alerting.get(ci_id, {}),
                "url": reverse("cmdb-ci-detail", args=[ci_id]),
            }
        )
    edges = [{"source": s, "target": t, "type": k} for s, t, k in rels if s in rows and t in rows]
    return JsonResponse(
        {
            "group": group.number,
            "cause_id": cause_id,
            "nodes": nodes,
            "edges": edges,
            "hidden_neighbours": len(hidden),
            "truncated": len(every) > len(core) or len(rels) >= GRAPH_LIMIT * 3,
        }
    )


def _act(request: HttpRequest, fn: Any, success: str, **kwargs: Any) -> Any:
    try:
        result = fn(acting_user=request.user, **kwargs)
    except (FieldError, Conflict) as exc:
        report(request, exc)
        return None
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    messages.success(request, success)
    return result if result is not None else True


def _back(group: AlertGroup) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("events-group", args=[group.pk]))


def _changeable(request: HttpRequest, group_id: int) -> tuple[Any, AlertGroup]:
    org, group = group_in_page(request, group_id)
    if not can(request, AlertGroup, Action.CHANGE):
        raise DjangoPermissionDenied("You may not change alert groups here.")
    return org, group


@require_POST
@login_required
def group_merge(request: HttpRequest, group_id: int) -> HttpResponse:
    """Fold the chosen open group into this one."""
    org, group = _changeable(request, group_id)
    form = MergeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Group: choose the open group to merge into this one.")
        return _back(group)
    other = (
        AlertGroup.objects.restrict(request.user, Action.CHANGE)
        .filter(pk=form.cleaned_data["other"], organization_id=org.pk)
        .first()
    )
    if other is None:
        raise Http404("No alert group matches the given id.")
    _act(
        request,
        group_actions().merge_groups,
        f"{other.number} merged into {group.number}.",
        target=group,
        others=[other],
        note=form.cleaned_data.get("note") or "",
    )
    return _back(group)


@require_POST
@login_required
def group_split(request: HttpRequest, group_id: int) -> HttpResponse:
    """Move the ticked alerts of this group into a new group."""
    _org, group = _changeable(request, group_id)
    form = SplitForm(request.POST)
    form.is_valid()
    ids = form.alert_ids()
    alerts = list(group.alerts.filter(pk__in=ids)) if ids else []
    if not alerts:
        messages.error(request, "Alerts: tick the alerts to move into a new group.")
        return _back(group)
    if len(alerts) != len(set(ids)):
        raise Http404("An alert of another group was chosen.")
    new = _act(
        request,
        group_actions().split_group,
        f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''} moved to a new group.",
        group=group,
        alerts=alerts,
        note=form.cleaned_data.get("note") or "",
    )
    if isinstance(new, AlertGroup):
        return HttpResponseRedirect(reverse("events-group", args=[new.pk]))
    return _back(group)


@require_POST
@login_required
def group_resolve(request: HttpRequest, group_id: int) -> HttpResponse:
    _org, group = _changeable(request, group_id)
    form = NoteForm(request.POST)
    form.is_valid()
    _act(
        request,
        group_actions().resolve_group,
        f"{group.number} resolved.",
        group=group,
        note=form.cleaned_data.get("note") or "",
    )
    return _back(group)


# --- alerts --------------------------------------------------------------------------------


def _alerts(request: HttpRequest, org: Any, tab: str, filters: dict[str, Any]) -> Any:
    qs = Alert.objects.restrict(request.user, Action.VIEW).filter(organization_id=org.pk)
    if tab == "firing":
        qs = qs.filter(status=EventStatus.FIRING, suppressed_by="")
    elif tab == "resolved":
        qs = qs.filter(status=EventStatus.RESOLVED)
    elif tab == "unbound":
        qs = qs.filter(ci__isnull=True)
    elif tab == "suppressed":
        qs = qs.exclude(suppressed_by="")
    if filters.get("severity"):
        qs = qs.filter(severity=filters["severity"])
    if filters.get("source"):
        qs = qs.filter(source=filters["source"])
    if filters.get("q"):
        term = filters["q"]
        qs = qs.filter(Q(title__icontains=term) | Q(description__icontains=term))
    return qs.select_related("ci", "group", "integration").order_by("-last_seen", "-id")


@login_required
def alert_list(request: HttpRequest) -> HttpResponse:
    org = org_for(request)
    tab = request.GET.get("tab", "firing")
    tab = tab if tab in dict(ALERT_TABS) else "firing"
    form = AlertFilterForm(request.GET or None)
    filters = form.filters() if form.is_bound else {}
    page = Paginator(_alerts(request, org, tab, filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    querystring = request.GET.copy()
    querystring.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "alerts": page.object_list,
        "tab": tab,
        "tabs": tabs(request, ALERT_TABS),
        "querystring": querystring.urlencode(),
        "subnav": subnav_for(request),
        "subnav_here": "alerts",
        "can_silence": can(request, Silence, Action.ADD),
        "can_fix_cmdb": can(request, ConfigurationItem, Action.CHANGE),
    }
    template = "events/alerts.html#results" if partial(request) else "events/alerts.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
def alert_detail(request: HttpRequest, alert_id: int) -> HttpResponse:
    org = org_for(request)
    alert = in_org(request, Alert, alert_id, org, "alert")
    history = list(alert.history.order_by("-at", "-id")[:200])
    decisions = list(alert.decisions.select_related("group", "actor").order_by("at", "id"))
    return render(
        request,
        "events/alert_detail.html",
        {
            "alert": alert,
            "history": history,
            "decisions": [
                {"d": d, "method": METHOD_LABELS.get(d.method, d.method)} for d in decisions
            ],
            "can_silence": can(request, Silence, Action.ADD),
            "subnav": subnav_for(request),
            "subnav_here": "alerts",
        },
    )
