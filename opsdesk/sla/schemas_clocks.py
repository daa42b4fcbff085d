"""API schemas of service-level clocks: the clock list and an incident's clocks explained."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Field, Schema

from opsdesk.core.api import ObjectId


class Ref(Schema):
    id: int
    name: str


class ClockFilterIn(Schema):
    organization: ObjectId | None = None
    status: list[str] | None = Field(
        None, max_length=10, description="Statuses, or 'live' (running, paused, waiting; default)"
    )
    breached: bool | None = Field(None, description="Only breached (true) or not breached (false)")
    kind: list[Literal["sla", "ola", "uc"]] | None = Field(None, max_length=3)
    metric: Literal["response", "resolution"] | None = None
    team: ObjectId | None = None
    service: ObjectId | None = None
    priority: list[Annotated[int, Field(ge=1, le=5)]] | None = Field(None, max_length=5)
    breaching_within_hours: float | None = Field(
        None, gt=0, le=8784, description="Running clocks due within this many hours"
    )
    min_probability: float | None = Field(None, ge=0, le=1)
    ordering: Literal["risk", "due", "-due", "probability", "-probability"] = Field(
        "risk", description="risk: breach probability (highest first), then due time"
    )


class ClockOut(Schema):
    id: int
    organization_id: int
    definition: Ref
    kind: str
    metric: str
    subject_type: str
    subject_id: int
    number: str
    priority: int
    team: Ref | None
    service: Ref | None
    vendor_id: int | None
    status: str
    label: str = Field(description="Running, Paused, Met, Breached, With another party, ...")
    target_seconds: int
    remaining_seconds: int = Field(
        description="Business seconds left as of now (negative: overdue)"
    )
    percent: float = Field(description="Percent of the target used, as of now")
    started_at: datetime | None
    stopped_at: datetime | None
    due_at: datetime | None
    breached: bool
    breached_at: datetime | None
    breach_probability: float | None
    business_hours: bool = Field(description="Counted on a calendar with closed hours")
    computed_at: datetime


class CalendarRef(Schema):
    id: int
    name: str
    time_zone: str
    always_open: bool


class SegmentOut(Schema):
    start: datetime
    end: datetime
    kind: str = Field(
        description="running, paused, waiting, stopped, not_started, outside_hours, holiday, "
        "exception"
    )
    label: str
    counted_seconds: int
    elapsed_after_seconds: int
    projected: bool = Field(description="After now: the way to the due time")
    holder: Any = None


class CrossingOut(Schema):
    percent: int
    at: datetime


class ExplainedClockOut(Schema):
    definition: Ref
    kind: str
    metric: str
    status: str
    label: str
    priority: int
    target_seconds: int
    elapsed_seconds: int
    paused_seconds: int
    percent: float
    started_at: datetime | None
    stopped_at: datetime | None
    due_at: datetime | None
    breached_at: datetime | None
    resets: list[datetime]
    crossings: list[CrossingOut]
    calendar: CalendarRef | None
    time_zone: str
    calendar_reason: Literal["definition", "country", "default", "always_open"]
    calendar_why: str
    breach_probability: float | None
    segments: list[SegmentOut]
    steps: list[str]
    summary: str = Field(
        description='"8 h target (P2): 2 h on Thu 2 Apr, ... → due Tue 7 Apr 14:00"'
    )


class IncidentSlaOut(Schema):
    incident_id: int
    number: str
    now: datetime
    clocks: list[ExplainedClockOut]
