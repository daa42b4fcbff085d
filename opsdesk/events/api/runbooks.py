"""API of self-healing runbooks: the runbooks (managers and admins write, agents and auditors
read) and their runs (list, one run, approve and reject a waiting one). The rules live in
`opsdesk.events.runbooks`; this module checks shapes."""

from datetime import datetime
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from opsdesk.core.actions import require
from opsdesk.core.api import ERROR_RESPONSES, InSchema, ObjectId, Paginated
from opsdesk.core.errors import FieldError
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access_organization
from opsdesk.events import runbooks
from opsdesk.events.choices import RunbookActionKind, RunState
from opsdesk.events.models import Runbook

router = Router(tags=["Event runbooks"])

Name = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(max_length=20_000)]
Note = Annotated[str, Field(max_length=2_000)]
Runs = Annotated[int, Field(ge=1, le=100)]
Radius = Annotated[int, Field(ge=1, le=100_000)]
VerifySeconds = Annotated[
    int, Field(ge=runbooks.MIN_VERIFY_SECONDS, le=runbooks.MAX_VERIFY_SECONDS)
]
_ACTION_HELP = (
    'http: {"url", "method", "headers", "body", "timeout"} (body text or JSON with {ci}, '
    '{group}, {incident}, {label_<name>} ... placeholders); command: {"command": [program, '
    'args...], "timeout"} with the program on the allow-list; standard_change: {"template_id"}'
)
_CONDITIONS_HELP = (
    '{"ci_classes": ["server"], "title_contains": "disk", "labels": [{"name", "value", '
    '"op"}], "min_severity": "major"}: all must hold for one firing alert of the group'
)


class RunbookIn(InSchema):
    organization_id: ObjectId
    name: Name
    description: Text = ""
    is_active: bool = True
    conditions: dict[str, Any] = Field(..., description=_CONDITIONS_HELP)
    action_kind: RunbookActionKind
    action: dict[str, Any] = Field(..., description=_ACTION_HELP)
    dry_run: bool = Field(True, description="Record what it would do, do nothing")
    requires_approval: bool = False
    max_runs_per_ci_per_hour: Runs = 3
    max_blast_radius: Radius = Field(
        5, description="Refuse when the group has more CIs, or more CIs depend on the target"
    )
    verify_seconds: VerifySeconds = Field(
        600, description="The alert must clear within this time, else the incident escalates"
    )


class RunbookPatch(InSchema):
    name: Name | None = None
    description: Text | None = None
    is_active: bool | None = None
    conditions: dict[str, Any] | None = None
    action_kind: RunbookActionKind | None = None
    action: dict[str, Any] | None = None
    dry_run: bool | None = None
    requires_approval: bool | None = None
    max_runs_per_ci_per_hour: Runs | None = None
    max_blast_radius: Radius | None = None
    verify_seconds: VerifySeconds | None = None


class RunbookOut(Schema):
    id: int
    organization_id: int
    name: str
    description: str
    is_active: bool
    conditions: dict[str, Any]
    action_kind: str
    action: dict[str, Any]
    dry_run: bool
    requires_approval: bool
    max_runs_per_ci_per_hour: int
    max_blast_radius: int
    verify_seconds: int
    updated_at: datetime


class RunbookFilterIn(Schema):
    organization_id: ObjectId | None = None
    is_active: bool | None = None


class RunOut(Schema):
    id: int
    organization_id: int
    runbook_id: int
    runbook: str
    group_id: int
    group: str
    incident_id: int | None
    incident: str | None
    ci_id: int | None
    ci: str | None
    state: str
    dry_run: bool
    reason: str
    requested_at: datetime
    decided_by: str | None
    started_at: datetime | None
    finished_at: datetime | None
    verify_until: datetime | None
    request: dict[str, Any]
    response: dict[str, Any]
    output: str
    change_id: int | None
    change: str | None

    @staticmethod
    def resolve_runbook(obj: Any) -> str:
        return obj.runbook.name

    @staticmethod
    def resolve_group(obj: Any) -> str:
        return obj.group.number

    @staticmethod
    def resolve_incident_id(obj: Any) -> int | None:
        return obj.group.incident_id

    @staticmethod
    def resolve_incident(obj: Any) -> str | None:
        return obj.group.incident.number if obj.group.incident_id else None

    @staticmethod
    def resolve_ci(obj: Any) -> str | None:
        return obj.ci.name if obj.ci_id else None

    @staticmethod
    def resolve_decided_by(obj: Any) -> str | None:
        return obj.decided_by.email if obj.decided_by_id else None

    @staticmethod
    def resolve_change(obj: Any) -> str | None:
        return obj.change.number if obj.change_id else None


class RunFilterIn(Schema):
    organization_id: ObjectId | None = None
    runbook_id: ObjectId | None = None
    group_id: ObjectId | None = None
    state: RunState | None = None


class DecisionIn(InSchema):
    note: Note = ""


