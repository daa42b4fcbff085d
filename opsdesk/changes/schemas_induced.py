"""API schemas of the part "after the change": post-implementation reviews, change-induced
incident links and the change metrics."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from ninja import Field, Schema

from opsdesk.core.api import InSchema, ObjectId

ReviewText = Annotated[str, Field(max_length=50_000)]


class ReviewOut(Schema):
    id: int
    organization_id: int
    change_id: int
    change_number: str
    state: str
    required: bool
    required_reason: str
    required_fields: list[str]
    summary: str
    what_went_well: str
    what_went_wrong: str
    root_cause: str
    lessons: str
    follow_up: str
    completed_by_id: int | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ReviewPatch(InSchema):
    summary: ReviewText | None = None
    what_went_well: ReviewText | None = None
    what_went_wrong: ReviewText | None = None
    root_cause: ReviewText | None = None
    lessons: ReviewText | None = None
    follow_up: ReviewText | None = None


class IncidentRef(Schema):
    id: int
    number: str
    title: str
    state: str
    priority: int
    opened_at: datetime


class ChangeRef(Schema):
    id: int
    number: str
    title: str
    state: str


class DeploymentRef(Schema):
    id: int
    source: str
    external_id: str
    version: str
    environment: str
    finished_at: datetime | None
    change_id: int | None


class InducedLinkOut(Schema):
    id: int
    organization_id: int
    incident: IncidentRef
    change: ChangeRef | None
    deployment: DeploymentRef | None
    state: str
    score: float
    reason: str
    decided_by_id: int | None
    decided_at: datetime | None
    created_at: datetime


class DismissIn(InSchema):
    reason: Annotated[str, Field(min_length=1, max_length=1000)]


class LinkByHandIn(InSchema):
    incident_id: ObjectId


class MetricsQuery(Schema):
    organization_id: ObjectId
    from_: date | None = Field(
        None, alias="from", description="First day (default: 11 months ago, 1st)"
    )
    to: date | None = Field(None, description="Last day, inclusive (default: today)")
    by: Literal["service", "team", "month", "type"] = "service"


class MetricRowOut(Schema):
    key: str
    label: str
    closed: int
    successful: int
    success_rate: float | None = Field(description="Percent of closed changes that succeeded")
    implemented: int
    induced: int
    induced_rate: float | None = Field(
        description="Percent of implemented changes with a confirmed induced incident"
    )


class MetricsOut(Schema):
    organization_id: int
    start: date = Field(description="First day counted")
    end: date = Field(description="Last day counted, inclusive")
    by: str
    rows: list[MetricRowOut]
    total: MetricRowOut
