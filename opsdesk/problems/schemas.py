"""API schemas of problems and known errors."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from ninja import Field, Schema

from opsdesk.core.api import InSchema, ObjectId
from opsdesk.problems.choices import KnownErrorState, ProblemState

Title = Annotated[str, Field(min_length=1, max_length=255)]
LongText = Annotated[str, Field(max_length=50_000)]
IdList = Annotated[list[ObjectId], Field(max_length=200)]


class Ref(Schema):
    id: int
    name: str


class TeamRef(Schema):
    id: int
    name: str


class UserRef(Schema):
    id: int
    email: str
    full_name: str


class IncidentRef(Schema):
    id: int
    number: str
    title: str
    state: str
    priority: int


# --- problems ------------------------------------------------------------------------------


class ProblemFilterIn(Schema):
    organization: ObjectId | None = None
    state: list[str] | None = Field(None, max_length=10, description="States, or 'open'")
    priority: list[Annotated[int, Field(ge=1, le=5)]] | None = Field(None, max_length=5)
    assignment_group: ObjectId | None = None
    assignee: ObjectId | None = None
    service: ObjectId | None = None
    ci: ObjectId | None = None
    q: str | None = Field(None, max_length=200, description="Number or words of the title")


class ProblemOut(Schema):
    id: int
    organization_id: int
    number: str
    title: str
    description: str
    state: ProblemState
    priority: int
    service: Ref | None
    ci: Ref | None
    assignment_group: TeamRef | None
    assignee: UserRef | None
    rca_notes: str
    root_cause: str
    workaround: str
    resolution_notes: str
    opened_by_id: int | None
    opened_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    allowed_transitions: list[str]

    @staticmethod
    def resolve_allowed_transitions(obj: Any) -> list[str]:
        from opsdesk.problems.workflows import PROBLEM

        return PROBLEM.allowed_names(obj.state)


class ProblemDetailOut(ProblemOut):
    incident_count: int
    known_error_ids: list[int]

    @staticmethod
    def resolve_incident_count(obj: Any) -> int:
        return obj.incidents.count()

    @staticmethod
    def resolve_known_error_ids(obj: Any) -> list[int]:
        return sorted(obj.known_errors.values_list("pk", flat=True))


class ProblemTransitionOut(ProblemDetailOut):
    resolved_incidents: list[str] = Field(
        default_factory=list, description="Numbers of the incidents resolved with the problem"
    )

    @staticmethod
    def resolve_resolved_incidents(obj: Any) -> list[str]:
        return list(getattr(obj, "resolved_incidents", []))


class _ProblemFields(InSchema):
    description: LongText | None = None
    priority: int | None = Field(None, ge=1, le=5)
    service_id: ObjectId | None = None
    ci_id: ObjectId | None = None
    assignment_group_id: ObjectId | None = None
    assignee_id: ObjectId | None = None
    rca_notes: LongText | None = None
    root_cause: LongText | None = None
    workaround: LongText | None = None


class ProblemIn(_ProblemFields):
    organization_id: ObjectId | None = Field(
        None, description="Required unless incident_ids are given (then it is theirs)"
    )
    title: str | None = Field(
        None, max_length=255, description="Defaults to the first incident's title"
    )
    incident_ids: IdList = Field(default_factory=list, description="Incidents to link")


class ProblemPatch(_ProblemFields):
    title: Title | None = None


class ReasonIn(InSchema):
    reason: str = Field("", max_length=5_000)


class EmptyIn(InSchema):
    pass


class FixIn(InSchema):
    root_cause: str = Field("", max_length=50_000, description="Required unless already set")


class ResolveIn(InSchema):
    root_cause: str = Field("", max_length=50_000, description="Required unless already set")
    resolution_notes: str = Field("", max_length=50_000, description="Required")
    resolve_incidents: bool = Field(
        False, description="Also resolve every open linked incident (solved_permanently)"
    )


class IncidentLinkIn(InSchema):
    incident_ids: Annotated[list[ObjectId], Field(min_length=1, max_length=200)]


# --- known errors --------------------------------------------------------------------------


class KnownErrorFilterIn(Schema):
    organization: ObjectId | None = None
    state: KnownErrorState | None = None
    ci: ObjectId | None = None
    problem: ObjectId | None = None
    q: str | None = Field(None, max_length=200)


class KnownErrorOut(Schema):
    id: int
    organization_id: int
    number: str
    title: str
    symptoms: str
    root_cause: str
    workaround: str
    state: KnownErrorState
    problem_id: int | None
    cis: list[Ref]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_cis(obj: Any) -> list[Any]:
        return sorted(obj.cis.all(), key=lambda ci: (ci.name, ci.pk))


class KnownErrorIn(InSchema):
    organization_id: ObjectId | None = Field(
        None, description="Required unless problem_id is given (then it is the problem's)"
    )
    problem_id: ObjectId | None = Field(
        None, description="Create from this problem: copies its root cause and workaround"
    )
    title: str | None = Field(None, max_length=255)
    symptoms: LongText | None = None
    root_cause: LongText | None = None
    workaround: LongText | None = None
    state: KnownErrorState = KnownErrorState.PUBLISHED
    ci_ids: IdList | None = None


class KnownErrorPatch(InSchema):
    title: Title | None = None
    symptoms: LongText | None = None
    root_cause: LongText | None = None
    workaround: LongText | None = None
    ci_ids: IdList | None = None


class SuggestionOut(Schema):
    known_error: KnownErrorOut
    score: int
    reasons: list[str]
