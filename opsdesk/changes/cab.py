"""CAB meetings: the change advisory board (or the emergency CAB) meets, goes through an
agenda of changes awaiting authorisation and records a decision on each.

* A meeting is planned, then in progress, then completed (or cancelled while planned). Its
  chair and members decide; managers and admins of the organisation may also organise it
  (build the agenda, start, complete, cancel).
* `build_agenda` adds the changes in Authorise that wait for a CAB approval (only emergency
  changes for an emergency CAB) and, on request, every other change in Authorise for
  discussion; the agenda is ordered by risk class (highest first, blank counts as moderate)
  then planned start.
* `record_decision` (approved / rejected / deferred, with notes; a rejection needs them)
  applies an approval or rejection to the change's CAB approval through the approvals
  engine, so the change moves on (Scheduled, or back to New). For a change on the agenda
  without a CAB approval the decision is the board's advice, kept in the minutes and on
  the change's timeline.
* Completing the meeting defers what was not reached; the agenda items with their
  decisions are the minutes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from opsdesk.accounts.models import User
from opsdesk.changes import approvals as engine
from opsdesk.changes.approval_policies import can_approve_in, risk_of
from opsdesk.changes.choices import (
    ApprovalState,
    CabDecision,
    CabKind,
    CabState,
    ChangeState,
    ChangeType,
    RiskClass,
)
from opsdesk.changes.models import Approval, CabAgendaItem, CabMeeting, Change
from opsdesk.core.actions import require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action, has_permission
from opsdesk.core.selectors import access
from opsdesk.servicedesk import timeline
from opsdesk.servicedesk.choices import ActivityKind

MEETING_FIELDS = ("kind", "title", "starts_at", "ends_at", "location", "chair", "notes")
#: Highest risk first on the agenda.
RISK_RANK = {
    RiskClass.VERY_HIGH: 0,
    RiskClass.HIGH: 1,
    RiskClass.MODERATE: 2,
    RiskClass.LOW: 3,
}
OPEN_MEETING_STATES = (CabState.PLANNED, CabState.IN_PROGRESS)
NOT_REACHED = "Not reached in the meeting."


# --- Reads ------------------------------------------------------------------------------------


def meetings(user: Any, action: str = Action.VIEW) -> QuerySet[CabMeeting]:
    return CabMeeting.objects.restrict(user, action).select_related("chair", "organization")


def access_meeting(user: Any, meeting_id: int, action: str = Action.VIEW) -> CabMeeting:
    return access(meetings(user, action), meeting_id, "CAB meeting")


def access_item(user: Any, meeting: CabMeeting, item_id: int) -> CabAgendaItem:
    qs = CabAgendaItem.objects.restrict(user).filter(meeting=meeting)
    return access(qs, item_id, "agenda item")


def agenda(meeting: CabMeeting) -> list[CabAgendaItem]:
    return list(
        meeting.items.select_related(
            "change", "change__assignment_group", "change__service", "decided_by"
        ).order_by("position", "id")
    )


def is_panel(user: Any, meeting: CabMeeting) -> bool:
    """The chair or a member: the people who decide."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return meeting.chair_id == user.pk or meeting.members.filter(pk=user.pk).exists()


def may_organise(user: Any, meeting: CabMeeting) -> bool:
    return is_panel(user, meeting) or has_permission(
        user, CabMeeting, Action.DELETE, meeting.organization_id
    )


def item_status(item: CabAgendaItem) -> dict[str, Any]:
    """Whether the item can still be decided and what a decision would do."""
    change = item.change
    approval = engine.cab_approval(change) if change.state == ChangeState.AUTHORISE else None
    decided = item.decision in (CabDecision.APPROVED, CabDecision.REJECTED)
    return {
        "approval": approval,
        "open": not decided and change.state == ChangeState.AUTHORISE,
        "advisory": approval is None,
    }


def minutes(meeting: CabMeeting) -> dict[str, Any]:
    """The record of decisions: every agenda item with its decision, who and when."""
    items = agenda(meeting)
    counts = {d: sum(1 for i in items if i.decision == d) for d in CabDecision.values}
    return {"items": items, "counts": counts, "notes": meeting.notes}


# --- Meetings ---------------------------------------------------------------------------------


def _check_people(org_id: int, chair: User | None, members: Iterable[User]) -> None:
    errors: dict[str, str] = {}
    if chair is None:
        errors["chair_id"] = "A meeting needs a chair."
    elif not can_approve_in(chair, org_id):
        errors["chair_id"] = f"{chair} cannot decide on changes in this organisation."
    unable = [str(u) for u in members if not can_approve_in(u, org_id)]
    if unable:
        errors["member_ids"] = f"Cannot decide on changes here: {', '.join(unable)}."
    if errors:
        raise FieldError(errors)


