"""The approvals engine: from "request authorisation" to "authorised" (or back to New).

* When a change requests authorisation, a guard checks that every step of the plan that
  applies (`opsdesk.changes.approval_policies.plan_for`) has enough people to ask, and the
  after-hook asks the first step: one `Approval` per eligible approver (never the change's
  requester), or one ``cab=True`` approval decided in a CAB meeting. Each ask is an
  ``approval`` timeline entry naming the approvers, which the notify app mails.
* When a step reaches its quorum, its other requests are skipped and the next step of the
  policy starts; after the last step the engine authorises the change
  (``transition_change(name="authorise", acting_user=None, system="Approvals")``).
* Any rejection (a comment is required) skips what is still outstanding and rejects the
  change (back to New) with the comment as the reason.
* ``authorise`` is refused while anything is outstanding; ``reject``, ``revise`` and
  ``cancel`` skip what is outstanding; requesting again starts a new round.

`approve` and `reject` are the people's actions; `decide_cab` is how a CAB meeting
(`opsdesk.changes.cab`) decides a CAB approval.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from opsdesk.changes import hooks
from opsdesk.changes.approval_policies import (
    PlannedStep,
    eligible_approvers,
    next_step,
    plan_for,
)
from opsdesk.changes.choices import ApprovalState, ApproverKind, ChangeState, ChangeType
from opsdesk.changes.models import Approval, Change
from opsdesk.changes.sections import Section, register_section
from opsdesk.core.actions import save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.permissions import Action, has_permission
from opsdesk.core.selectors import access
from opsdesk.servicedesk import timeline
from opsdesk.servicedesk.choices import ActivityKind

SYSTEM = "Approvals"


def _name(user: Any) -> str:
    return (getattr(user, "full_name", "") or getattr(user, "email", "")) if user else ""


# --- Reads ------------------------------------------------------------------------------------


def outstanding(change: Change) -> list[Approval]:
    """The approvals of `change` still waiting for a decision (the shared contract)."""
    return list(
        Approval.objects.filter(change_id=change.pk, state=ApprovalState.REQUESTED)
        .select_related("approver", "team")
        .order_by("round", "step", "id")
    )


def approvals(user: Any, action: str = Action.VIEW) -> QuerySet[Approval]:
    return Approval.objects.restrict(user, action).select_related(
        "change", "approver", "decided_by", "team", "policy"
    )


def access_approval(user: Any, approval_id: int, action: str = Action.VIEW) -> Approval:
    return access(approvals(user, action), approval_id, "approval")


def awaiting(user: Any) -> QuerySet[Approval]:
    """What waits for `user`: their requested approvals on changes in Authorise."""
    return (
        approvals(user)
        .filter(
            approver_id=getattr(user, "pk", None),
            state=ApprovalState.REQUESTED,
            change__state=ChangeState.AUTHORISE,
        )
        .order_by("created_at", "id")
    )


def current_round(change: Change) -> int:
    return Approval.objects.filter(change_id=change.pk).aggregate(r=Max("round"))["r"] or 0


def waiting_for(pending: list[Approval]) -> str:
    """'Network team: Alex Agent, Mandla Manager; CAB (in a meeting)'."""
    steps: dict[str, list[str]] = {}
    for approval in pending:
        who = "a CAB meeting" if approval.cab else _name(approval.approver)
        steps.setdefault(approval.step_name, []).append(who)
    return "; ".join(f"{step}: {', '.join(who)}" for step, who in steps.items())


def may_decide(user: Any, approval: Approval) -> bool:
    """The approver asked, or (for a team step) a current member of the team."""
    if user is None or not getattr(user, "is_authenticated", False) or approval.cab:
        return False
    if approval.approver_id == user.pk:
        return True
    return approval.team_id is not None and approval.team.members.filter(pk=user.pk).exists()


# --- Starting steps --------------------------------------------------------------------------


def _record(change: Change, actor: Any, body: str, data: dict[str, Any], at: Any = None) -> None:
    timeline.record(
        change,
        ActivityKind.APPROVAL,
        actor=actor,
        actor_name="" if getattr(actor, "is_authenticated", False) else SYSTEM,
        body=body,
        data=data,
        at=at,
    )


def _start_step(change: Change, step: PlannedStep, round_: int, actor: Any) -> list[Approval]:
    """Ask the people of `step`; a CAB step asks for one decision in a meeting."""
    common = {
        "organization_id": change.organization_id,
        "change": change,
        "step": step.position,
        "step_name": step.name[:200],
        "round": round_,
        "policy": step.policy,
    }
    info = {"round": round_, "step": step.position, "label": step.name, "kind": step.kind}
    if step.cab:
        approval = Approval(**common, quorum=1, cab=True)
        save_validated(approval)
        _record(
            change,
            actor,
            f"{step.name}: to be decided in a CAB meeting.",
            {**info, "event": "requested", "cab": True, "approver_ids": []},
        )
        return [approval]
    people = eligible_approvers(step, change)
    if not people:
        # Only possible for a later step whose people left since the request was checked:
        # nothing is outstanding, and the entry says why the change waits.
        _record(
            change,
            actor,
            f"{step.name}: nobody left who may approve; revise the change or its policy.",
            {**info, "event": "blocked"},
        )
        return []
    quorum = min(step.quorum, len(people))
    created = []
    for person in people:
        approval = Approval(
            **common,
            quorum=quorum,
            approver=person,
            team=step.team if step.kind == ApproverKind.TEAM else None,
        )
        save_validated(approval)
        created.append(approval)
    body = f"{step.name}: asked {', '.join(_name(p) for p in people)}"
    body += f" ({quorum} needed)." if len(people) > 1 else "."
    if quorum < step.quorum:
        body += f" The policy asks for {step.quorum}; only {len(people)} may approve."
    _record(
        change,
        actor,
        body,
        {
            **info,
            "event": "requested",
            "quorum": quorum,
            "approver_ids": [p.pk for p in people],
            "approvers": [_name(p) for p in people],
        },
    )
    return created


def _check_plan(change: Change) -> None:
    """Refuse to ask when a step could never reach its quorum."""
    plan = plan_for(change)
    for step in plan.steps:
        if step.cab:
            continue
        people = eligible_approvers(step, change)
        if len(people) >= step.quorum:
            continue
        if step.kind == ApproverKind.CHANGE_MANAGER:
            raise FieldError(
                {
                    "change_manager_id": (
                        f"{plan.name} needs the change manager's approval: name a change "
                        "manager (or give the assignment group a manager) who did not "
                        "request the change."
                    )
                }
            )
        raise Conflict(
            f"{plan.name}, step {step.position} ({step.name}) needs {step.quorum} "
            f"approval{'s' if step.quorum != 1 else ''} but only {len(people)} "
            f"{'person' if len(people) == 1 else 'people'} may approve (the requester may "
            "not approve their own change).",
            field="state",
        )


@hooks.guard("request_authorisation", order=900)
def _guard_request(change: Change, name: str, values: dict[str, Any], acting_user: Any) -> None:
    # order=900: after the risk part set the risk class the policy is matched on.
    _check_plan(change)


@hooks.after("request_authorisation")
def _on_request(change: Change, name: str, values: dict[str, Any], acting_user: Any) -> None:
    plan = plan_for(change)
    round_ = current_round(change) + 1
    _record(
        change,
        acting_user,
        f"{plan.name}: " + "; then ".join(s.describe() for s in plan.steps) + ".",
        {
            "event": "plan",
            "round": round_,
            "policy_id": plan.policy.pk if plan.policy else None,
            "policy": plan.name,
            "steps": [s.describe() for s in plan.steps],
        },
    )
    _start_step(change, plan.steps[0], round_, acting_user)


@hooks.guard("authorise")
def _guard_authorise(change: Change, name: str, values: dict[str, Any], acting_user: Any) -> None:
    pending = outstanding(change)
    if pending:
        raise Conflict(
            f"{change.number} cannot be authorised yet: still to approve: {waiting_for(pending)}.",
            field="state",
        )


def _skip(change: Change, actor: Any, why: str, at: Any = None) -> int:
    pending = list(
        Approval.objects.select_for_update().filter(
            change_id=change.pk, state=ApprovalState.REQUESTED
        )
    )
    now = at or timezone.now()
    for approval in pending:
        approval.state = ApprovalState.SKIPPED
        approval.decided_at = now
        save_validated(approval)
    if pending:
        _record(
            change,
            actor,
            f"No longer required ({why}): {waiting_for(pending)}.",
            {"event": "skipped", "why": why, "approval_ids": [a.pk for a in pending]},
            at=now,
        )
    return len(pending)


@hooks.after("reject", "revise", "cancel")
def _on_withdraw(change: Change, name: str, values: dict[str, Any], acting_user: Any) -> None:
    why = {"reject": "rejected", "revise": "sent back to New", "cancel": "cancelled"}[name]
    _skip(change, acting_user, f"the change was {why}")


# --- Deciding ---------------------------------------------------------------------------------


def _advance(change: Change, approval: Approval, actor: Any) -> None:
    """After an approval: when its step has its quorum, skip the rest of the step and start
    the next one, or authorise the change after the last."""
    step_rows = Approval.objects.filter(
        change_id=change.pk, round=approval.round, step=approval.step
    )
    if step_rows.filter(state=ApprovalState.APPROVED).count() < approval.quorum:
        return
    rest = list(step_rows.filter(state=ApprovalState.REQUESTED))
    now = timezone.now()
    for other in rest:
        other.state = ApprovalState.SKIPPED
        other.decided_at = now
        save_validated(other)
    _record(
        change,
        actor,
        f"{approval.step_name}: approved ({approval.quorum} needed)."
        + (f" No longer needed: {waiting_for(rest)}." if rest else ""),
        {
            "event": "step_done",
            "round": approval.round,
            "step": approval.step,
            "label": approval.step_name,
        },
    )
    following = next_step(approval)
    if following is not None:
        # If nobody may approve it any more, the entry says so and the change waits.
        _start_step(change, following, approval.round, actor)
        return
    from opsdesk.changes.actions import transition_change

    transition_change(acting_user=None, change=change, name="authorise", system=SYSTEM)


def _decide(
    user: Any,
    approval: Approval,
    approve: bool,
    comment: str,
    *,
    meeting: Any = None,
) -> Approval:
    comment = (comment or "").strip()
    if not approve and not comment:
        raise FieldError({"comment": "Say why the change is rejected."})
    change = Change.objects.select_for_update().get(pk=approval.change_id)
    approval = Approval.objects.select_for_update().get(pk=approval.pk)
    if meeting is None and approval.cab:
        raise Conflict(
            f"{approval.step_name} is decided in a CAB meeting, not by one person.", field="cab"
        )
    if approval.state != ApprovalState.REQUESTED:
        raise Conflict(
            f"This approval is already {approval.get_state_display().lower()}.", field="state"
        )
    if change.state != ChangeState.AUTHORISE:
        raise Conflict(
            f"{change.number} is {change.get_state_display().lower()}, not awaiting authorisation.",
            field="state",
        )
    if meeting is None and not may_decide(user, approval):
        who = _name(approval.approver)
        if approval.team_id:
            who += f" (or a member of {approval.team.name})"
        raise PermissionDenied(f"Only {who} may decide this approval.")
    if approve and user.pk == change.requested_by_id:
        raise PermissionDenied("You requested this change: you may not approve it.")
    if meeting is None and approval.approver_id != user.pk:
        own = Approval.objects.filter(
            change_id=change.pk,
            round=approval.round,
            step=approval.step,
            state=ApprovalState.REQUESTED,
            approver_id=user.pk,
        ).first()
        if own is not None:
            raise Conflict(f"Decide your own approval ({own.pk}) for this step.", field="state")
    if (
        meeting is None
        and Approval.objects.filter(
            change_id=change.pk, round=approval.round, step=approval.step, decided_by_id=user.pk
        )
        .exclude(state=ApprovalState.SKIPPED)
        .exists()
    ):
        raise Conflict("You have already decided on this step.", field="state")
    now = timezone.now()
    with acting_as(user):
        approval.state = ApprovalState.APPROVED if approve else ApprovalState.REJECTED
        approval.comment = comment
        approval.decided_by = user
        approval.decided_at = now
        save_validated(approval)
        verb = "approved" if approve else "rejected"
        where = f" in {meeting.number}" if meeting is not None else ""
        behalf = (
            f" for {_name(approval.approver)}"
            if approval.approver_id and approval.approver_id != user.pk
            else ""
        )
        _record(
            change,
            user,
            comment or f"{approval.step_name}: {verb}{where}.",
            {
                "event": verb,
                "approval_id": approval.pk,
                "round": approval.round,
                "step": approval.step,
                "label": approval.step_name,
                **({"meeting": meeting.number, "meeting_id": meeting.pk} if meeting else {}),
                **({"on_behalf_of": _name(approval.approver)} if behalf else {}),
            },
            at=now,
        )
        if approve:
            _advance(change, approval, user)
        else:
            from opsdesk.changes.actions import transition_change

            _skip(change, user, f"{approval.step_name} rejected by {_name(user)}", at=now)
            transition_change(acting_user=user, change=change, name="reject", reason=comment)
    return approval


def _require_approver_role(user: Any, approval: Approval) -> None:
    if not has_permission(user, Approval, Action.CHANGE, approval.organization_id):
        raise PermissionDenied("Your role does not decide on changes in this organisation.")


@transaction.atomic
def approve(*, acting_user: Any, approval: Approval, comment: str = "") -> Approval:
    """The approver (or, for a team step, a member of the team) approves."""
    _require_approver_role(acting_user, approval)
    return _decide(acting_user, approval, True, comment)


@transaction.atomic
def reject(*, acting_user: Any, approval: Approval, comment: str) -> Approval:
    """The approver rejects, saying why: the change goes back to New with that reason."""
    _require_approver_role(acting_user, approval)
    return _decide(acting_user, approval, False, comment)


def decide_cab(
    *, acting_user: Any, approval: Approval, approve: bool, comment: str, meeting: Any
) -> Approval:
    """A CAB meeting's decision on a CAB approval (the caller checked the chair or member)."""
    if not approval.cab:
        raise Conflict("Only a CAB approval is decided in a meeting.", field="cab")
    return _decide(acting_user, approval, approve, comment, meeting=meeting)


