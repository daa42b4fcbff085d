"""API schemas of alert groups, alerts, operators' group actions and the event metrics."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import AfterValidator

from opsdesk.core.api import MAX_YEAR, MIN_YEAR, InSchema, ObjectId
from opsdesk.events import selectors

Note = Annotated[str, Field(max_length=2000)]
Search = Annotated[str, Field(max_length=200)]
GroupStateName = Literal["open", "resolved", "merged"]
SeverityName = Literal["critical", "major", "minor", "warning", "info"]
StatusName = Literal["firing", "resolved"]


def _check_day(value: date) -> date:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"The year must lie between {MIN_YEAR} and {MAX_YEAR}.")
    return value


Day = Annotated[date, AfterValidator(_check_day)]


# --- filters -----------------------------------------------------------------------------------


class GroupFilterIn(Schema):
    organization_id: ObjectId | None = None
    state: GroupStateName | None = None
    service_id: ObjectId | None = None
    severity: SeverityName | None = None
    q: Search | None = Field(None, description="Words of the title, or the group's number")


class AlertFilterIn(Schema):
    organization_id: ObjectId | None = None
    unbound: bool | None = Field(None, description="true: alerts no CI was found for")
    status: StatusName | None = None
    group_id: ObjectId | None = None
    ci_id: ObjectId | None = None
    q: Search | None = Field(None, description="Words of the title, a fingerprint or source id")


# --- bodies ------------------------------------------------------------------------------------


class MergeIn(InSchema):
    group_ids: Annotated[list[ObjectId], Field(min_length=1, max_length=200)] = Field(
        description="The groups to fold into this one"
    )
    note: Note = ""


class SplitIn(InSchema):
    alert_ids: Annotated[list[ObjectId], Field(min_length=1, max_length=200)] = Field(
        description="The alerts of this group to move into a new group"
    )
    note: Note = ""


class ResolveIn(InSchema):
    note: Note = ""


# --- output ------------------------------------------------------------------------------------


class Ref(Schema):
    id: int
    name: str


class NumberRef(Schema):
    id: int
    number: str
    title: str = ""
    state: str = ""


class AlertOut(Schema):
    id: int
    organization_id: int
    source: str
    external_id: str
    fingerprint: str
    status: str
    severity: str
    title: str
    description: str
    resource: dict[str, Any]
    labels: dict[str, Any]
    starts_at: datetime
    ends_at: datetime | None
    first_seen: datetime
    last_seen: datetime
    count: int
    transitions: int
    flapping: bool
    ci: Ref | None
    binding: str
    suppressed_by: str
    group_id: int | None
    group_number: str | None

    @staticmethod
    def resolve_ci(obj: Any) -> dict[str, Any] | None:
        return {"id": obj.ci.pk, "name": obj.ci.name} if obj.ci_id else None

    @staticmethod
    def resolve_group_number(obj: Any) -> str | None:
        return obj.group.number if obj.group_id else None


class RootCauseOut(Schema):
    ci_id: int | None = None
    ci: str | None = None
    ci_class: str | None = None
    score: float | None = None
    evidence: list[str] = []
    change_id: int | None = None
    change: str | None = None


class AlertGroupOut(Schema):
    id: int
    organization_id: int
    number: str
    title: str
    state: str
    severity: str
    method: str
    key: str
    service: Ref | None
    incident: NumberRef | None
    onset_at: datetime
    opened_at: datetime
    last_event_at: datetime
    resolved_at: datetime | None
    alert_count: int
    event_count: int
    firing_count: int
    merged_into_id: int | None
    cause_change: NumberRef | None
    root_causes: list[RootCauseOut]

    @staticmethod
    def resolve_service(obj: Any) -> dict[str, Any] | None:
        return {"id": obj.service.pk, "name": obj.service.name} if obj.service_id else None

    @staticmethod
    def resolve_incident(obj: Any) -> dict[str, Any] | None:
        i = obj.incident
        if i is None:
            return None
        return {"id": i.pk, "number": i.number, "title": i.title, "state": i.state}

    @staticmethod
    def resolve_cause_change(obj: Any) -> dict[str, Any] | None:
        c = obj.cause_change
        if c is None:
            return None
        return {"id": c.pk, "number": c.number, "title": c.title, "state": c.state}

    @staticmethod
    def resolve_root_causes(obj: Any) -> list[dict[str, Any]]:
        return [c for c in (obj.root_causes or []) if isinstance(c, dict)]


class DecisionOut(Schema):
    id: int
    alert_id: int
    method: str
    score: float
    reason: str
    at: datetime
    actor: str | None

    @staticmethod
    def resolve_actor(obj: Any) -> str | None:
        user = obj.actor
        return (user.full_name or user.email) if user is not None else None


class AlertEventOut(Schema):
    id: int
    alert_id: int
    alert_title: str
    at: datetime
    kind: str
    status: str
    severity: str
    count: int
    note: str

    @staticmethod
    def resolve_alert_title(obj: Any) -> str:
        return obj.alert.title


class AlertGroupDetailOut(AlertGroupOut):
    alerts: list[AlertOut] = Field(description="Its alerts, oldest first (at most 500)")
    decisions: list[DecisionOut] = Field(description="Why each alert is in it (latest 500)")
    events: list[AlertEventOut] = Field(description="Its timeline, oldest first (latest 500)")

    @staticmethod
    def resolve_alerts(obj: Any) -> list[Any]:
        return selectors.group_alerts(obj)

    @staticmethod
    def resolve_decisions(obj: Any) -> list[Any]:
        return selectors.group_decisions(obj)

    @staticmethod
    def resolve_events(obj: Any) -> list[Any]:
        return selectors.group_events(obj)


# --- metrics -----------------------------------------------------------------------------------


class MetricsQuery(Schema):
    organization_id: ObjectId
    start: Day | None = Field(None, description="First day (default: the 1st, 5 months ago)")
    end: Day | None = Field(None, description="Last day, inclusive (default: today)")
    service_id: ObjectId | None = None


class StatOut(Schema):
    count: int
    mean: float | None = Field(description="Seconds")
    median: float | None
    p90: float | None


class OpenStatOut(StatOut):
    open: int = Field(description="Incidents not yet acknowledged / resolved (not averaged)")


class BucketOut(Schema):
    groups: int
    alerts: int
    events: int
    incidents: int
    mttd: StatOut = Field(description="Fault onset -> incident opened")
    mtta: OpenStatOut = Field(description="Incident opened -> first assigned to a person")
    mttr: OpenStatOut = Field(description="Fault onset -> incident resolved")
    events_per_group: float | None
    alerts_per_group: float | None
    alerts_per_incident: float | None
    events_per_incident: float | None


class ServiceBucketOut(BucketOut):
    service_id: int | None
    service: str


class MonthBucketOut(BucketOut):
    month: str


class NoiseOut(Schema):
    events: int
    suppressed_events: int
    suppressed_alerts: int
    flapping_alerts: int
    flapping_events: int
    noise_ratio: float | None


class FeedbackOut(Schema):
    groups: int
    merges: int
    splits: int
    corrections: int
    correction_rate: float | None


class EventMetricsOut(Schema):
    organization_id: int
    start: datetime
    end: datetime
    service_id: int | None
    time_zone: str
    onsets_from_changes: int
    total: BucketOut
    by_service: list[ServiceBucketOut]
    by_month: list[MonthBucketOut]
    noise: NoiseOut
    feedback: FeedbackOut
