"""API schemas of business calendars."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from ninja import Field, Schema

from opsdesk.core.api import InSchema, ObjectId

Name = Annotated[str, Field(min_length=1, max_length=100)]
HHMM = Annotated[str, Field(max_length=5, description="HH:MM, 24:00 for the end of the day")]
Range = Annotated[list[HHMM], Field(min_length=2, max_length=2)]
Ranges = Annotated[list[Range], Field(max_length=24)]
Week = Annotated[
    dict[Annotated[str, Field(max_length=3)], Ranges],
    Field(
        max_length=7,
        description='Working ranges per weekday: {"mon": [["08:00", "12:00"], ["13:00", '
        '"17:00"]], ...}; a missing day is closed.',
    ),
]
IdList = Annotated[list[ObjectId], Field(max_length=50)]


class CalendarFilterIn(Schema):
    organization: ObjectId | None = None
    q: str | None = Field(None, max_length=100, description="Words of the name")


class CalendarIn(InSchema):
    organization_id: ObjectId
    name: Name
    description: str = Field("", max_length=5000)
    time_zone: str = Field("UTC", max_length=64, description="IANA, e.g. Africa/Johannesburg")
    always_open: bool = False
    working_hours: Week | None = None
    holiday_country: str = Field("", max_length=2, description="ISO alpha-2, e.g. ZA")
    holiday_subdivision: str = Field("", max_length=10, description="e.g. BY for Bavaria")
    combine_mode: str = Field("", max_length=20, description="'', 'union' or 'intersection'")
    member_ids: IdList = []
    country: str = Field("", max_length=2, description="Tickets in this country use it")
    is_default: bool = False


class CalendarPatch(InSchema):
    name: Name | None = None
    description: str | None = Field(None, max_length=5000)
    time_zone: str | None = Field(None, max_length=64)
    always_open: bool | None = None
    working_hours: Week | None = None
    holiday_country: str | None = Field(None, max_length=2)
    holiday_subdivision: str | None = Field(None, max_length=10)
    combine_mode: str | None = Field(None, max_length=20)
    member_ids: IdList | None = None
    country: str | None = Field(None, max_length=2)
    is_default: bool | None = None


class CalendarOut(Schema):
    id: int
    organization_id: int
    name: str
    description: str
    time_zone: str
    always_open: bool
    working_hours: dict[str, list[list[str]]]
    holiday_country: str
    holiday_subdivision: str
    combine_mode: str
    member_ids: list[int]
    country: str
    is_default: bool
    version: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_member_ids(obj: Any) -> list[int]:
        return sorted(m.pk for m in obj.members.all())


class ExceptionIn(InSchema):
    date: date
    name: Name
    hours: Ranges = Field(
        [], description='Working ranges of the day, e.g. [["08:00", "12:00"]]; [] = closed'
    )


class ExceptionOut(Schema):
    id: int
    calendar_id: int
    date: date
    name: str
    hours: list[list[str]]
    closed: bool

    @staticmethod
    def resolve_closed(obj: Any) -> bool:
        return not obj.hours


class IcalImportIn(InSchema):
    ics: str = Field(
        ...,
        min_length=1,
        max_length=2_000_000,
        description="The text of an .ics file (RFC 5545)",
    )


class ImportItem(Schema):
    date: str
    name: str
    hours: list[list[str]]
    reason: str


class ImportReportOut(Schema):
    created: list[ImportItem]
    updated: list[ImportItem]
    skipped: list[ImportItem]


class SegmentOut(Schema):
    start: datetime
    end: datetime
    kind: str = Field(description="working, outside_hours, holiday or exception")
    label: str
    seconds: int


class PreviewOut(Schema):
    calendar_id: int
    time_zone: str
    start: datetime
    hours: float
    due: datetime
    due_local: str
    closed_seconds: int
    segments: list[SegmentOut]


class HolidayOut(Schema):
    date: date
    name: str
    weekday: str
    observed: bool
    overridden_by: str = Field("", description="An exception of the calendar on that date")
    calendar: str = Field(description="The calendar whose country it comes from")
