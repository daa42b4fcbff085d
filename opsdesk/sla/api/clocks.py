"""API routes: service-level clocks — the likely-to-breach list and an incident's clocks
explained segment by segment. Requesters see neither: clocks are not in their role."""

from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router
from ninja.pagination import paginate

from opsdesk.core.api import ERROR_RESPONSES, Paginated
from opsdesk.sla import selectors
from opsdesk.sla.models import Clock
from opsdesk.sla.schemas_clocks import ClockFilterIn, ClockOut, IncidentSlaOut

router = Router(tags=["Service-level clocks"])


def clock_out(clock: Clock, now: Any) -> dict[str, Any]:
    state = selectors.clock_state(clock, now)
    return {
        "id": clock.pk,
        "organization_id": clock.organization_id,
        "definition": {"id": clock.definition_id, "name": clock.definition.name},
        "kind": clock.kind,
        "metric": clock.metric,
        "subject_type": clock.subject_type,
        "subject_id": clock.subject_id,
        "number": clock.number,
        "priority": clock.priority,
        "team": {"id": clock.team.pk, "name": clock.team.name} if clock.team else None,
        "service": {"id": clock.service.pk, "name": clock.service.name} if clock.service else None,
        "vendor_id": clock.vendor_id,
        "status": clock.status,
        "label": state.label,
        "target_seconds": clock.target_seconds,
        "remaining_seconds": round(state.remaining),
        "percent": round(state.percent, 1),
        "started_at": clock.started_at,
        "stopped_at": clock.stopped_at,
        "due_at": clock.due_at,
        "breached": state.breached,
        "breached_at": clock.breached_at,
        "breach_probability": clock.breach_probability,
        "business_hours": state.business_hours,
        "computed_at": clock.computed_at,
    }


class _Page:
    """A paginated queryset whose rows are turned into `ClockOut` dicts when sliced."""

    def __init__(self, qs: Any, now: Any) -> None:
        self.qs, self.now = qs, now

    def __getitem__(self, item: slice) -> list[dict[str, Any]]:
        return [clock_out(c, self.now) for c in self.qs[item]]

    def count(self) -> int:
        return self.qs.count()

    def __len__(self) -> int:
        return self.count()


@router.get(
    "/sla/clocks",
    response={200: list[ClockOut], **ERROR_RESPONSES},
    summary="Service-level clocks (live by default), most likely to breach first",
)
@paginate(Paginated)
def list_clocks(request: HttpRequest, filters: Query[ClockFilterIn]):  # type: ignore[no-untyped-def]
    now = timezone.now()
    f = selectors.ClockFilter(**filters.dict())
    return _Page(selectors.clock_list_related(selectors.clocks(request.auth, f, now=now)), now)


def segment_out(seg: selectors.ExplainedSegment) -> dict[str, Any]:
    return {
        "start": seg.start,
        "end": seg.end,
        "kind": seg.kind,
        "label": seg.label,
        "counted_seconds": round(seg.counted),
        "elapsed_after_seconds": round(seg.elapsed_after),
        "projected": seg.projected,
        "holder": seg.holder,
    }


def explained_out(item: selectors.ExplainedClock) -> dict[str, Any]:
    cal = item.calendar
    return {
        "definition": {"id": item.definition.pk, "name": item.definition.name},
        "kind": item.definition.kind,
        "metric": item.metric,
        "status": item.status,
        "label": item.label,
        "priority": item.priority,
        "target_seconds": item.target_seconds,
        "elapsed_seconds": round(item.elapsed_seconds),
        "paused_seconds": round(item.paused_seconds),
        "percent": round(item.percent, 1),
        "started_at": item.started_at,
        "stopped_at": item.stopped_at,
        "due_at": item.due_at,
        "breached_at": item.breached_at,
        "resets": item.resets,
        "crossings": [{"percent": p, "at": at} for p, at in item.crossings],
        "calendar": {
            "id": cal.pk,
            "name": cal.name,
            "time_zone": cal.time_zone,
            "always_open": cal.always_open,
        }
        if cal is not None
        else None,
        "time_zone": item.time_zone,
        "calendar_reason": item.calendar_reason,
        "calendar_why": item.calendar_why,
        "breach_probability": item.breach_probability,
        "segments": [segment_out(s) for s in item.segments],
        "steps": item.steps,
        "summary": item.summary,
    }


@router.get(
    "/incidents/{incident_id}/sla",
    response={200: IncidentSlaOut, **ERROR_RESPONSES},
    summary="An incident's clocks replayed from its history: calendar, segments, due time",
)
def incident_sla(request: HttpRequest, incident_id: int):  # type: ignore[no-untyped-def]
    user = request.auth
    incident = selectors.access_incident_clocks(user, incident_id)
    now = timezone.now()
    return {
        "incident_id": incident.pk,
        "number": incident.number,
        "now": now,
        "clocks": [explained_out(c) for c in selectors.explain_clocks(user, incident, now=now)],
    }
