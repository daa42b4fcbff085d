"""Reads of the change list and the template catalogue, shared by the API and the pages so
both filter with the same words. Every read starts from `restrict(user, action)`."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from opsdesk.changes.choices import ChangeState, ChangeType, RiskClass
from opsdesk.changes.models import Change, ChangeTemplate
from opsdesk.changes.workflows import NORMAL
from opsdesk.core.errors import FieldError
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access, expand_states

#: ``state=open``: every state a change can still move from.
OPEN_STATES = tuple(s for s in ChangeState.values if s not in NORMAL.final)

#: Sort keys of the list (``-key`` reverses): the columns a person sorts by.
SORTS: dict[str, tuple[str, ...]] = {
    "number": ("number",),
    "title": ("title", "id"),
    "type": ("change_type", "id"),
    "state": ("state", "id"),
    "risk": ("risk_score", "id"),
    "start": ("planned_start", "id"),
    "end": ("planned_end", "id"),
    "opened": ("opened_at", "id"),
}


@dataclass
class ChangeFilter:
    """Every filter of the change list; all optional, combined with AND."""

    organization_id: int | None = None
    state: list[str] | None = None  # values of ChangeState, or "open"
    change_type: list[str] | None = None
    risk_class: list[str] | None = None
    service_id: int | None = None
    ci_id: int | None = None
    assignment_group_id: int | None = None
    assignee_id: int | None = None
    #: Changes whose planned time overlaps [planned_from, planned_to].
    planned_from: datetime | None = None
    planned_to: datetime | None = None
    q: str | None = None  # number or words of the title
    #: Changes the user works on: assignee, change manager or requester.
    mine_of: int | None = None
    sort: str | None = None

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def _choices(values: list[str], allowed: list[str], field: str) -> list[str]:
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise FieldError({field: f"Unknown value {unknown[0]!r}; one of: {', '.join(allowed)}."})
    return values


def _order(sort: str | None) -> tuple[str, ...]:
    if not sort:
        return ("-opened_at", "-id")
    key = sort.lstrip("-")
    if key not in SORTS:
        raise FieldError({"sort": f"One of: {', '.join(SORTS)} (prefix - to reverse)."})
    columns = SORTS[key]
    return tuple(f"-{c}" for c in columns) if sort.startswith("-") else columns


def changes(
    user: Any, filters: ChangeFilter | None = None, action: str = Action.VIEW
) -> QuerySet[Change]:
    f = filters or ChangeFilter()
    qs = Change.objects.restrict(user, action)
    if f.organization_id is not None:
        qs = qs.filter(organization_id=f.organization_id)
    if f.state:
        qs = qs.filter(
            state__in=expand_states(f.state, open_states=OPEN_STATES, states=ChangeState.values)
        )
    if f.change_type:
        qs = qs.filter(change_type__in=_choices(f.change_type, ChangeType.values, "change_type"))
    if f.risk_class:
        qs = qs.filter(risk_class__in=_choices(f.risk_class, RiskClass.values, "risk_class"))
    if f.service_id is not None:
        qs = qs.filter(service_id=f.service_id)
    if f.ci_id is not None:
        qs = qs.filter(
            pk__in=Change.cis.through.objects.filter(configurationitem_id=f.ci_id).values(
                "change_id"
            )
        )
    if f.assignment_group_id is not None:
        qs = qs.filter(assignment_group_id=f.assignment_group_id)
    if f.assignee_id is not None:
        qs = qs.filter(assignee_id=f.assignee_id)
    if f.planned_from is not None and f.planned_to is not None and f.planned_to < f.planned_from:
        raise FieldError({"to": "The end of the period must not be before its start."})
    if f.planned_from is not None:
        qs = qs.filter(
            Q(planned_end__gte=f.planned_from)
            | Q(planned_end__isnull=True, planned_start__gte=f.planned_from)
        )
    if f.planned_to is not None:
        qs = qs.filter(planned_start__lte=f.planned_to)
    if f.mine_of is not None:
        qs = qs.filter(
            Q(assignee_id=f.mine_of) | Q(change_manager_id=f.mine_of) | Q(requested_by_id=f.mine_of)
        )
    if f.q:
        term = f.q.strip()
        if term.upper().startswith("CHG") and term[3:].isdigit():
            qs = qs.filter(number=term.upper())
        else:
            qs = qs.filter(Q(title__icontains=term) | Q(number__iexact=term))
    return qs.order_by(*_order(f.sort))


def list_related(qs: QuerySet[Change]) -> QuerySet[Change]:
    return qs.select_related("service", "assignment_group", "assignee", "change_manager")


def change_detail(user: Any, change_id: int) -> Change:
    """One change with everything its page and the API's detail show."""
    qs = (
        Change.objects.restrict(user, Action.VIEW)
        .select_related(
            "organization",
            "service",
            "assignment_group",
            "assignee",
            "change_manager",
            "requested_by",
            "template",
        )
        .prefetch_related("cis__ci_class")
    )
    return access(qs, change_id, "change")


# --- templates -----------------------------------------------------------------------------


def templates(
    user: Any,
    *,
    organization_id: int | None = None,
    is_active: bool | None = None,
    q: str | None = None,
) -> QuerySet[ChangeTemplate]:
    qs = ChangeTemplate.objects.restrict(user, Action.VIEW)
    if organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    if is_active is not None:
        qs = qs.filter(is_active=is_active)
    if q:
        term = q.strip()
        qs = qs.filter(
            Q(name__icontains=term) | Q(description__icontains=term) | Q(category__icontains=term)
        )
    return (
        qs.select_related("assignment_group")
        .prefetch_related("cis", "match_cis")
        .order_by("name", "id")
    )


def access_template(user: Any, template_id: int, action: str = Action.VIEW) -> ChangeTemplate:
    qs = (
        ChangeTemplate.objects.restrict(user, action)
        .select_related("assignment_group", "organization")
        .prefetch_related("cis", "match_cis")
    )
    return access(qs, template_id, "change template")
