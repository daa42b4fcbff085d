"""API routes: approval policies, approvals of changes (approve / reject), and CAB meetings
with their agenda and decisions. Approvals of changes live at ``/change-approvals``:
``/approvals`` already holds the approvals of catalogue requests. Writes go through `opsdesk.changes.approval_policies`,
`opsdesk.changes.approvals` and `opsdesk.changes.cab`."""

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from opsdesk.accounts.models import Team, User
from opsdesk.changes import approval_policies as policies
from opsdesk.changes import approvals as engine
from opsdesk.changes import cab
from opsdesk.changes.models import Approval, ApprovalPolicy, CabMeeting
from opsdesk.changes.schemas_approvals import (
    ApprovalFilterIn,
    ApprovalOut,
    ApproveIn,
    DecisionIn,
    ItemOut,
    MeetingFilterIn,
    MeetingIn,
    MeetingOut,
    MeetingPatch,
    PolicyFilterIn,
    PolicyIn,
    PolicyOut,
    PolicyPatch,
    RejectIn,
)
from opsdesk.changes.selectors import access_change
from opsdesk.core.actions import require
from opsdesk.core.api import ERROR_RESPONSES, Paginated
from opsdesk.core.errors import FieldError
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access, access_organization

router = Router(tags=["Change approvals and CAB"])


# --- references -------------------------------------------------------------------------------


def _team(organization_id: int, pk: int | None, field: str) -> Team | None:
    if pk is None:
        return None
    found = Team.objects.filter(pk=pk, organization_id=organization_id).first()
    if found is None:
        raise FieldError({field: "No team of this organisation has this id."})
    return found


def _users(organization_id: int, ids: list[int] | None, field: str) -> list[User]:
    ids = list(dict.fromkeys(ids or []))
    found = {
        u.pk: u
        for u in User.objects.filter(
            pk__in=ids, memberships__organization_id=organization_id
        ).distinct()
    }
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise FieldError({field: f"No member of this organisation has id {', '.join(missing)}."})
    return [found[i] for i in ids]


def _user(organization_id: int, pk: int | None, field: str) -> User | None:
    return _users(organization_id, [pk], field)[0] if pk is not None else None


def _steps(organization_id: int, steps: list[Any]) -> list[dict[str, Any]]:
    out = []
    for i, step in enumerate(steps):
        data = step.dict(exclude_unset=True)
        out.append(
            {
                "approver_kind": data["approver_kind"],
                "name": data.get("name") or "",
                "team": _team(organization_id, data.get("team_id"), f"steps.{i}.team_id"),
                "users": _users(organization_id, data.get("user_ids"), f"steps.{i}.user_ids"),
                "quorum": data.get("quorum", 1),
            }
        )
    return out


# --- approval policies --------------------------------------------------------------------------


def _policies(user: Any, action: str = Action.VIEW) -> QuerySet[ApprovalPolicy]:
    return ApprovalPolicy.objects.restrict(user, action).prefetch_related(
        "steps__team", "steps__users"
    )


def _policy(user: Any, policy_id: int) -> ApprovalPolicy:
    return access(_policies(user), policy_id, "approval policy")


@router.get(
    "/approval-policies",
    response={200: list[PolicyOut], **ERROR_RESPONSES},
    summary="Approval policies, in the order they are matched",
)
@paginate(Paginated)
def list_policies(request: HttpRequest, filters: Query[PolicyFilterIn]):  # type: ignore[no-untyped-def]
    qs = _policies(request.auth)
    if filters.organization is not None:
        qs = qs.filter(organization_id=filters.organization)
    if filters.active is not None:
        qs = qs.filter(is_active=filters.active)
    return qs.order_by("organization_id", "order", "name", "pk")


@router.post(
    "/approval-policies",
    response={201: PolicyOut, **ERROR_RESPONSES},
    summary="Add a policy with its ordered steps (managers and admins)",
)
def create_policy(request: HttpRequest, payload: PolicyIn):  # type: ignore[no-untyped-def]
    user = request.auth
    org = access_organization(user, payload.organization_id)
    require(user, ApprovalPolicy, Action.ADD, org.pk)
    data = payload.dict(exclude_unset=True)
    fields = {
        k: data[k] for k in ("change_types", "risk_classes", "order", "is_active") if k in data
    }
    made = policies.create_policy(
        acting_user=user,
        organization=org,
        name=payload.name,
        steps=_steps(org.pk, payload.steps),
        **{k: v for k, v in fields.items() if v is not None},
    )
    return Status(201, _policy(user, made.pk))


@router.get("/approval-policies/{policy_id}", response={200: PolicyOut, **ERROR_RESPONSES})
def get_policy(request: HttpRequest, policy_id: int):  # type: ignore[no-untyped-def]
    return _policy(request.auth, policy_id)


