"""API schemas of the catalogue, requests, approvals and fulfilment tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from ninja import Field, Schema

from opsdesk.catalog.choices import ApprovalState, ItemState, RequestState, TaskState
from opsdesk.core.api import InSchema, ObjectId

Name = Annotated[str, Field(min_length=1, max_length=150)]
Category = Annotated[str, Field(max_length=100)]
LongText = Annotated[str, Field(max_length=20_000)]
Comment = Annotated[str, Field(max_length=5_000)]
#: Definitions are checked by the action (JSON Schema) so errors name the exact place.
Definition = Annotated[list[Any], Field(max_length=50)]


class CatalogItemIn(InSchema):
    organization_id: ObjectId
    name: Name
    category: Category = ""
    description: LongText = ""
    active: bool = True
    form: Definition = []
    approval_steps: Definition = []
    tasks: Definition = []
    delivery_days: int = Field(5, ge=0, le=365)


class CatalogItemPatch(InSchema):
    name: Name | None = None
    category: Category | None = None
    description: LongText | None = None
    active: bool | None = None
    form: Definition | None = None
    approval_steps: Definition | None = None
    tasks: Definition | None = None
    delivery_days: int | None = Field(None, ge=0, le=365)


class CatalogItemOut(Schema):
    id: int
    organization_id: int
    name: str
    category: str
    description: str
    active: bool
    form: list[Any]
    approval_steps: list[Any]
    tasks: list[Any]
    delivery_days: int
    created_at: datetime
    updated_at: datetime


class CatalogFilter(Schema):
    organization: ObjectId | None = None
    category: Category | None = None
    active: bool | None = None
    q: str | None = Field(None, max_length=200)


class OrderLineIn(InSchema):
    catalog_item_id: ObjectId
    answers: dict[str, Any] = Field(default_factory=dict, max_length=50)
    quantity: int = Field(1, ge=1, le=100)


class RequestIn(InSchema):
    organization_id: ObjectId
    items: list[OrderLineIn] = Field(min_length=1, max_length=20)
    requested_for_id: ObjectId | None = None


class RequestFilter(Schema):
    organization: ObjectId | None = None
    state: RequestState | None = None
    requester: ObjectId | None = None
    mine: bool = False
    q: str | None = Field(None, max_length=200)


class RequestOut(Schema):
    id: int
    organization_id: int
    number: str
    title: str
    state: RequestState
    requester_id: int
    opened_by_id: int | None
    opened_at: datetime
    due_at: datetime | None
    closed_at: datetime | None


class ApprovalOut(Schema):
    id: int
    organization_id: int
    request_id: int
    item_id: int
    step: int
    approver_id: int
    approver: str
    state: ApprovalState
    comment: str
    requested_at: datetime
    decided_at: datetime | None

    @staticmethod
    def resolve_approver(obj: Any) -> str:
        return str(obj.approver)


class TaskOut(Schema):
    id: int
    organization_id: int
    number: str
    title: str
    order: int
    item_id: int
    team_id: int
    assignee_id: int | None
    state: TaskState
    notes: str
    opened_at: datetime
    started_at: datetime | None
    closed_at: datetime | None


class RequestItemOut(Schema):
    id: int
    organization_id: int
    number: str
    request_id: int
    catalog_item_id: int
    name: str
    answers: dict[str, Any]
    quantity: int
    state: ItemState
    step: int | None
    approved_at: datetime | None
    closed_at: datetime | None
    due_at: datetime | None
    approvals: list[ApprovalOut]
    tasks: list[TaskOut]

    @staticmethod
    def resolve_name(obj: Any) -> str:
        return obj.catalog_item.name

    @staticmethod
    def resolve_approvals(obj: Any) -> list[Any]:
        return list(obj.approvals.all())

    @staticmethod
    def resolve_tasks(obj: Any) -> list[Any]:
        return list(obj.tasks.all())


class ActivityOut(Schema):
    id: int
    subject_type: str
    subject_id: int
    kind: str
    at: datetime
    actor_id: int | None
    actor_name: str
    public: bool
    body: str
    data: dict[str, Any]


class RequestDetailOut(RequestOut):
    items: list[RequestItemOut]
    timeline: list[ActivityOut]


class DecisionIn(InSchema):
    comment: Comment = ""


class ReasonIn(InSchema):
    reason: Comment = ""


class AssignIn(InSchema):
    assignee_id: ObjectId | None = None


class CompleteIn(InSchema):
    notes: LongText = ""


class CommentIn(InSchema):
    body: Annotated[str, Field(min_length=1, max_length=20_000)]
    public: bool = Field(True, description="False: an internal work note (agents only)")


class TaskFilter(Schema):
    organization: ObjectId | None = None
    mine: bool = Field(False, description="Assigned to me")
    my_teams: bool = Field(False, description="Of the teams I am a member of")
    team: ObjectId | None = None
    state: TaskState | None = None


class ApprovalFilter(Schema):
    organization: ObjectId | None = None