def cab_approval(change: Change) -> Approval | None:
    """The CAB approval `change` is waiting for, if any."""
    return (
        Approval.objects.filter(change_id=change.pk, cab=True, state=ApprovalState.REQUESTED)
        .order_by("-round", "-step")
        .first()
    )


# --- The change page's section ------------------------------------------------------------------


def _rounds(change: Change, user: Any) -> list[dict[str, Any]]:
    rows = list(
        Approval.objects.filter(change_id=change.pk)
        .select_related("approver", "decided_by", "team")
        .order_by("-round", "step", "id")
    )
    rounds: dict[int, dict[int, dict[str, Any]]] = {}
    for approval in rows:
        steps = rounds.setdefault(approval.round, {})
        step = steps.setdefault(
            approval.step,
            {
                "position": approval.step,
                "name": approval.step_name,
                "quorum": approval.quorum,
                "approvals": [],
                "approved": 0,
                "cab": approval.cab,
            },
        )
        step["approvals"].append(
            {
                "approval": approval,
                "can_decide": approval.state == ApprovalState.REQUESTED
                and change.state == ChangeState.AUTHORISE
                and may_decide(user, approval)
                and not (
                    approval.approver_id != user.pk
                    and any(
                        r.approver_id == user.pk
                        and r.state == ApprovalState.REQUESTED
                        and r.round == approval.round
                        and r.step == approval.step
                        for r in rows
                    )
                ),
            }
        )
        if approval.state == ApprovalState.APPROVED:
            step["approved"] += 1
    return [
        {"round": number, "steps": [steps[k] for k in sorted(steps)]}
        for number, steps in sorted(rounds.items(), reverse=True)
    ]


def approvals_section(user: Any, change: Change) -> Section | None:
    if not has_permission(user, Approval, Action.VIEW, change.organization_id):
        return None
    rounds = _rounds(change, user)
    if change.change_type == ChangeType.STANDARD and not rounds:
        return None
    plan = None
    if change.state in (ChangeState.NEW, ChangeState.ASSESS):
        plan = plan_for(change)
    from opsdesk.changes.views_cab import change_url

    return Section(
        title="Approvals",
        template="changes/approvals/_section.html",
        context={
            "change": change,
            "rounds": rounds,
            "plan": plan,
            "next": change_url(change),
            "pending": waiting_for(outstanding(change)),
        },
        order=40,
        column="main",
    )


register_section(approvals_section)