@router.patch(
    "/approval-policies/{policy_id}",
    response={200: PolicyOut, **ERROR_RESPONSES},
    summary="Change a policy; steps (when given) replace all its steps; is_active=false retires it",
)
def update_policy(request: HttpRequest, policy_id: int, payload: PolicyPatch):  # type: ignore[no-untyped-def]
    user = request.auth
    policy = _policy(user, policy_id)
    data = payload.dict(exclude_unset=True)
    steps = data.pop("steps", None)
    for key in ("name", "change_types", "risk_classes", "order", "is_active"):
        if key in data and data[key] is None:
            raise FieldError({key: "May not be null."})
    policies.update_policy(
        acting_user=user,
        policy=policy,
        steps=_steps(policy.organization_id, payload.steps) if steps is not None else None,
        **data,
    )
    return _policy(user, policy.pk)


# --- approvals --------------------------------------------------------------------------------


def _approval(user: Any, change_approval_id: int) -> Approval:
    return engine.access_approval(user, change_approval_id)


@router.get(
    "/change-approvals",
    response={200: list[ApprovalOut], **ERROR_RESPONSES},
    summary="Approvals of changes; mine=true: what awaits my decision",
)
@paginate(Paginated)
def list_approvals(request: HttpRequest, filters: Query[ApprovalFilterIn]):  # type: ignore[no-untyped-def]
    user = request.auth
    qs = engine.awaiting(user) if filters.mine else engine.approvals(user)
    if filters.organization is not None:
        qs = qs.filter(organization_id=filters.organization)
    if filters.change_id is not None:
        qs = qs.filter(change_id=filters.change_id)
    if filters.state is not None:
        qs = qs.filter(state=filters.state)
    return qs.order_by("-created_at", "-id") if not filters.mine else qs


@router.get(
    "/change-approvals/{change_approval_id}", response={200: ApprovalOut, **ERROR_RESPONSES}
)
def get_approval(request: HttpRequest, change_approval_id: int):  # type: ignore[no-untyped-def]
    return _approval(request.auth, change_approval_id)


@router.post(
    "/change-approvals/{change_approval_id}/approve",
    response={200: ApprovalOut, **ERROR_RESPONSES},
    summary="Approve as the approver (or a member of the step's team); the last approval "
    "authorises the change",
)
def approve(request: HttpRequest, change_approval_id: int, payload: ApproveIn):  # type: ignore[no-untyped-def]
    user = request.auth
    approval = _approval(user, change_approval_id)
    engine.approve(acting_user=user, approval=approval, comment=payload.comment)
    return _approval(user, change_approval_id)


@router.post(
    "/change-approvals/{change_approval_id}/reject",
    response={200: ApprovalOut, **ERROR_RESPONSES},
    summary="Reject with a comment: the change goes back to New with it as the reason",
)
def reject(request: HttpRequest, change_approval_id: int, payload: RejectIn):  # type: ignore[no-untyped-def]
    user = request.auth
    approval = _approval(user, change_approval_id)
    engine.reject(acting_user=user, approval=approval, comment=payload.comment)
    return _approval(user, change_approval_id)


@router.get(
    "/changes/{change_id}/approvals",
    response={200: list[ApprovalOut], **ERROR_RESPONSES},
    summary="Every approval of a change, by round and step",
)
def change_approvals(request: HttpRequest, change_id: int):  # type: ignore[no-untyped-def]
    user = request.auth
    change = access_change(user, change_id)
    return list(engine.approvals(user).filter(change=change).order_by("round", "step", "id"))


# --- CAB meetings -----------------------------------------------------------------------------


def _meeting(user: Any, meeting_id: int) -> CabMeeting:
    return cab.access_meeting(user, meeting_id)


def _meeting_out(user: Any, meeting_id: int) -> CabMeeting:
    return cab.meetings(user).prefetch_related("members").get(pk=meeting_id)


@router.get(
    "/cab-meetings",
    response={200: list[MeetingOut], **ERROR_RESPONSES},
    summary="CAB and emergency CAB meetings, latest first",
)
@paginate(Paginated)
def list_meetings(request: HttpRequest, filters: Query[MeetingFilterIn]):  # type: ignore[no-untyped-def]
    qs = cab.meetings(request.auth).prefetch_related("members")
    if filters.organization is not None:
        qs = qs.filter(organization_id=filters.organization)
    if filters.state is not None:
        qs = qs.filter(state=filters.state)
    if filters.kind is not None:
        qs = qs.filter(kind=filters.kind)
    return qs.order_by("-starts_at", "-id")


