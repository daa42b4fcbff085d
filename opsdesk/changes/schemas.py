"""API schemas of changes and the standard-change template catalogue."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from ninja import Field, Schema

from opsdesk.changes.choices import ChangeState, ChangeType, CloseCode, RiskClass
from opsdesk.core.api import ApiDateTime, InSchema, ObjectId

Title = Annotated[str, Field(min_length=1, max_length=255)]
LongText = Annotated[str, Field(max_length=50_000)]
Reason = Annotated[str, Field(max_length=5_000)]
IdList = Annotated[list[ObjectId], Field(max_length=200)]


class Ref(Schema):
    id: int
    name: str


class CiRef(Schema):
    id: int
    name: str
    ci_class: str

    @staticmethod
    def resolve_ci_class(obj: Any) -> str:
        return obj.ci_class.key


class UserRef(Schema):
    id: int
    email: str
    full_name: str


class TransitionOut(Schema):
    name: str
    label: str
    to: str
    requires: list[str]


# --- changes -------------------------------------------------------------------------------


class ChangeFilterIn(Schema):
    organization_id: ObjectId | None = None
    state: list[Annotated[str, Field(max_length=20)]] | None = Field(
        None, max_length=10, description="States, or 'open'"
    )
    change_type: list[Annotated[str, Field(max_length=20)]] | None = Field(
        None, max_length=3, description="normal, emergency, standard"
    )
    risk_class: list[Annotated[str, Field(max_length=20)]] | None = Field(
        None, max_length=4, description="low, moderate, high, very_high"
    )
    service_id: ObjectId | None = None
    ci_id: ObjectId | None = None
    assignment_group_id: ObjectId | None = None
    assignee_id: ObjectId | None = None
    planned_from: ApiDateTime | None = Field(
        None, alias="from", description="Planned to end at or after this time"
    )
    planned_to: ApiDateTime | None = Field(
        None, alias="to", description="Planned to start at or before this time"
    )
    q: str | None = Field(None, max_length=200, description="CHG number or words of the title")
    sort: str | None = Field(
        None,
        max_length=20,
        description="number, title, type, state, risk, start, end, opened; -key reverses",
    )


class ChangeOut(Schema):
    id: int
    organization_id: int
    number: str
    title: str
    change_type: ChangeType
    state: ChangeState
    risk_class: str
    risk_score: float | None
    template_id: int | None
    service: Ref | None
    assignment_group: Ref | None
    assignee: UserRef | None
    change_manager: UserRef | None
    planned_start: datetime | None
    planned_end: datetime | None
    actual_start: datetime | None
    actual_end: datetime | None
    close_code: str
    opened_at: datetime
    closed_at: datetime | None
    updated_at: datetime
    allowed_transitions: list[str]

    @staticmethod
    def resolve_allowed_transitions(obj: Any) -> list[str]:
        return obj.workflow.allowed_names(obj.state)


class ChangeDetailOut(ChangeOut):
    description: str
    justification: str
    implementation_plan: str
    backout_plan: str
    test_plan: str
    freeze_justification: str
    close_notes: str
    requested_by: UserRef | None
    cis: list[CiRef]
    risk_answers: dict[str, Any]
    risk_assessment: dict[str, Any]
    risk_assessed_at: datetime | None
    conflicts: list[dict[str, Any]]
    transitions: list[TransitionOut] = Field(
        description="The transitions allowed from the current state, with the input each needs"
    )

    @staticmethod
    def resolve_cis(obj: Any) -> list[Any]:
        return sorted(obj.cis.all(), key=lambda ci: (ci.name, ci.pk))

    @staticmethod
    def resolve_transitions(obj: Any) -> list[dict[str, Any]]:
        return [
            {"name": t.name, "label": t.title, "to": t.target, "requires": list(t.requires)}
            for t in obj.workflow.available(obj.state)
        ]


class _ChangeFields(InSchema):
    description: LongText | None = None
    justification: LongText | None = None
    implementation_plan: LongText | None = None
    backout_plan: LongText | None = None
    test_plan: LongText | None = None
    service_id: ObjectId | None = None
    assignment_group_id: ObjectId | None = None
    assignee_id: ObjectId | None = None
    change_manager_id: ObjectId | None = None
    planned_start: ApiDateTime | None = None
    planned_end: ApiDateTime | None = None
    freeze_justification: LongText | None = None


class ChangeIn(_ChangeFields):
    organization_id: ObjectId | None = Field(
        None, description="Required unless template_id is given (then it is the template's)"
    )
    change_type: ChangeType = Field(
        ChangeType.NORMAL, description="normal or emergency; standard needs template_id"
    )
    template_id: ObjectId | None = Field(
        None, description="Raise a standard change from this template of the catalogue"
    )
    title: str | None = Field(None, max_length=255, description="Defaults to the template's name")
    ci_ids: IdList | None = Field(None, description="Affected CIs (default: the template's)")


class ChangePatch(_ChangeFields):
    title: Title | None = None


class CisIn(InSchema):
    ci_ids: IdList = Field(description="The affected CIs (replaces the set)")


class ReasonIn(InSchema):
    reason: Reason = Field("", description="Required")


class ScheduleIn(InSchema):
    freeze_justification: LongText = Field(
        "", description="Why the change may go ahead inside a freeze window, if it is in one"
    )


class ImplementIn(InSchema):
    actual_start: ApiDateTime | None = Field(None, description="Default: now")


class CompleteIn(InSchema):
    close_code: CloseCode | None = Field(None, description="Required")
    close_notes: LongText = ""
    actual_start: ApiDateTime | None = None
    actual_end: ApiDateTime | None = Field(None, description="Default: now")


class CloseIn(InSchema):
    close_notes: LongText = Field("", description="Required")


class NoteIn(InSchema):
    body: Annotated[str, Field(min_length=1, max_length=20_000)]
    public: bool = Field(False, description="False (default): an internal work note")


class WorkflowStateOut(Schema):
    value: str
    label: str


class WorkflowTransitionOut(Schema):
    name: str
    label: str
    sources: list[str] = Field(alias="from")
    to: str
    requires: list[str]


class WorkflowOut(Schema):
    name: str
    initial: str
    final: list[str]
    states: list[WorkflowStateOut]
    transitions: list[WorkflowTransitionOut]


class ChangeWorkflowsOut(Schema):
    normal: WorkflowOut
    emergency: WorkflowOut
    standard: WorkflowOut


# --- templates -----------------------------------------------------------------------------


class TemplateFilterIn(Schema):
    organization_id: ObjectId | None = None
    is_active: bool | None = None
    q: str | None = Field(None, max_length=200)


class TemplateOut(Schema):
    id: int
    organization_id: int
    name: str
    description: str
    category: str
    implementation_plan: str
    backout_plan: str
    test_plan: str
    risk_class: RiskClass
    assignment_group: Ref | None
    default_duration_minutes: int
    cis: list[CiRef]
    match_cis: list[CiRef]
    match_environments: list[str]
    is_active: bool
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_cis(obj: Any) -> list[Any]:
        return sorted(obj.cis.all(), key=lambda ci: (ci.name, ci.pk))

    @staticmethod
    def resolve_match_cis(obj: Any) -> list[Any]:
        return sorted(obj.match_cis.all(), key=lambda ci: (ci.name, ci.pk))


Environment = Annotated[str, Field(min_length=1, max_length=100)]


class _TemplateFields(InSchema):
    description: LongText | None = None
    category: Annotated[str, Field(max_length=100)] | None = None
    implementation_plan: LongText | None = None
    backout_plan: LongText | None = None
    test_plan: LongText | None = None
    risk_class: RiskClass | None = None
    assignment_group_id: ObjectId | None = None
    default_duration_minutes: int | None = Field(None, ge=1, le=40_320)
    ci_ids: IdList | None = Field(None, description="The usual CIs (replaces the set)")
    match_ci_ids: IdList | None = Field(
        None, description="Deployments to these services or CIs become a change from it"
    )
    match_environments: Annotated[list[Environment], Field(max_length=50)] | None = None
    is_active: bool | None = Field(None, description="False retires the template")


class TemplateIn(_TemplateFields):
    organization_id: ObjectId
    name: Annotated[str, Field(min_length=1, max_length=200)]


class TemplatePatch(_TemplateFields):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
