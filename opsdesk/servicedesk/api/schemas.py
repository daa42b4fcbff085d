"""API schemas of incidents, major incidents and service-desk configuration."""

from datetime import date, datetime
from typing import Annotated, Any, Literal

from ninja import Field, Schema

from opsdesk.core.api import ApiDateTime, InSchema, ObjectId
from opsdesk.servicedesk.choices import (
    Channel,
    CommunicationAudience,
    HoldReason,
    IncidentState,
    ReviewActionState,
    ReviewState,
)
from opsdesk.servicedesk.selectors import SORTS

Title = Annotated[str, Field(min_length=1, max_length=255)]
LongText = Annotated[str, Field(max_length=20_000)]
Level = Annotated[int, Field(ge=1, le=3, description="1 high, 2 medium, 3 low")]
StateFilter = Literal[tuple(["open", *IncidentState.values])]  # type: ignore[valid-type]
SortKey = Literal[tuple([*SORTS, *(f"-{k}" for k in SORTS)])]  # type: ignore[valid-type]


# --- references -------------------------------------------------------------------------------


class UserRef(Schema):
    id: int
    full_name: str
    email: str


class TeamRef(Schema):
    id: int
    name: str


class CIRef(Schema):
    id: int
    name: str


class CategoryRef(Schema):
    id: int
    name: str


class IncidentRef(Schema):
    id: int
    number: str
    title: str
    state: IncidentState
    priority: int


# --- incidents --------------------------------------------------------------------------------


PriorityValue = Annotated[int, Field(ge=1, le=5)]


class IncidentFilterIn(Schema):
    """The single-valued filters of `opsdesk.servicedesk.selectors.IncidentFilter` (state,
    priority and sort repeat, so they are separate query parameters of the operation)."""

    organization: ObjectId | None = None
    assignment_group: ObjectId | None = None
    assignee: ObjectId | None = None
    assigned_to_me: bool = False
    my_teams: bool = False
    unassigned: bool = False
    requester: ObjectId | None = None
    service: ObjectId | None = None
    ci: ObjectId | None = None
    category: ObjectId | None = Field(None, description="A category or subcategory")
    channel: Channel | None = None
    is_major: bool | None = None
    problem: ObjectId | None = None
    opened_after: ApiDateTime | None = None
    opened_before: ApiDateTime | None = None
    q: str | None = Field(None, max_length=200, description="A number, or words of the title")


class IncidentOut(Schema):
    id: int
    number: str
    organization_id: int
    title: str
    state: IncidentState
    priority: int
    impact: int
    urgency: int
    channel: str
    requester: UserRef | None
    requester_email: str
    assignment_group: TeamRef | None
    assignee: UserRef | None
    service: CIRef | None
    ci: CIRef | None
    category_id: int | None
    subcategory_id: int | None
    hold_reason: str
    is_major: bool
    parent_id: int | None
    reassignment_count: int
    reopen_count: int
    opened_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime


class TransitionOut(Schema):
    name: str
    label: str
    to: str
    requires: list[str]


class IncidentDetailOut(IncidentOut):
    description: str
    opened_by_id: int | None
    category: CategoryRef | None
    subcategory: CategoryRef | None
    location: str
    resolution_code: str
    resolution_notes: str
    resolved_by_id: int | None
    first_assigned_at: datetime | None
    first_contact_resolution: bool
    problem_id: int | None
    known_error_id: int | None
    major_manager: UserRef | None
    major_declared_at: datetime | None
    source: str
    external_id: str
    transitions: list[TransitionOut] = []


class IncidentIn(InSchema):
    organization_id: ObjectId
    title: Title
    description: LongText = ""
    requester_id: ObjectId | None = None
    requester_email: Annotated[str, Field(max_length=254)] = ""
    channel: Channel = Channel.API
    service_id: ObjectId | None = None
    ci_id: ObjectId | None = None
    category_id: ObjectId | None = None
    subcategory_id: ObjectId | None = None
    impact: Level = 3
    urgency: Level = 3
    assignment_group_id: ObjectId | None = None
    assignee_id: ObjectId | None = None
    location: Annotated[str, Field(max_length=200)] = ""


class IncidentPatch(InSchema):
    title: Title | None = None
    description: LongText | None = None
    requester_id: ObjectId | None = None
    service_id: ObjectId | None = None
    ci_id: ObjectId | None = None
    category_id: ObjectId | None = None
    subcategory_id: ObjectId | None = None
    impact: Level | None = None
    urgency: Level | None = None
    location: Annotated[str, Field(max_length=200)] | None = None
    channel: Channel | None = None


class HoldIn(InSchema):
    hold_reason: HoldReason | None = None


class ResolveIn(InSchema):
    resolution_code: Annotated[str, Field(max_length=60)] = ""
    resolution_notes: LongText = ""