def _check_times(starts_at: datetime | None, ends_at: datetime | None) -> None:
    if starts_at is None:
        raise FieldError({"starts_at": "When does the meeting start?"})
    if ends_at is None:
        raise FieldError({"ends_at": "When does the meeting end?"})
    if ends_at <= starts_at:
        raise FieldError({"ends_at": "The meeting must end after it starts."})


@transaction.atomic
def create_meeting(
    *,
    acting_user: Any,
    organization: Organization,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    kind: str = CabKind.CAB,
    chair: User | None = None,
    members: Iterable[User] = (),
    location: str = "",
    notes: str = "",
) -> CabMeeting:
    """Plan a meeting; the chair defaults to whoever plans it."""
    require(acting_user, CabMeeting, Action.ADD, organization.pk)
    members = list(dict.fromkeys(members))
    chair = chair or (acting_user if getattr(acting_user, "is_authenticated", False) else None)
    if kind not in CabKind.values:
        raise FieldError({"kind": f"One of: {', '.join(CabKind.values)}."})
    if not (title or "").strip():
        raise FieldError({"title": "A title is required."})
    _check_times(starts_at, ends_at)
    _check_people(organization.pk, chair, members)
    with acting_as(acting_user):
        meeting = CabMeeting(
            organization=organization,
            kind=kind,
            title=title.strip(),
            starts_at=starts_at,
            ends_at=ends_at,
            chair=chair,
            location=location,
            notes=notes,
        )
        save_validated(meeting)
        meeting.members.set(members)
    return meeting


def _refuse_if_closed(meeting: CabMeeting) -> None:
    if meeting.state not in OPEN_MEETING_STATES:
        raise Conflict(f"{meeting.number} is {meeting.get_state_display().lower()}.", field="state")


@transaction.atomic
def update_meeting(
    *,
    acting_user: Any,
    meeting: CabMeeting,
    members: Iterable[User] | None = None,
    **changes: Any,
) -> CabMeeting:
    """Change the meeting's details, chair or members (notes also once it is completed)."""
    require(acting_user, CabMeeting, Action.CHANGE, meeting.organization_id)
    if not may_organise(acting_user, meeting):
        raise PermissionDenied("Only the chair, a member or a manager may change this meeting.")
    unknown = sorted(set(changes) - set(MEETING_FIELDS))
    if unknown:
        raise FieldError({n: "This field cannot be changed here." for n in unknown})
    if set(changes) - {"notes"} or members is not None:
        _refuse_if_closed(meeting)
    if "kind" in changes and changes["kind"] not in CabKind.values:
        raise FieldError({"kind": f"One of: {', '.join(CabKind.values)}."})
    if "title" in changes:
        changes["title"] = (changes["title"] or "").strip()
        if not changes["title"]:
            raise FieldError({"title": "A title is required."})
    _check_times(
        changes.get("starts_at", meeting.starts_at), changes.get("ends_at", meeting.ends_at)
    )
    members = list(dict.fromkeys(members)) if members is not None else None
    _check_people(
        meeting.organization_id,
        changes.get("chair", meeting.chair) if "chair" in changes else meeting.chair,
        members if members is not None else [],
    )
    with acting_as(acting_user):
        for name, value in changes.items():
            setattr(meeting, name, value)
        save_validated(meeting)
        if members is not None:
            meeting.members.set(members)
    return meeting


def _move(acting_user: Any, meeting: CabMeeting, sources: tuple[str, ...], target: str) -> None:
    require(acting_user, CabMeeting, Action.CHANGE, meeting.organization_id)
    if not may_organise(acting_user, meeting):
        raise PermissionDenied("Only the chair, a member or a manager may run this meeting.")
    if meeting.state not in sources:
        raise Conflict(
            f"{meeting.number} is {meeting.get_state_display().lower()}: it cannot become "
            f"{CabState(target).label.lower()}.",
            field="state",
        )
    with acting_as(acting_user):
        meeting.state = target
        save_validated(meeting)


@transaction.atomic
def start_meeting(*, acting_user: Any, meeting: CabMeeting) -> CabMeeting:
    _move(acting_user, meeting, (CabState.PLANNED,), CabState.IN_PROGRESS)
    return meeting


@transaction.atomic
def complete_meeting(*, acting_user: Any, meeting: CabMeeting) -> CabMeeting:
    """End the meeting: items not decided are deferred ("not reached")."""
    _move(acting_user, meeting, (CabState.IN_PROGRESS,), CabState.COMPLETED)
    now = timezone.now()
    with acting_as(acting_user):
        for item in meeting.items.filter(decision=CabDecision.PENDING):
            item.decision = CabDecision.DEFERRED
            item.decision_notes = NOT_REACHED
            item.decided_at = now
            save_validated(item)
    return meeting


@transaction.atomic
def cancel_meeting(*, acting_user: Any, meeting: CabMeeting) -> CabMeeting:
    _move(acting_user, meeting, (CabState.PLANNED,), CabState.CANCELLED)
    return meeting


