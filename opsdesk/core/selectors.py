"""Reads of the core, always restricted to what the user may see."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from opsdesk.core.errors import FieldError, NotFound
from opsdesk.core.models import AuditRecord, Organization
from opsdesk.core.permissions import Action


def access(queryset: QuerySet[Any], pk: Any, noun: str) -> Any:
    """The row `pk` of an already restricted queryset, or NotFound: "does not exist" and "not
    yours" get the same 404, so ids of other tenants cannot be probed."""
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise NotFound(f"No {noun} matches the given id.")
    return found


def expand_states(values: list[str], *, open_states: Any, states: list[str]) -> list[str]:
    """A list filter's states, with ``open`` standing for every open state; an unknown one is a
    422 naming ``state`` and listing the choices (shared by every ticket list)."""
    out: list[str] = []
    for value in values:
        if value == "open":
            out.extend(open_states)
        elif value in states:
            out.append(value)
        else:
            allowed = ", ".join(["open", *states])
            raise FieldError({"state": f"Unknown state {value!r}; one of: {allowed}."})
    return out


def organizations_for_user(user: Any) -> QuerySet[Organization]:
    return Organization.objects.restrict(user, Action.VIEW)


def access_organization(user: Any, organization_id: int) -> Organization:
    return access(organizations_for_user(user), organization_id, "organisation")


def audit_records(
    user: Any,
    *,
    organization_id: int | None = None,
    actor: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    action: str | None = None,
    request_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    q: str | None = None,
) -> QuerySet[AuditRecord]:
    """The audit trail a user may read (auditors and admins of each organisation), filtered."""
    qs = AuditRecord.objects.restrict(user, Action.VIEW)
    if organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    if actor:
        qs = qs.filter(actor_email__icontains=actor)
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id:
        qs = qs.filter(object_id=object_id)
    if action:
        qs = qs.filter(action=action)
    if request_id:
        qs = qs.filter(request_id=request_id)
    if since is not None:
        qs = qs.filter(timestamp__gte=since)
    if until is not None:
        qs = qs.filter(timestamp__lt=until)
    if q:
        qs = qs.filter(object_repr__icontains=q)
    return qs


def audit_object_types(user: Any) -> list[str]:
    return sorted(
        set(AuditRecord.objects.restrict(user).values_list("object_type", flat=True).distinct())
    )
