"""API schemas of maintenance and freeze windows, conflicts and the change calendar."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from ninja import Field, Schema

from opsdesk.core.api import ApiDateTime, InSchema, ObjectId

Name = Annotated[str, Field(min_length=1, max_length=200)]
Rule = Annotated[
    str, Field(max_length=500, description="RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=SU")
]
Text = Annotated[str, Field(max_length=20_000)]
IdList = Annotated[list[ObjectId], Field(max_length=200)]


class ServiceRef(Schema):
    id: int
    name: str


class WindowIn(InSchema):
    organization_id: ObjectId
    name: Name
    description: Text = ""
    starts_at: ApiDateTime
    ends_at: ApiDateTime
    rrule: Rule = Field("", description="Repeats the window from starts_at (empty: once)")
    service_ids: IdList = Field(
        default_factory=list, description="Business services it covers (empty: the whole org)"
    )


class WindowPatch(InSchema):
    name: Name | None = None
    description: Text | None = None
    starts_at: ApiDateTime | None = None
    ends_at: ApiDateTime | None = None
    rrule: Rule | None = None
    service_ids: IdList | None = None


class WindowFilterIn(Schema):
    organization_id: ObjectId | None = None
    service_id: ObjectId | None = Field(None, description="Windows covering this service")
    period_from: ApiDateTime | None = Field(
        None, alias="from", description="With an occurrence ending after this time"
    )
    period_to: ApiDateTime | None = Field(
        None, alias="to", description="With an occurrence starting before this time"
    )
    include_retired: bool = False


class WindowOut(Schema):
    id: int
    organization_id: int
    kind: str
    name: str
    description: str
    starts_at: datetime
    ends_at: datetime
    rrule: str
    services: list[ServiceRef]
    is_active: bool
    updated_at: datetime

    @staticmethod
    def resolve_services(obj: Any) -> list[Any]:
        return list(obj.services.all())


class ConflictOut(Schema):
    kind: str
    reason: str
    change_id: int | None = None
    change_number: str | None = None
    window_id: int | None = None


class FreezeOut(Schema):
    window_id: int
    name: str
    starts_at: datetime
    ends_at: datetime
    services: list[str]


class ChangeConflictsOut(Schema):
    change_id: int
    number: str
    planned_start: datetime | None
    planned_end: datetime | None
    conflicts: list[ConflictOut]
    freezes: list[FreezeOut]
    maintenance_windows: list[FreezeOut]
    in_maintenance_window: bool | None = Field(
        None, description="null when no maintenance window covers the change"
    )


class CalendarFilterIn(Schema):
    organization_id: ObjectId
    period_from: ApiDateTime = Field(alias="from")
    period_to: ApiDateTime = Field(alias="to", description="At most 400 days after from")


class CalendarChangeOut(Schema):
    id: int
    number: str
    title: str
    change_type: str
    state: str
    risk_class: str
    planned_start: datetime
    planned_end: datetime
    service: str | None
    cis: list[str]
    conflicts: int


class OccurrenceOut(Schema):
    window_id: int
    kind: str
    name: str
    starts_at: datetime
    ends_at: datetime
    recurring: bool
    services: list[str]


class CalendarOut(Schema):
    organization_id: int
    time_zone: str
    period_from: datetime = Field(alias="from")
    period_to: datetime = Field(alias="to")
    changes: list[CalendarChangeOut]
    windows: list[OccurrenceOut]
    truncated: bool
