"""API schemas of approval policies, approvals and CAB meetings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Field, Schema

from opsdesk.changes.choices import ApprovalState, ApproverKind, CabKind, RiskClass
from opsdesk.core.api import ApiDateTime, InSchema, ObjectId

Name = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(max_length=10_000)]
IdList = Annotated[list[ObjectId], Field(max_length=100)]
PolicyType = Literal["normal", "emergency"]


class Ref(Schema):
    id: int
    name: str


class UserRef(Schema):
    id: int
    email: str
    full_name: str


# --- policies --------------------------------------------------------------------------------


class StepIn(InSchema):
    approver_kind: ApproverKind
    name: str | None = Field(None, max_length=200, description="Default: the team or kind")
    team_id: ObjectId | None = Field(None, description="A team step: the team")
    user_ids: IdList | None = Field(None, description="A step of named people: who")
    quorum: int = Field(1, ge=1, le=100, description="Approvals the step needs")


class StepOut(Schema):
    id: int
    position: int
    name: str
    approver_kind: str
    team: Ref | None
    users: list[UserRef]
    quorum: int

    @staticmethod
    def resolve_users(obj: Any) -> list[Any]:
        return sorted(obj.users.all(), key=lambda u: (u.full_name, u.pk))


class PolicyFilterIn(Schema):
    organization: ObjectId | None = None
    active: bool | None = None


class _PolicyFields(InSchema):
    change_types: Annotated[list[PolicyType], Field(max_length=2)] | None = Field(
        None, description="Empty: any type (standard changes never ask)"
    )
    risk_classes: Annotated[list[RiskClass], Field(max_length=4)] | None = Field(
        None, description="Empty: any class; a change not assessed counts as moderate"
    )
    order: int | None = Field(None, ge=0, le=100_000, description="Lowest matching applies")
    is_active: bool | None = Field(None, description="false retires the policy")


class PolicyIn(_PolicyFields):
    organization_id: ObjectId
    name: Name
    steps: Annotated[list[StepIn], Field(min_length=1, max_length=20)]


class PolicyPatch(_PolicyFields):
    name: Name | None = None
    steps: Annotated[list[StepIn], Field(min_length=1, max_length=20)] | None = Field(
        None, description="Replaces every step"
    )


class PolicyOut(Schema):
    id: int
    organization_id: int
    name: str
    change_types: list[str]
    risk_classes: list[str]
    order: int
    is_active: bool
    steps: list[StepOut]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_steps(obj: Any) -> list[Any]:
        return list(obj.steps.all())


# --- approvals --------------------------------------------------------------------------------


class ApprovalFilterIn(Schema):
    organization: ObjectId | None = None
    mine: bool | None = Field(None, description="true: what awaits my decision")
    change_id: ObjectId | None = None
    state: ApprovalState | None = None


class ChangeRef(Schema):
    id: int
    number: str
    title: str
    state: str
    change_type: str
    risk_class: str


class ApprovalOut(Schema):
    id: int
    organization_id: int
    change: ChangeRef
    round: int
    step: int
    step_name: str
    quorum: int
    cab: bool
    approver: UserRef | None
    team: Ref | None
    policy_id: int | None
    state: str
    comment: str
    decided_by: UserRef | None
    decided_at: datetime | None
    created_at: datetime


class ApproveIn(InSchema):
    comment: Text = ""


class RejectIn(InSchema):
    comment: Text = Field(..., description="Why (required)")


# --- CAB meetings -----------------------------------------------------------------------------


class MeetingFilterIn(Schema):
    organization: ObjectId | None = None
    state: Literal["planned", "in_progress", "completed", "cancelled"] | None = None
    kind: CabKind | None = None


class _MeetingFields(InSchema):
    kind: CabKind | None = None
    location: str | None = Field(None, max_length=255)
    chair_id: ObjectId | None = Field(None, description="Default: whoever plans it")
    member_ids: IdList | None = None
    notes: Text | None = Field(None, description="Minutes and remarks")


class MeetingIn(_MeetingFields):
    organization_id: ObjectId
    title: Annotated[str, Field(min_length=1, max_length=255)]
    starts_at: ApiDateTime
    ends_at: ApiDateTime


class MeetingPatch(_MeetingFields):
    title: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    starts_at: ApiDateTime | None = None
    ends_at: ApiDateTime | None = None


class AgendaChangeOut(Schema):
    id: int
    number: str
    title: str
    state: str
    change_type: str
    risk_class: str
    planned_start: datetime | None
    planned_end: datetime | None
    conflicts: int

    @staticmethod
    def resolve_conflicts(obj: Any) -> int:
        return len(obj.conflicts or [])


class ItemOut(Schema):
    id: int
    position: int
    change: AgendaChangeOut
    decision: str
    decision_notes: str
    decided_by: UserRef | None
    decided_at: datetime | None


class MeetingOut(Schema):
    id: int
    organization_id: int
    number: str
    kind: str
    title: str
    starts_at: datetime
    ends_at: datetime
    location: str
    state: str
    chair: UserRef | None
    members: list[UserRef]
    notes: str
    items: list[ItemOut]

    @staticmethod
    def resolve_members(obj: Any) -> list[Any]:
        return sorted(obj.members.all(), key=lambda u: (u.full_name, u.pk))

    @staticmethod
    def resolve_items(obj: Any) -> list[Any]:
        return list(obj.items.select_related("change", "decided_by").order_by("position", "id"))


class DecisionIn(InSchema):
    decision: Literal["approved", "rejected", "deferred"]
    notes: Text = Field("", description="Required for a rejection")
