"""API schemas of service-level definitions and their preview."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from ninja import Field, Schema

from opsdesk.core.api import ApiDateTime, InSchema, ObjectId
from opsdesk.sla.choices import Kind

Name = Annotated[str, Field(min_length=1, max_length=150)]
Token = Annotated[str, Field(max_length=60)]
Tokens = Annotated[list[Token], Field(max_length=20)]
Targets = Annotated[
    dict[Annotated[str, Field(max_length=5)], float | int | None],
    Field(max_length=5, description='Business minutes per priority: {"1": 15, "2": 30}'),
]


class Ref(Schema):
    id: int
    name: str


class DefinitionFilterIn(Schema):
    organization: ObjectId | None = None
    kind: Kind | None = None
    active: bool | None = None


class DefinitionOut(Schema):
    id: int
    organization_id: int
    name: str
    kind: Kind
    description: str
    is_active: bool
    customer: str
    team: Ref | None
    vendor: Ref | None
    ticket_type: str
    services: list[Ref]
    priorities: list[int]
    conditions: list[dict[str, Any]]
    response_minutes: dict[str, float]
    resolution_minutes: dict[str, float]
    calendar: Ref | None
    start_when: list[str]
    pause_when: list[str]
    stop_when: list[str]
    reset_when: list[str]
    run_when: list[str]
    warning_thresholds: list[int]
    escalations: list[dict[str, Any]]
    version: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_services(obj: Any) -> list[Any]:
        return sorted(obj.services.all(), key=lambda s: (s.name, s.pk))


class _DefinitionFields(InSchema):
    description: str | None = Field(None, max_length=10_000)
    is_active: bool | None = None
    customer: str | None = Field(None, max_length=200, description="SLA: the customer")
    team_id: ObjectId | None = Field(None, description="OLA: the team it binds (required)")
    vendor_id: ObjectId | None = Field(None, description="UC: the vendor it binds (required)")
    service_ids: Annotated[list[ObjectId], Field(max_length=200)] | None = Field(
        None, description="Business services / offerings covered; empty: every service"
    )
    priorities: Annotated[list[Annotated[int, Field(ge=1, le=5)]], Field(max_length=5)] | None = (
        None
    )
    conditions: Annotated[list[dict[str, Any]], Field(max_length=20)] | None = Field(
        None, description='[{"field": "channel", "op": "eq", "value": "email"}]'
    )
    response_minutes: Targets | None = None
    resolution_minutes: Targets | None = None
    calendar_id: ObjectId | None = Field(
        None, description="Empty: the ticket's country calendar, else the default"
    )
    start_when: Tokens | None = None
    pause_when: Tokens | None = None
    stop_when: Tokens | None = None
    reset_when: Tokens | None = Field(None, description='"reopen", "priority_change"')
    run_when: Tokens | None = None
    warning_thresholds: Annotated[list[int], Field(max_length=20)] | None = None
    escalations: Annotated[list[dict[str, Any]], Field(max_length=20)] | None = Field(
        None,
        description='[{"at": 75, "action": "notify", "to": "group_manager"}, '
        '{"at": 100, "action": "reassign", "team": 3}]',
    )


class DefinitionIn(_DefinitionFields):
    organization_id: ObjectId
    name: Name
    kind: Kind = Kind.SLA


class DefinitionPatch(_DefinitionFields):
    name: Name | None = None
    kind: Kind | None = None


class PreviewIn(InSchema):
    incident_id: ObjectId | None = Field(None, description="An existing incident, or:")
    priority: int | None = Field(None, ge=1, le=5, description="A hypothetical ticket's priority")
    service_id: ObjectId | None = None
    opened_at: ApiDateTime | None = Field(None, description="Default: now")
    assignment_group_id: ObjectId | None = None


class SegmentOut(Schema):
    start: datetime
    end: datetime
    kind: str
    label: str
    counted_seconds: int
    elapsed_after_seconds: int


class MetricPreviewOut(Schema):
    metric: str
    applies: bool
    reasons: list[str]
    target_minutes: float | None
    status: str
    due_at: datetime | None
    breached_at: datetime | None
    elapsed_minutes: float
    assumed: list[str]
    segments: list[SegmentOut]


class PreviewOut(Schema):
    definition: str
    ticket: str
    priority: int
    opened_at: datetime
    calendar_id: int | None
    calendar: str
    calendar_why: str
    applies: bool
    reasons: list[str]
    metrics: list[MetricPreviewOut]
