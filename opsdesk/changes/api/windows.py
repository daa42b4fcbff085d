"""API routes of maintenance and freeze windows, a change's conflicts and the change
calendar. The iCalendar feed is a plain Django view (`opsdesk.changes.feed`): calendar
clients cannot send a bearer header."""

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from opsdesk.changes import selectors_windows as selectors
from opsdesk.changes import window_actions, windows
from opsdesk.changes.choices import WindowKind
from opsdesk.changes.models import ChangeWindow
from opsdesk.changes.schemas_windows import (
    CalendarFilterIn,
    CalendarOut,
    ChangeConflictsOut,
    WindowFilterIn,
    WindowIn,
    WindowOut,
    WindowPatch,
)
from opsdesk.changes.selectors import access_change
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actions import require
from opsdesk.core.api import ERROR_RESPONSES, Paginated
from opsdesk.core.errors import FieldError
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access_organization

router = Router(tags=["Change calendar"])


def services_of(user: Any, organization_id: int, ids: list[int]) -> list[ConfigurationItem]:
    """CIs of the organisation by id (the action checks they are services), else 422."""
    ids = list(dict.fromkeys(ids))
    found = {
        ci.pk: ci
        for ci in ConfigurationItem.objects.restrict(user, Action.VIEW)
        .filter(pk__in=ids, organization_id=organization_id)
        .select_related("ci_class")
    }
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise FieldError(
            {
                "service_ids": f"No configuration item of this organisation has id {', '.join(missing)}."
            }
        )
    return [found[i] for i in ids]


def _list(request: HttpRequest, kind: str, filters: WindowFilterIn) -> list[ChangeWindow]:
    qs = selectors.change_windows(request.auth, kind=kind)
    if filters.organization_id is not None:
        qs = qs.filter(organization_id=filters.organization_id)
    if not filters.include_retired:
        qs = qs.filter(is_active=True)
    if filters.service_id is not None:
        qs = [
            w
            for w in qs
            if not w.services.all() or filters.service_id in {s.pk for s in w.services.all()}
        ]
    start, end = filters.period_from, filters.period_to
    if start is None and end is None:
        return list(qs)
    if start is not None and end is not None and end <= start:
        raise FieldError({"to": "The end of the period must be after its start."})
    rows = []
    for window in qs:
        lo = start or window.starts_at
        hi = end or max(window.ends_at, lo) + selectors.MAX_PERIOD
        if windows.occurrences(window, lo, hi):
            rows.append(window)
    return rows


def _create(request: HttpRequest, kind: str, payload: WindowIn) -> ChangeWindow:
    user = request.auth
    org = access_organization(user, payload.organization_id)
    require(user, ChangeWindow, Action.ADD, org.pk)
    return window_actions.create_window(
        acting_user=user,
        organization=org,
        kind=kind,
        name=payload.name,
        description=payload.description,
        starts_at=payload.starts_at,
        ends_at=payload.ends_at,
        rrule=payload.rrule,
        services=services_of(user, org.pk, payload.service_ids),
    )


def _update(request: HttpRequest, kind: str, window_id: int, payload: WindowPatch) -> ChangeWindow:
    user = request.auth
    window = selectors.access_window(user, window_id, kind)
    data = payload.dict(exclude_unset=True)
    for name in ("name", "starts_at", "ends_at"):
        if name in data and data[name] is None:
            raise FieldError({name: "Cannot be null."})
    if "service_ids" in data:
        ids = data.pop("service_ids")
        data["services"] = services_of(user, window.organization_id, ids or [])
    return window_actions.update_window(acting_user=user, window=window, **data)


def _retire(request: HttpRequest, kind: str, window_id: int) -> ChangeWindow:
    user = request.auth
    window = selectors.access_window(user, window_id, kind)
    return window_actions.retire_window(acting_user=user, window=window)


# --- Maintenance windows (one path parameter name per kind: a freeze's id is not a maintenance window's)


@router.get(
    "/maintenance-windows",
    response={200: list[WindowOut], **ERROR_RESPONSES},
    summary="Maintenance windows, filtered by organisation, service and a period (from/to: those with an "
    "occurrence in it); retired ones only with include_retired",
)
@paginate(Paginated)
def list_maintenance_windows(request: HttpRequest, filters: Query[WindowFilterIn]):  # type: ignore[no-untyped-def]
    return _list(request, WindowKind.MAINTENANCE, filters)


@router.post(
    "/maintenance-windows",
    response={201: WindowOut, **ERROR_RESPONSES},
    summary="Create a maintenance window (managers); service_ids must be business services of the "
    "organisation, rrule an RFC 5545 rule repeating it",
)
def create_maintenance_window(request: HttpRequest, payload: WindowIn):  # type: ignore[no-untyped-def]
    return Status(201, _create(request, WindowKind.MAINTENANCE, payload))


@router.get(
    "/maintenance-windows/{maintenance_window_id}",
    response={200: WindowOut, **ERROR_RESPONSES},
    summary="A maintenance window",
)
def get_maintenance_window(request: HttpRequest, maintenance_window_id: int):  # type: ignore[no-untyped-def]
    return selectors.access_window(request.auth, maintenance_window_id, WindowKind.MAINTENANCE)