@router.get(
    "/runbooks",
    response={200: list[RunbookOut], **ERROR_RESPONSES},
    summary="Self-healing runbooks, by organisation and active flag",
)
@paginate(Paginated)
def list_runbooks(request: HttpRequest, filters: Query[RunbookFilterIn]):  # type: ignore[no-untyped-def]
    qs = runbooks.runbooks_for(request.auth)
    if filters.organization_id is not None:
        qs = qs.filter(organization_id=filters.organization_id)
    if filters.is_active is not None:
        qs = qs.filter(is_active=filters.is_active)
    return qs.order_by("name", "id")


@router.post(
    "/runbooks",
    response={201: RunbookOut, **ERROR_RESPONSES},
    summary="Create a runbook (managers and admins); 422 names the condition or action key "
    "at fault (action.url must be http(s), action.command on the allow-list, "
    "action.template_id a standard-change template of the organisation)",
)
def create_runbook(request: HttpRequest, payload: RunbookIn):  # type: ignore[no-untyped-def]
    user = request.auth
    org = access_organization(user, payload.organization_id)
    require(user, Runbook, Action.ADD, org.pk)
    data = payload.dict()
    data.pop("organization_id")
    data["action_kind"] = str(data["action_kind"])
    return Status(201, runbooks.create_runbook(acting_user=user, organization=org, **data))


@router.get(
    "/runbooks/{runbook_id}",
    response={200: RunbookOut, **ERROR_RESPONSES},
    summary="A runbook",
)
def get_runbook(request: HttpRequest, runbook_id: int):  # type: ignore[no-untyped-def]
    return runbooks.access_runbook(request.auth, runbook_id)


@router.patch(
    "/runbooks/{runbook_id}",
    response={200: RunbookOut, **ERROR_RESPONSES},
    summary="Change a runbook (managers and admins); it is checked whole again",
)
def update_runbook(request: HttpRequest, runbook_id: int, payload: RunbookPatch):  # type: ignore[no-untyped-def]
    book = runbooks.access_runbook(request.auth, runbook_id)
    data = payload.dict(exclude_unset=True)
    for name, value in data.items():
        if value is None and name != "description":
            raise FieldError({name: "Cannot be null."})
    if "action_kind" in data:
        data["action_kind"] = str(data["action_kind"])
    return runbooks.update_runbook(acting_user=request.auth, runbook=book, **data)


@router.delete(
    "/runbooks/{runbook_id}",
    response={204: None, **ERROR_RESPONSES},
    summary="Delete a runbook that never ran (409 for one with runs: deactivate it instead)",
)
def delete_runbook(request: HttpRequest, runbook_id: int):  # type: ignore[no-untyped-def]
    book = runbooks.access_runbook(request.auth, runbook_id)
    runbooks.delete_runbook(acting_user=request.auth, runbook=book)
    return Status(204, None)


@router.get(
    "/runbook-runs",
    response={200: list[RunOut], **ERROR_RESPONSES},
    summary="Runs of runbooks, newest first, by organisation, runbook, alert group and state "
    "(refusals by a guard rail are runs in state refused, with their reason)",
)
@paginate(Paginated)
def list_runs(request: HttpRequest, filters: Query[RunFilterIn]):  # type: ignore[no-untyped-def]
    qs = runbooks.runs_for(request.auth)
    for name in ("organization_id", "runbook_id", "group_id", "state"):
        value = getattr(filters, name)
        if value is not None:
            qs = qs.filter(**{name: str(value) if name == "state" else value})
    return qs.order_by("-requested_at", "-id")


@router.get(
    "/runbook-runs/{runbook_run_id}",
    response={200: RunOut, **ERROR_RESPONSES},
    summary="One run: what it sent, what came back, its state and reason",
)
def get_run(request: HttpRequest, runbook_run_id: int):  # type: ignore[no-untyped-def]
    return runbooks.access_run(request.auth, runbook_run_id)


@router.post(
    "/runbook-runs/{runbook_run_id}/approve",
    response={200: RunOut, **ERROR_RESPONSES},
    summary="Approve a run awaiting approval (managers and admins): it is queued to run; 409 "
    "when it is not waiting, its group resolved or its action is no longer valid",
)
def approve_run(request: HttpRequest, runbook_run_id: int, payload: DecisionIn):  # type: ignore[no-untyped-def]
    run = runbooks.access_run(request.auth, runbook_run_id)
    runbooks.approve_run(acting_user=request.auth, run=run, note=payload.note)
    return runbooks.access_run(request.auth, runbook_run_id)


@router.post(
    "/runbook-runs/{runbook_run_id}/reject",
    response={200: RunOut, **ERROR_RESPONSES},
    summary="Reject a run awaiting approval (managers and admins); 409 when it is not waiting",
)
def reject_run(request: HttpRequest, runbook_run_id: int, payload: DecisionIn):  # type: ignore[no-untyped-def]
    run = runbooks.access_run(request.auth, runbook_run_id)
    runbooks.reject_run(acting_user=request.auth, run=run, note=payload.note)
    return runbooks.access_run(request.auth, runbook_run_id)