@router.post(
    "/cab-meetings",
    response={201: MeetingOut, **ERROR_RESPONSES},
    summary="Plan a meeting (the chair defaults to you)",
)
def create_meeting(request: HttpRequest, payload: MeetingIn):  # type: ignore[no-untyped-def]
    user = request.auth
    org = access_organization(user, payload.organization_id)
    require(user, CabMeeting, Action.ADD, org.pk)
    data = payload.dict(exclude_unset=True)
    meeting = cab.create_meeting(
        acting_user=user,
        organization=org,
        title=payload.title,
        starts_at=payload.starts_at,
        ends_at=payload.ends_at,
        kind=data.get("kind") or "cab",
        chair=_user(org.pk, data.get("chair_id"), "chair_id"),
        members=_users(org.pk, data.get("member_ids"), "member_ids"),
        location=data.get("location") or "",
        notes=data.get("notes") or "",
    )
    return Status(201, _meeting_out(user, meeting.pk))


@router.get("/cab-meetings/{meeting_id}", response={200: MeetingOut, **ERROR_RESPONSES})
def get_meeting(request: HttpRequest, meeting_id: int):  # type: ignore[no-untyped-def]
    _meeting(request.auth, meeting_id)
    return _meeting_out(request.auth, meeting_id)


@router.patch(
    "/cab-meetings/{meeting_id}",
    response={200: MeetingOut, **ERROR_RESPONSES},
    summary="Change a meeting's details, chair or members (only notes once it is over)",
)
def update_meeting(request: HttpRequest, meeting_id: int, payload: MeetingPatch):  # type: ignore[no-untyped-def]
    user = request.auth
    meeting = _meeting(user, meeting_id)
    org_id = meeting.organization_id
    data = payload.dict(exclude_unset=True)
    changes: dict[str, Any] = {}
    for key in ("kind", "title", "starts_at", "ends_at", "location", "notes"):
        if key in data:
            if data[key] is None:
                raise FieldError({key: "May not be null."})
            changes[key] = data[key]
    if "chair_id" in data:
        changes["chair"] = _user(org_id, data["chair_id"], "chair_id")
    members = _users(org_id, data["member_ids"], "member_ids") if "member_ids" in data else None
    cab.update_meeting(acting_user=user, meeting=meeting, members=members, **changes)
    return _meeting_out(user, meeting_id)


@router.post(
    "/cab-meetings/{meeting_id}/agenda",
    response={200: MeetingOut, **ERROR_RESPONSES},
    summary="Add the changes awaiting a CAB decision (include_authorise=true: every change "
    "in Authorise), ordered by risk then planned start",
)
def build_agenda(request: HttpRequest, meeting_id: int, include_authorise: bool = False):  # type: ignore[no-untyped-def]
    user = request.auth
    meeting = _meeting(user, meeting_id)
    cab.build_agenda(acting_user=user, meeting=meeting, include_authorise=include_authorise)
    return _meeting_out(user, meeting_id)


@router.post(
    "/cab-meetings/{meeting_id}/items/{agenda_item_id}/decision",
    response={200: ItemOut, **ERROR_RESPONSES},
    summary="Record the board's decision (chair or member, meeting in progress): approved "
    "or rejected applies to the change's CAB approval",
)
def record_decision(
    request: HttpRequest, meeting_id: int, agenda_item_id: int, payload: DecisionIn
):  # type: ignore[no-untyped-def]
    user = request.auth
    meeting = _meeting(user, meeting_id)
    item = cab.access_item(user, meeting, agenda_item_id)
    cab.record_decision(acting_user=user, item=item, decision=payload.decision, notes=payload.notes)
    return cab.access_item(user, meeting, agenda_item_id)


def _move(request: HttpRequest, meeting_id: int, action: Any) -> CabMeeting:
    user = request.auth
    action(acting_user=user, meeting=_meeting(user, meeting_id))
    return _meeting_out(user, meeting_id)


@router.post(
    "/cab-meetings/{meeting_id}/start",
    response={200: MeetingOut, **ERROR_RESPONSES},
    summary="Planned -> in progress",
)
def start_meeting(request: HttpRequest, meeting_id: int):  # type: ignore[no-untyped-def]
    return _move(request, meeting_id, cab.start_meeting)


@router.post(
    "/cab-meetings/{meeting_id}/complete",
    response={200: MeetingOut, **ERROR_RESPONSES},
    summary="In progress -> completed; items not decided are deferred",
)
def complete_meeting(request: HttpRequest, meeting_id: int):  # type: ignore[no-untyped-def]
    return _move(request, meeting_id, cab.complete_meeting)


@router.post(
    "/cab-meetings/{meeting_id}/cancel",
    response={200: MeetingOut, **ERROR_RESPONSES},
    summary="Planned -> cancelled",
)
def cancel_meeting(request: HttpRequest, meeting_id: int):  # type: ignore[no-untyped-def]
    return _move(request, meeting_id, cab.cancel_meeting)
