"""Reads of incidents, always restricted to what the user may see. The queue page, the API
list and saved views share `incidents()` so a filter means the same thing everywhere."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from opsdesk.core.errors import FieldError
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access, expand_states
from opsdesk.servicedesk.choices import OPEN_STATES, IncidentState
from opsdesk.servicedesk.models import Incident

#: Sort keys a list may be ordered by (prefix ``-`` for descending).
SORTS = {
    "opened": "opened_at",
    "priority": "priority",
    "updated": "updated_at",
    "number": "id",
    "state": "state",
    "resolved": "resolved_at",
}
DEFAULT_SORT = ["priority", "-opened"]


@dataclass
class IncidentFilter:
    """Every filter of the incident queue; all optional, combined with AND."""

    organization: int | None = None
    state: list[str] | None = None  # values of IncidentState, or "open"
    priority: list[int] | None = None
    assignment_group: int | None = None
    assignee: int | None = None
    assigned_to_me: bool = False
    my_teams: bool = False
    unassigned: bool = False
    requester: int | None = None
    service: int | None = None
    ci: int | None = None
    category: int | None = None
    channel: str | None = None
    is_major: bool | None = None
    problem: int | None = None
    opened_after: datetime | None = None
    opened_before: datetime | None = None
    q: str | None = None  # number or words of the title
    sort: list[str] | None = None

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def _states(values: list[str]) -> list[str]:
    return expand_states(values, open_states=OPEN_STATES, states=list(IncidentState.values))


def order_by(qs: QuerySet[Incident], sort: list[str] | None) -> QuerySet[Incident]:
    keys = sort or DEFAULT_SORT
    order: list[str] = []
    for key in keys:
        desc = key.startswith("-")
        name = SORTS.get(key.lstrip("-"))
        if name is None:
            raise FieldError({"sort": f"Unknown sort {key!r}; one of: {', '.join(SORTS)}."})
        order.append(f"-{name}" if desc else name)
    if "id" not in order and "-id" not in order:
        order.append("-id")
    return qs.order_by(*order)


def incidents(
    user: Any, filters: IncidentFilter | None = None, action: str = Action.VIEW
) -> QuerySet[Incident]:
    """The incidents `user` may see, filtered and sorted."""
    f = filters or IncidentFilter()
    qs = Incident.objects.restrict(user, action)
    if f.organization is not None:
        qs = qs.filter(organization_id=f.organization)
    if f.state:
        qs = qs.filter(state__in=_states(f.state))
    if f.priority:
        bad = [p for p in f.priority if p not in (1, 2, 3, 4, 5)]
        if bad:
            raise FieldError({"priority": "Priorities are 1 to 5."})
        qs = qs.filter(priority__in=f.priority)
    if f.assignment_group is not None:
        qs = qs.filter(assignment_group_id=f.assignment_group)
    if f.assignee is not None:
        qs = qs.filter(assignee_id=f.assignee)
    if f.assigned_to_me:
        qs = qs.filter(assignee_id=getattr(user, "pk", None))
    if f.my_teams:
        qs = qs.filter(assignment_group__members=getattr(user, "pk", None))
    if f.unassigned:
        qs = qs.filter(assignee__isnull=True)
    if f.requester is not None:
        qs = qs.filter(requester_id=f.requester)
    if f.service is not None:
        qs = qs.filter(service_id=f.service)
    if f.ci is not None:
        qs = qs.filter(ci_id=f.ci)
    if f.category is not None:
        qs = qs.filter(Q(category_id=f.category) | Q(subcategory_id=f.category))
    if f.channel:
        qs = qs.filter(channel=f.channel)
    if f.is_major is not None:
        qs = qs.filter(is_major=f.is_major)
    if f.problem is not None:
        qs = qs.filter(problem_id=f.problem)
    if f.opened_after is not None:
        qs = qs.filter(opened_at__gte=f.opened_after)
    if f.opened_before is not None:
        qs = qs.filter(opened_at__lt=f.opened_before)
    if f.q:
        term = f.q.strip()
        if term.upper().startswith("INC") and term[3:].isdigit():
            qs = qs.filter(number=term.upper())
        else:
            qs = qs.filter(Q(title__icontains=term) | Q(number__iexact=term))
    return order_by(qs, f.sort)


def list_related(qs: QuerySet[Incident]) -> QuerySet[Incident]:
    """What a list row shows, loaded without a query per row."""
    return qs.select_related(
        "organization", "assignment_group", "assignee", "requester", "service", "ci"
    )


def access_incident(user: Any, pk: Any, action: str = Action.VIEW) -> Incident:
    return access(Incident.objects.restrict(user, action), pk, "incident")