@router.patch(
    "/maintenance-windows/{maintenance_window_id}",
    response={200: WindowOut, **ERROR_RESPONSES},
    summary="Change a maintenance window (409 once retired)",
)
def update_maintenance_window(
    request: HttpRequest, maintenance_window_id: int, payload: WindowPatch
):  # type: ignore[no-untyped-def]
    return _update(request, WindowKind.MAINTENANCE, maintenance_window_id, payload)


@router.delete(
    "/maintenance-windows/{maintenance_window_id}",
    response={200: WindowOut, **ERROR_RESPONSES},
    summary="Retire a maintenance window (kept for the record, no longer applies)",
)
def retire_maintenance_window(request: HttpRequest, maintenance_window_id: int):  # type: ignore[no-untyped-def]
    return _retire(request, WindowKind.MAINTENANCE, maintenance_window_id)


# --- Freeze windows (one path parameter name per kind: a freeze's id is not a maintenance window's)


@router.get(
    "/freeze-windows",
    response={200: list[WindowOut], **ERROR_RESPONSES},
    summary="Freeze windows, filtered by organisation, service and a period (from/to: those with an "
    "occurrence in it); retired ones only with include_retired",
)
@paginate(Paginated)
def list_freeze_windows(request: HttpRequest, filters: Query[WindowFilterIn]):  # type: ignore[no-untyped-def]
    return _list(request, WindowKind.FREEZE, filters)


@router.post(
    "/freeze-windows",
    response={201: WindowOut, **ERROR_RESPONSES},
    summary="Create a freeze window (managers); service_ids must be business services of the "
    "organisation, rrule an RFC 5545 rule repeating it",
)
def create_freeze_window(request: HttpRequest, payload: WindowIn):  # type: ignore[no-untyped-def]
    return Status(201, _create(request, WindowKind.FREEZE, payload))


@router.get(
    "/freeze-windows/{freeze_window_id}",
    response={200: WindowOut, **ERROR_RESPONSES},
    summary="A freeze window",
)
def get_freeze_window(request: HttpRequest, freeze_window_id: int):  # type: ignore[no-untyped-def]
    return selectors.access_window(request.auth, freeze_window_id, WindowKind.FREEZE)


@router.patch(
    "/freeze-windows/{freeze_window_id}",
    response={200: WindowOut, **ERROR_RESPONSES},
    summary="Change a freeze window (409 once retired)",
)
def update_freeze_window(request: HttpRequest, freeze_window_id: int, payload: WindowPatch):  # type: ignore[no-untyped-def]
    return _update(request, WindowKind.FREEZE, freeze_window_id, payload)


@router.delete(
    "/freeze-windows/{freeze_window_id}",
    response={200: WindowOut, **ERROR_RESPONSES},
    summary="Retire a freeze window (kept for the record, no longer applies)",
)
def retire_freeze_window(request: HttpRequest, freeze_window_id: int):  # type: ignore[no-untyped-def]
    return _retire(request, WindowKind.FREEZE, freeze_window_id)


@router.get(
    "/changes/{change_id}/conflicts",
    response={200: ChangeConflictsOut, **ERROR_RESPONSES},
    summary="The change's conflicts computed now (same CI, dependent CI within two CMDB hops, "
    "freeze overlap, outside maintenance windows) with reasons, and the windows it falls in",
)
def change_conflicts(request: HttpRequest, change_id: int):  # type: ignore[no-untyped-def]
    change = access_change(request.auth, change_id)
    report = selectors.change_windows_report(change)
    return {
        "change_id": change.pk,
        "number": change.number,
        "planned_start": change.planned_start,
        "planned_end": change.planned_end,
        "conflicts": report["conflicts"],
        "freezes": report["freezes"],
        "maintenance_windows": report["maintenance"],
        "in_maintenance_window": report["in_maintenance"],
    }


@router.get(
    "/change-calendar",
    response={200: CalendarOut, **ERROR_RESPONSES},
    by_alias=True,
    summary="The change calendar of an organisation for a period (at most 400 days): the "
    "changes planned in it and the occurrences of its maintenance and freeze windows",
)
def change_calendar(request: HttpRequest, filters: Query[CalendarFilterIn]):  # type: ignore[no-untyped-def]
    user = request.auth
    org = access_organization(user, filters.organization_id)
    cal = selectors.calendar(user, org, filters.period_from, filters.period_to)
    return {
        "organization_id": org.pk,
        "time_zone": org.time_zone,
        "from": cal.start,
        "to": cal.end,
        "changes": [
            {
                "id": c.pk,
                "number": c.number,
                "title": c.title,
                "change_type": c.change_type,
                "state": c.state,
                "risk_class": c.risk_class,
                "planned_start": c.planned_start,
                "planned_end": c.planned_end,
                "service": c.service.name if c.service_id else None,
                "cis": sorted(ci.name for ci in c.cis.all()),
                "conflicts": len(c.conflicts or []),
            }
            for c in cal.changes
        ],
        "windows": [
            {
                "window_id": o.window.pk,
                "kind": o.window.kind,
                "name": o.window.name,
                "starts_at": o.starts_at,
                "ends_at": o.ends_at,
                "recurring": bool(o.window.rrule),
                "services": sorted(s.name for s in o.window.services.all()),
            }
            for o in cal.occurrences
        ],
        "truncated": cal.truncated,
    }