class ReasonIn(InSchema):
    reason: LongText = ""


class AssignIn(InSchema):
    assignment_group_id: ObjectId | None = None
    assignee_id: ObjectId | None = None


class ActivityOut(Schema):
    id: int
    kind: str
    at: datetime
    actor_id: int | None
    actor_name: str
    public: bool
    body: str
    data: dict[str, Any]


class CommentIn(InSchema):
    body: Annotated[str, Field(min_length=1, max_length=20_000)]
    public: bool = Field(True, description="False: an internal work note (agents only)")


class AttachmentOut(Schema):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    public: bool
    quarantined: bool
    quarantine_reason: str
    uploaded_by_id: int | None
    created_at: datetime


class WatcherIn(InSchema):
    user_id: ObjectId


class WatcherOut(Schema):
    user_id: int
    full_name: str = Field(alias="user.full_name")
    email: str = Field(alias="user.email")


class LinkIn(InSchema):
    problem_id: ObjectId | None = None
    known_error_id: ObjectId | None = None


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


# --- major incidents --------------------------------------------------------------------------


class MajorIncidentOut(IncidentOut):
    major_manager: UserRef | None
    major_declared_at: datetime | None


class DeclareMajorIn(InSchema):
    manager_id: ObjectId | None = None
    reason: LongText = ""


class ChildIn(InSchema):
    child_id: ObjectId


class CommunicationIn(InSchema):
    audience: CommunicationAudience = CommunicationAudience.STAKEHOLDERS
    channel: Annotated[str, Field(min_length=1, max_length=40)] = "email"
    body: Annotated[str, Field(min_length=1, max_length=20_000)]


class CommunicationOut(Schema):
    id: int
    incident_id: int
    audience: CommunicationAudience
    channel: str
    body: str
    sent_by_id: int | None
    sent_at: datetime


class ReviewActionOut(Schema):
    id: int
    review_id: int
    description: str
    owner: UserRef | None
    due_on: date | None
    state: ReviewActionState


class ReviewOut(Schema):
    id: int
    incident_id: int
    state: ReviewState
    facilitator: UserRef | None
    summary: str
    customer_impact: str
    root_cause: str
    went_well: str
    went_badly: str
    held_on: date | None
    completed_at: datetime | None
    actions: list[ReviewActionOut]
    allowed_states: list[str] = []


class ReviewIn(InSchema):
    state: ReviewState | None = None
    facilitator_id: ObjectId | None = None
    summary: LongText | None = None
    customer_impact: LongText | None = None
    root_cause: LongText | None = None
    went_well: LongText | None = None
    went_badly: LongText | None = None
    held_on: date | None = None


class ReviewActionIn(InSchema):
    description: Annotated[str, Field(min_length=1, max_length=500)]
    owner_id: ObjectId | None = None
    due_on: date | None = None


class ReviewActionPatch(InSchema):
    description: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    owner_id: ObjectId | None = None
    due_on: date | None = None
    state: ReviewActionState | None = None


# --- configuration ----------------------------------------------------------------------------


class SettingsOut(Schema):
    organization_id: int
    priority_matrix: dict[str, int]
    resolution_codes: list[str]
    auto_close_days: int
    attachment_max_bytes: int
    attachment_types: list[str]
    email_address: str
    default_team_id: int | None
    auto_declare_p1: bool
    updated_at: datetime


class SettingsPatch(InSchema):
    priority_matrix: dict[Annotated[str, Field(max_length=10)], Any] | None = Field(
        None, description='All nine "impact,urgency" keys, each a priority 1..5'
    )
    resolution_codes: list[Annotated[str, Field(max_length=60)]] | None = Field(
        None, max_length=100
    )
    auto_close_days: Annotated[int, Field(ge=1, le=365)] | None = None
    attachment_max_bytes: Annotated[int, Field(ge=1, le=1024 * 1024 * 1024)] | None = None
    attachment_types: list[Annotated[str, Field(max_length=150)]] | None = Field(
        None, max_length=200
    )
    email_address: Annotated[str, Field(max_length=254)] | None = None
    default_team_id: ObjectId | None = None
    auto_declare_p1: bool | None = None


class CategoryOut(Schema):
    id: int
    organization_id: int
    name: str
    parent_id: int | None
    is_active: bool


class CategoryFilter(Schema):
    organization: ObjectId | None = None
    parent: ObjectId | None = None
    top_level: bool | None = None
    is_active: bool | None = None
    q: str | None = Field(None, max_length=100)


class CategoryIn(InSchema):
    organization_id: ObjectId
    name: Annotated[str, Field(min_length=1, max_length=100)]
    parent_id: ObjectId | None = None
    is_active: bool = True


class CategoryPatch(InSchema):
    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    parent_id: ObjectId | None = None
    is_active: bool | None = None
