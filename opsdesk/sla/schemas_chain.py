"""API schemas of the SLA -> OLA -> UC chain check and of breach attribution."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from ninja import Field, Schema

from opsdesk.core.api import ObjectId
from opsdesk.sla.chain import Attribution, ChainRow, ClockAttribution, Link, Share, Walk

Priority = Annotated[int, Field(ge=1, le=5)]


class ChainFilterIn(Schema):
    organization: ObjectId
    service: ObjectId | None = Field(None, description="A business service (CI id)")
    priority: Priority | None = None


class LinkOut(Schema):
    kind: str = Field(description="team or supplier")
    team_id: int | None
    vendor_id: int | None
    name: str
    definition_id: int | None = Field(description="The OLA or UC; null: a team with no OLA")
    definition_name: str
    target_seconds: int | None = Field(description="Resolution target, business seconds")
    response_seconds: int | None
    calendar: str
    handled: int = Field(description="Incidents of the service it handled in 90 days")
    on_path: bool
    gap: bool
    fits: bool


class StepOut(Schema):
    label: str
    kind: str
    start: datetime
    end: datetime


class WalkOut(Schema):
    reference: str
    start: datetime
    sla_due: datetime
    end: datetime
    fits: bool
    steps: list[StepOut]


class ChainRowOut(Schema):
    service_id: int | None = Field(description="null: an SLA for all services, no services")
    service_name: str
    priority: int
    sla_id: int
    sla_name: str
    sla_calendar: str
    resolution_seconds: int
    response_seconds: int | None
    verdict: str = Field(description="fits, does_not_fit or gap")
    reasons: list[str]
    path: list[str] = Field(description="The most common handling path (team names)")
    path_incidents: int
    incidents: int
    teams: list[LinkOut]
    suppliers: list[LinkOut]
    walks: list[WalkOut]


class ShareOut(Schema):
    kind: str = Field(description="team, supplier or unassigned")
    team: int | str | None = Field(description="Team id (or name, for imported history)")
    vendor_id: int | None
    name: str
    seconds: int = Field(description="Business seconds of the SLA clock it consumed")
    first_at: datetime
    agreement_id: int | None = Field(description="Its OLA or UC clock's definition")
    agreement_name: str
    target_seconds: int | None
    own_elapsed_seconds: int | None
    over_seconds: int
    breached: bool
    breached_at: datetime | None


class ClockAttributionOut(Schema):
    definition_id: int
    definition_name: str
    metric: str
    status: str
    target_seconds: int
    elapsed_seconds: int
    breached: bool
    breached_at: datetime | None
    summary: str
    reasons: list[str]
    culprit: str | None
    first_over: str | None
    shares: list[ShareOut]


class AttributionOut(Schema):
    incident_id: int
    number: str
    clocks: list[ClockAttributionOut]


def link_out(link: Link) -> dict[str, Any]:
    team = link.key if link.kind == "team" and isinstance(link.key, int) else None
    return {
        "kind": link.kind,
        "team_id": team,
        "vendor_id": link.key if link.kind == "supplier" else None,
        "name": link.name,
        "definition_id": link.definition_id,
        "definition_name": link.definition_name,
        "target_seconds": link.target_seconds,
        "response_seconds": link.response_seconds,
        "calendar": link.calendar if link.definition_id else "",
        "handled": link.handled,
        "on_path": link.on_path,
        "gap": link.gap,
        "fits": link.fits,
    }


def walk_out(walk: Walk) -> dict[str, Any]:
    return {
        "reference": walk.reference,
        "start": walk.start,
        "sla_due": walk.sla_due,
        "end": walk.end,
        "fits": walk.fits,
        "steps": [s.__dict__ for s in walk.steps],
    }


def row_out(row: ChainRow) -> dict[str, Any]:
    return {
        "service_id": row.service_id,
        "service_name": row.service_name,
        "priority": row.priority,
        "sla_id": row.sla_id,
        "sla_name": row.sla_name,
        "sla_calendar": row.sla_calendar,
        "resolution_seconds": row.resolution_seconds,
        "response_seconds": row.response_seconds,
        "verdict": row.verdict,
        "reasons": row.reasons,
        "path": row.path,
        "path_incidents": row.path_incidents,
        "incidents": row.incidents,
        "teams": [link_out(t) for t in row.teams],
        "suppliers": [link_out(s) for s in row.suppliers],
        "walks": [walk_out(w) for w in row.walks],
    }


def share_out(share: Share) -> dict[str, Any]:
    return {
        "kind": share.kind,
        "team": share.key if share.kind == "team" else None,
        "vendor_id": share.key if share.kind == "supplier" else None,
        "name": share.name,
        "seconds": round(share.seconds),
        "first_at": share.first_at,
        "agreement_id": share.definition_id,
        "agreement_name": share.definition_name,
        "target_seconds": share.target_seconds,
        "own_elapsed_seconds": (
            round(share.own_elapsed_seconds) if share.own_elapsed_seconds is not None else None
        ),
        "over_seconds": round(share.over_seconds),
        "breached": share.breached,
        "breached_at": share.breached_at,
    }


def clock_out(clock: ClockAttribution) -> dict[str, Any]:
    return {
        "definition_id": clock.definition_id,
        "definition_name": clock.definition_name,
        "metric": str(clock.metric),
        "status": clock.status,
        "target_seconds": clock.target_seconds,
        "elapsed_seconds": round(clock.elapsed_seconds),
        "breached": clock.breached,
        "breached_at": clock.breached_at,
        "summary": clock.summary,
        "reasons": clock.reasons,
        "culprit": clock.culprit.name if clock.culprit else None,
        "first_over": clock.first_over.name if clock.first_over else None,
        "shares": [share_out(s) for s in clock.shares],
    }


def attribution_out(found: Attribution) -> dict[str, Any]:
    return {
        "incident_id": found.incident_id,
        "number": found.number,
        "clocks": [clock_out(c) for c in found.clocks],
    }