# --- Agenda -----------------------------------------------------------------------------------


def _key(change: Change) -> tuple[Any, ...]:
    start = change.planned_start
    return (
        RISK_RANK.get(risk_of(change), 2),
        start is None,
        start or timezone.now(),
        change.number,
    )


def candidates(meeting: CabMeeting, *, include_authorise: bool = False) -> list[Change]:
    """Changes in Authorise waiting for a CAB approval (emergency ones for an emergency
    CAB), and with `include_authorise` every other change in Authorise."""
    in_authorise = Change.objects.filter(
        organization_id=meeting.organization_id, state=ChangeState.AUTHORISE
    )
    if meeting.kind == CabKind.ECAB:
        in_authorise = in_authorise.filter(change_type=ChangeType.EMERGENCY)
    if not include_authorise:
        waiting = Approval.objects.filter(
            organization_id=meeting.organization_id, cab=True, state=ApprovalState.REQUESTED
        ).values("change_id")
        in_authorise = in_authorise.filter(pk__in=waiting)
    return sorted(in_authorise, key=_key)


@transaction.atomic
def build_agenda(
    *, acting_user: Any, meeting: CabMeeting, include_authorise: bool = False
) -> list[CabAgendaItem]:
    """Add the changes awaiting the board (see `candidates`) that are not on the agenda yet,
    and order the whole agenda by risk then planned start. Returns the new items."""
    require(acting_user, CabMeeting, Action.CHANGE, meeting.organization_id)
    if not may_organise(acting_user, meeting):
        raise PermissionDenied("Only the chair, a member or a manager may build the agenda.")
    _refuse_if_closed(meeting)
    present = set(meeting.items.values_list("change_id", flat=True))
    added = []
    with acting_as(acting_user):
        for change in candidates(meeting, include_authorise=include_authorise):
            if change.pk in present:
                continue
            item = CabAgendaItem(
                organization_id=meeting.organization_id,
                meeting=meeting,
                change=change,
                position=len(present) + len(added) + 1,
            )
            save_validated(item)
            added.append(item)
        items = sorted(agenda(meeting), key=lambda i: _key(i.change))
        for position, item in enumerate(items, start=1):
            if item.position != position:
                item.position = position
                item.save(update_fields=["position", "updated_at"])
        meeting.save(update_fields=["updated_at"])
    return added


@transaction.atomic
def record_decision(
    *, acting_user: Any, item: CabAgendaItem, decision: str, notes: str = ""
) -> CabAgendaItem:
    """The chair or a member records the board's decision on one agenda item."""
    meeting = CabMeeting.objects.select_for_update().get(pk=item.meeting_id)
    item = (
        CabAgendaItem.objects.select_for_update(of=("self",))
        .select_related("change")
        .get(pk=item.pk)
    )
    require(acting_user, CabAgendaItem, Action.CHANGE, meeting.organization_id)
    if not is_panel(acting_user, meeting):
        raise PermissionDenied("Only the chair or a member of the meeting records decisions.")
    if decision not in (CabDecision.APPROVED, CabDecision.REJECTED, CabDecision.DEFERRED):
        raise FieldError({"decision": "One of: approved, rejected, deferred."})
    notes = (notes or "").strip()
    if decision == CabDecision.REJECTED and not notes:
        raise FieldError({"notes": "Say why the board rejects the change."})
    if meeting.state != CabState.IN_PROGRESS:
        raise Conflict(
            f"{meeting.number} is {meeting.get_state_display().lower()}: decisions are "
            "recorded while it is in progress.",
            field="state",
        )
    if item.decision in (CabDecision.APPROVED, CabDecision.REJECTED):
        raise Conflict(
            f"{item.change.number} was already {item.get_decision_display().lower()}.",
            field="decision",
        )
    change = item.change
    if change.state != ChangeState.AUTHORISE:
        raise Conflict(
            f"{change.number} is {change.get_state_display().lower()}, no longer awaiting "
            "authorisation.",
            field="state",
        )
    approval = engine.cab_approval(change)
    now = timezone.now()
    with acting_as(acting_user):
        if approval is not None and decision != CabDecision.DEFERRED:
            engine.decide_cab(
                acting_user=acting_user,
                approval=approval,
                approve=decision == CabDecision.APPROVED,
                comment=notes,
                meeting=meeting,
            )
        else:
            label = CabDecision(decision).label.lower()
            timeline.record(
                change,
                ActivityKind.APPROVAL,
                actor=acting_user,
                body=notes or f"{meeting.number}: {label}.",
                data={
                    "event": "cab_decision",
                    "decision": decision,
                    "advisory": approval is None,
                    "meeting": meeting.number,
                    "meeting_id": meeting.pk,
                },
                at=now,
            )
        item.decision = decision
        item.decision_notes = notes
        item.decided_by = acting_user
        item.decided_at = now
        save_validated(item)
    return item
