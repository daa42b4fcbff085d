"""Reads of alert groups and alerts, always restricted to what the user may see: another
organisation's group or alert is a 404, as if it did not exist."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from opsdesk.core.errors import FieldError
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access
from opsdesk.events.choices import EventStatus, GroupState, Severity
from opsdesk.events.models import Alert, AlertEvent, AlertGroup, CorrelationDecision

#: How many alerts, decisions and events a group's detail carries (newest kept).
DETAIL_LIMIT = 500


def _choice(name: str, value: str | None, choices: list[str]) -> str | None:
    if value is None or value == "":
        return None
    if value not in choices:
        raise FieldError({name: f"Unknown {name} {value!r}; one of: {', '.join(choices)}."})
    return value


def groups_for(
    user: Any,
    *,
    organization_id: int | None = None,
    state: str | None = None,
    service_id: int | None = None,
    severity: str | None = None,
    q: str | None = None,
) -> QuerySet[AlertGroup]:
    """Alert groups the user may see, latest activity first, filtered."""
    qs = AlertGroup.objects.restrict(user, Action.VIEW).select_related(
        "service", "incident", "cause_change"
    )
    if organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    state = _choice("state", state, list(GroupState.values))
    if state:
        qs = qs.filter(state=state)
    if service_id is not None:
        qs = qs.filter(service_id=service_id)
    severity = _choice("severity", severity, list(Severity.values))
    if severity:
        qs = qs.filter(severity=severity)
    if q:
        qs = qs.filter(Q(title__icontains=q) | Q(number__iexact=q))
    return qs.order_by("-last_event_at", "-id")


def group_for(user: Any, pk: int, action: str = Action.VIEW) -> AlertGroup:
    """One group the user may `action`, else NotFound."""
    return access(
        AlertGroup.objects.restrict(user, action).select_related(
            "service", "incident", "cause_change", "merged_into"
        ),
        pk,
        "alert group",
    )


def alerts_for(
    user: Any,
    *,
    organization_id: int | None = None,
    unbound: bool | None = None,
    status: str | None = None,
    group_id: int | None = None,
    ci_id: int | None = None,
    q: str | None = None,
) -> QuerySet[Alert]:
    """Alerts the user may see, last seen first. ``unbound=True``: no CI found for them."""
    qs = Alert.objects.restrict(user, Action.VIEW).select_related("ci", "group")
    if organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    if unbound is not None:
        qs = qs.filter(ci__isnull=unbound)
    status = _choice("status", status, list(EventStatus.values))
    if status:
        qs = qs.filter(status=status)
    if group_id is not None:
        qs = qs.filter(group_id=group_id)
    if ci_id is not None:
        qs = qs.filter(ci_id=ci_id)
    if q:
        qs = qs.filter(Q(title__icontains=q) | Q(fingerprint=q) | Q(external_id=q))
    return qs.order_by("-last_seen", "-id")


def group_alerts(group: AlertGroup) -> list[Alert]:
    return list(
        Alert.objects.filter(group=group)
        .select_related("ci")
        .order_by("starts_at", "id")[:DETAIL_LIMIT]
    )


def group_decisions(group: AlertGroup) -> list[CorrelationDecision]:
    rows = CorrelationDecision.objects.filter(group=group).select_related("alert", "actor")
    return list(reversed(rows.order_by("-at", "-id")[:DETAIL_LIMIT]))


def group_events(group: AlertGroup, limit: int = DETAIL_LIMIT) -> list[AlertEvent]:
    """The group's timeline (oldest first), its latest `limit` entries."""
    rows = AlertEvent.objects.filter(group=group).select_related("alert")
    return list(reversed(rows.order_by("-at", "-id")[:limit]))


def groups_of_incident(user: Any, incident: Any) -> list[AlertGroup]:
    """The open and resolved (not merged-away) groups feeding an incident, for its page."""
    return list(
        AlertGroup.objects.restrict(user, Action.VIEW)
        .filter(incident_id=incident.pk, organization_id=incident.organization_id)
        .exclude(state=GroupState.MERGED)
        .order_by("onset_at", "id")
    )
