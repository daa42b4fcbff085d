"""Every write on the catalogue, service requests, approvals and fulfilment tasks.

The flow: `submit_request` validates each item's answers against its form and creates the
request, its items and the approvals of each item's first step. `decide_approval` records a
decision; when a step is complete (any one or everyone approved, by the step's rule) the
next step is asked, and after the last one the item moves to fulfilment and its first group
of tasks is created for the teams. `transition_task` moves tasks; when an item's last task
is done the item is fulfilled, and when every item is finished the request follows
(`_sync_request`). Every step is written on the timelines of the request, item and task;
notifications and surveys listen to those entries.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from opsdesk.accounts.models import Membership, Team, User
from opsdesk.catalog.choices import (
    OPEN_ITEM_STATES,
    OPEN_TASK_STATES,
    ApprovalState,
    ItemState,
    RequestState,
    StepKind,
    StepRule,
    TaskState,
)
from opsdesk.catalog.definitions import (
    validate_answers,
    validate_form,
    validate_steps,
    validate_tasks,
)
from opsdesk.catalog.models import (
    Approval,
    CatalogItem,
    FulfilmentTask,
    RequestItem,
    ServiceRequest,
)
from opsdesk.catalog.workflows import ITEM, REQUEST, TASK
from opsdesk.core.actions import require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action, has_permission
from opsdesk.servicedesk import timeline
from opsdesk.servicedesk.actions import is_requester_only
from opsdesk.servicedesk.choices import ActivityKind

MAX_ITEMS_PER_REQUEST = 20
MAX_QUANTITY = 100

CATALOG_FIELDS = (
    "name",
    "category",
    "description",
    "active",
    "form",
    "approval_steps",
    "tasks",
    "delivery_days",
)


# --- Catalogue ------------------------------------------------------------------------------------


def check_definition(organization_id: int, values: dict[str, Any]) -> None:
    """Refuse a catalogue item whose form, approval steps or tasks are malformed."""
    errors: dict[str, str] = {}
    if "name" in values and not str(values["name"] or "").strip():
        errors["name"] = "A name is required."
    if "form" in values:
        errors.update(validate_form(values["form"]))
    if "approval_steps" in values:
        errors.update(validate_steps(values["approval_steps"], organization_id))
    if "tasks" in values:
        errors.update(validate_tasks(values["tasks"], organization_id))
    days = values.get("delivery_days")
    if days is not None and (
        isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 365
    ):
        errors["delivery_days"] = "A number of days between 0 and 365."
    if errors:
        raise FieldError(errors)


@transaction.atomic
def create_catalog_item(
    *, acting_user: Any, organization: Organization, name: str, **fields: Any
) -> CatalogItem:
    require(acting_user, CatalogItem, Action.ADD, organization.pk)
    unknown = sorted(set(fields) - set(CATALOG_FIELDS))
    if unknown:
        raise FieldError({n: "This field cannot be set." for n in unknown})
    values = {"name": name, **fields}
    check_definition(organization.pk, values)
    if CatalogItem.objects.filter(organization=organization, name=name.strip()).exists():
        raise FieldError({"name": "Another catalogue item already has this name."})
    with acting_as(acting_user):
        item = CatalogItem(organization=organization, **{**values, "name": name.strip()})
        return save_validated(item)


@transaction.atomic
def update_catalog_item(*, acting_user: Any, item: CatalogItem, **changes: Any) -> CatalogItem:
    require(acting_user, CatalogItem, Action.CHANGE, item.organization_id)
    unknown = sorted(set(changes) - set(CATALOG_FIELDS))
    if unknown:
        raise FieldError({n: "This field cannot be changed." for n in unknown})
    if any(v is None for k, v in changes.items() if k != "description"):
        nulls = [k for k, v in changes.items() if v is None]
        raise FieldError({n: "May not be empty (null)." for n in nulls})
    check_definition(item.organization_id, changes)
    if "name" in changes:
        changes["name"] = changes["name"].strip()
        clash = CatalogItem.objects.filter(
            organization_id=item.organization_id, name=changes["name"]
        ).exclude(pk=item.pk)
        if clash.exists():
            raise FieldError({"name": "Another catalogue item already has this name."})
    if changes.get("description") is None and "description" in changes:
        changes["description"] = ""
    with acting_as(acting_user):
        for name, value in changes.items():
            setattr(item, name, value)
        return save_validated(item)


# --- Approvers ------------------------------------------------------------------------------------


def manager_of(requester: User, organization_id: int) -> User | None:
    """The manager of the first team (by name) of `requester` in the organisation that has a
    manager other than the requester."""
    team = (
        Team.objects.filter(
            organization_id=organization_id, members=requester, manager__isnull=False
        )
        .exclude(manager=requester)
        .select_related("manager")
        .order_by("name")
        .first()
    )
    return team.manager if team is not None else None


def step_approvers(step: dict[str, Any], requester: User, organization_id: int) -> list[User]:
    """The people asked to approve `step` for `requester` (active members of the org)."""
    members = User.objects.filter(
        is_active=True, memberships__organization_id=organization_id
    ).distinct()
    kind = step.get("kind")
    if kind == StepKind.MANAGER:
        manager = manager_of(requester, organization_id)
        return [manager] if manager is not None and manager.is_active else []
    if kind == StepKind.USERS:
        return list(members.filter(pk__in=step.get("user_ids") or []).order_by("pk"))
    if kind == StepKind.GROUP:
        return list(members.filter(teams__pk=step.get("team_id")).order_by("pk"))
    return []


def step_label(step: dict[str, Any]) -> str:
    if step.get("label"):
        return str(step["label"])
    kind = step.get("kind")
    if kind == StepKind.MANAGER:
        return "Manager approval"
    if kind == StepKind.GROUP:
        team = Team.objects.filter(pk=step.get("team_id")).first()
        return f"Approval by {team.name}" if team else "Team approval"
    rule = "everyone" if step.get("rule") == StepRule.ALL else "any one"
    return f"Approval by named approvers ({rule})"


def _refuse_unresolvable_steps(
    index: int, catalog_item: CatalogItem, requester: User, errors: dict[str, str]
) -> None:
    for number, step in enumerate(catalog_item.approval_steps or [], start=1):
        if step_approvers(step, requester, catalog_item.organization_id):
            continue
        if step.get("kind") == StepKind.MANAGER:
            errors["requested_for_id"] = (
                f"{catalog_item.name} needs the approval of {requester}'s manager, but "
                f"{requester} is in no team that has a manager. Ask an administrator to set "
                "the manager of their team."
            )
        else:
            errors[f"items.{index}.catalog_item_id"] = (
                f"{catalog_item.name}: approval step {number} has nobody to approve it. "
                "Ask an administrator to fix the catalogue item."
            )


# --- Submitting a request -------------------------------------------------------------------------


def _actor_name(user: Any) -> str:
    return str(user) if user is not None else "OpsDesk"


@transaction.atomic
def submit_request(
    *,
    acting_user: Any,
    organization: Organization,
    items: list[dict[str, Any]],
    requested_for: User | None = None,
    opened_at: Any = None,
) -> ServiceRequest:
    """Order catalogue items: ``items`` is a list of {catalog_item, answers, quantity}.

    Errors name the item and the field: ``items.0.answers.start_date``.
    """
    require(acting_user, ServiceRequest, Action.ADD, organization.pk)
    if requested_for is None:
        requested_for = acting_user
    elif requested_for.pk != getattr(acting_user, "pk", None) and is_requester_only(
        acting_user, organization.pk
    ):
        raise FieldError({"requested_for_id": "You can only request things for yourself."})
    if not Membership.objects.filter(organization=organization, user_id=requested_for.pk).exists():
        raise FieldError({"requested_for_id": "This person is not a member of this organisation."})
    if not items:
        raise FieldError({"items": "Choose at least one catalogue item."})
    if len(items) > MAX_ITEMS_PER_REQUEST:
        raise FieldError({"items": f"At most {MAX_ITEMS_PER_REQUEST} items per request."})
    errors: dict[str, str] = {}
    cleaned: list[tuple[CatalogItem, dict[str, Any], int]] = []
    for index, entry in enumerate(items):
        catalog_item: CatalogItem = entry["catalog_item"]
        if catalog_item.organization_id != organization.pk or not catalog_item.active:
            errors[f"items.{index}.catalog_item_id"] = "This item cannot be ordered here."
            continue
        quantity = entry.get("quantity", 1)
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            errors[f"items.{index}.quantity"] = "A whole number."
        elif not 1 <= quantity <= MAX_QUANTITY:
            errors[f"items.{index}.quantity"] = f"Between 1 and {MAX_QUANTITY}."
        answers, problems = validate_answers(
            catalog_item.form or [], entry.get("answers"), organization.pk
        )
        errors.update({f"items.{index}.{key}": msg for key, msg in problems.items()})
        _refuse_unresolvable_steps(index, catalog_item, requested_for, errors)
        cleaned.append((catalog_item, answers, quantity))
    if errors:
        raise FieldError(errors)
    now = opened_at or timezone.now()
    title = ", ".join(f"{c.name} x{q}" if q > 1 else c.name for c, _, q in cleaned)
    longest = max(c.delivery_days for c, _, _ in cleaned)
    with acting_as(acting_user):
        request = ServiceRequest(
            organization=organization,
            title=title[:255],
            requester=requested_for,
            opened_by=acting_user if getattr(acting_user, "is_authenticated", False) else None,
            opened_at=now,
            due_at=now + timedelta(days=longest),
        )
        save_validated(request)
        timeline.record(
            request,
            ActivityKind.CREATED,
            actor=acting_user,
            public=True,
            data={"state": request.state, "items": len(cleaned)},
            at=now,
        )
        for catalog_item, answers, quantity in cleaned:
            item = RequestItem(
                organization=organization,
                request=request,
                catalog_item=catalog_item,
                requester=requested_for,
                answers=answers,
                quantity=quantity,
                definition={
                    "name": catalog_item.name,
                    "form": catalog_item.form or [],
                    "approval_steps": catalog_item.approval_steps or [],
                    "tasks": catalog_item.tasks or [],
                },
                due_at=now + timedelta(days=catalog_item.delivery_days),
            )
            save_validated(item)
            timeline.record(
                item,
                ActivityKind.CREATED,
                actor=acting_user,
                public=True,
                data={"state": item.state, "request": request.number},
                at=now,
            )
            _start_step(item, 0, acting_user, now)
    return request


def _start_step(item: RequestItem, index: int, actor: Any, now: Any) -> None:
    """Ask the approvers of step `index`; past the last step, approve the item."""
    steps = item.steps
    while index < len(steps):
        approvers = step_approvers(steps[index], item.requester, item.organization_id)
        if approvers:
            break
        # Nobody left to ask (e.g. a team emptied since submission): the step is skipped,
        # and the timeline says so.
        timeline.record(
            item,
            ActivityKind.APPROVAL,
            actor=actor,
            public=True,
            body=f"{step_label(steps[index])} skipped: nobody to ask.",
            data={"step": index, "event": "skipped"},
            at=now,
        )
        index += 1
    if index >= len(steps):
        item.step = None
        _move_item(item, "approve", actor, now, automatic=not steps)
        _start_tasks(item, actor, now)
        return
    item.step = index
    item.save()
    label = step_label(steps[index])
    for approver in approvers:
        Approval.objects.create(
            organization_id=item.organization_id,
            item=item,
            request_id=item.request_id,
            step=index,
            approver=approver,
            requested_at=now,
        )
    timeline.record(
        item,
        ActivityKind.APPROVAL,
        actor=actor,
        public=True,
        body=f"{label}: asked {', '.join(str(a) for a in approvers)}.",
        data={
            "step": index,
            "event": "requested",
            "approver_ids": [a.pk for a in approvers],
            "rule": steps[index].get("rule", StepRule.ANY),
        },
        at=now,
    )


def _move_item(
    item: RequestItem,
    transition: str,
    actor: Any,
    now: Any,
    *,
    reason: str = "",
    automatic: bool = False,
) -> None:
    step = ITEM.check(item.state, transition, {"reason": reason})
    source = item.state
    item.state = step.target
    if transition == "approve":
        item.approved_at = now
    if step.target in ITEM.final:
        item.closed_at = now
    item.save()
    data: dict[str, Any] = {"from": source, "to": item.state, "transition": transition}
    if automatic:
        data["automatic"] = True
    timeline.record(
        item, ActivityKind.STATE, actor=actor, public=True, body=reason, data=data, at=now
    )
    if item.state in ITEM.final:
        _sync_request(item.request, actor, now)


# --- Approvals ------------------------------------------------------------------------------------


@transaction.atomic
def decide_approval(
    *, acting_user: Any, approval: Approval, approve: bool, comment: str = "", at: Any = None
) -> Approval:
    """The approver approves or rejects; a rejection needs a comment saying why."""
    if approval.approver_id != getattr(acting_user, "pk", None) or not has_permission(
        acting_user, Approval, Action.VIEW, approval.organization_id
    ):
        raise PermissionDenied("Only the person asked can decide on this approval.")
    approval = Approval.objects.select_for_update().get(pk=approval.pk)
    item = RequestItem.objects.select_for_update().get(pk=approval.item_id)
    if approval.state != ApprovalState.REQUESTED:
        raise Conflict(
            f"This approval is already {approval.get_state_display().lower()}.", field="state"
        )
    if item.state != ItemState.AWAITING_APPROVAL or item.step != approval.step:
        raise Conflict(f"{item.number} is no longer waiting for this approval.", field="state")
    comment = (comment or "").strip()
    if not approve and not comment:
        raise FieldError({"comment": "Say why you reject the request."})
    now = at or timezone.now()
    steps = item.steps
    label = step_label(steps[approval.step]) if approval.step < len(steps) else "Approval"
    with acting_as(acting_user):
        approval.state = ApprovalState.APPROVED if approve else ApprovalState.REJECTED
        approval.comment = comment
        approval.decided_at = now
        approval.save()
        timeline.record(
            item,
            ActivityKind.APPROVAL,
            actor=acting_user,
            public=True,
            body=comment,
            data={
                "step": approval.step,
                "event": "approved" if approve else "rejected",
                "approval_id": approval.pk,
                "label": label,
            },
            at=now,
        )
        pending = Approval.objects.filter(
            item=item, step=approval.step, state=ApprovalState.REQUESTED
        )
        rule = (
            steps[approval.step].get("rule", StepRule.ANY) if approval.step < len(steps) else "any"
        )
        if not approve:
            _cancel_approvals(pending, now)
            item.step = None
            _move_item(item, "reject", acting_user, now, reason=comment)
        elif rule == StepRule.ALL and pending.exists():
            pass  # still waiting for the others of this step
        else:
            _cancel_approvals(pending, now)
            _start_step(item, approval.step + 1, acting_user, now)
    return approval


def _cancel_approvals(approvals: Any, now: Any) -> None:
    for other in approvals:
        other.state = ApprovalState.CANCELLED
        other.decided_at = now
        other.save()


# --- Fulfilment -----------------------------------------------------------------------------------


def _task_definitions(item: RequestItem) -> list[dict[str, Any]]:
    return sorted(
        (dict(t, order=t.get("order") or 1) for t in item.definition.get("tasks") or []),
        key=lambda t: t["order"],
    )


def _start_tasks(item: RequestItem, actor: Any, now: Any) -> None:
    """Create the next group of tasks (the lowest `order` not created yet); without any
    left, the item is finished."""
    created = list(item.tasks.values_list("order", flat=True))
    last = max(created) if created else 0
    upcoming = [t for t in _task_definitions(item) if t["order"] > last]
    if not upcoming:
        done = item.tasks.filter(state=TaskState.DONE).exists() or not created
        _move_item(
            item,
            "fulfil" if done else "cancel",
            actor,
            now,
            reason="" if done else "Every task was cancelled.",
            automatic=True,
        )
        return
    order = upcoming[0]["order"]
    teams = {t.pk: t for t in Team.objects.filter(organization_id=item.organization_id)}
    for definition in (t for t in upcoming if t["order"] == order):
        team = teams.get(definition["team_id"])
        if team is None:
            continue
        task = FulfilmentTask(
            organization_id=item.organization_id,
            item=item,
            title=definition["title"],
            order=order,
            team=team,
            opened_at=now,
        )
        task.save()
        timeline.record(
            task,
            ActivityKind.CREATED,
            actor=actor,
            data={"state": task.state, "item": item.number, "team": team.name},
            at=now,
        )
        timeline.record(
            task,
            ActivityKind.ASSIGNED,
            actor=actor,
            data={"group": team.name, "group_id": team.pk, "assignee": None, "assignee_id": None},
            at=now,
        )
        timeline.record(
            item,
            ActivityKind.LINK,
            actor=actor,
            data={"type": "task", "id": task.pk, "number": task.number, "title": task.title},
            at=now,
        )
    if not item.tasks.filter(state__in=OPEN_TASK_STATES).exists():
        _start_tasks(item, actor, now)  # every team of this group is gone: next group


def _require_task(user: Any, task: FulfilmentTask) -> None:
    require(user, FulfilmentTask, Action.CHANGE, task.organization_id)


def _refuse_if_task_final(task: FulfilmentTask) -> None:
    if task.state in TASK.final:
        raise Conflict(
            f"{task.number} is {task.get_state_display().lower()}: it can no longer be changed.",
            field="state",
        )


@transaction.atomic
def assign_task(*, acting_user: Any, task: FulfilmentTask, assignee: User | None) -> FulfilmentTask:
    """Give the task to a member of its team (or take it back from them)."""
    _require_task(acting_user, task)
    _refuse_if_task_final(task)
    if assignee is not None:
        if not task.team.members.filter(pk=assignee.pk).exists():
            raise FieldError({"assignee_id": f"{assignee} is not a member of {task.team.name}."})
        if not has_permission(assignee, FulfilmentTask, Action.CHANGE, task.organization_id):
            raise FieldError({"assignee_id": f"{assignee} may not work tasks here."})
    if task.assignee_id == (assignee.pk if assignee else None):
        return task
    old = task.assignee
    with acting_as(acting_user):
        task.assignee = assignee
        task.save()
        timeline.record(
            task,
            ActivityKind.ASSIGNED,
            actor=acting_user,
            data={
                "from_assignee": str(old) if old else None,
                "group": task.team.name,
                "group_id": task.team_id,
                "assignee": str(assignee) if assignee else None,
                "assignee_id": assignee.pk if assignee else None,
            },
        )
    return task


@transaction.atomic
def transition_task(
    *,
    acting_user: Any,
    task: FulfilmentTask,
    transition: str,
    notes: str = "",
    reason: str = "",
    at: Any = None,
) -> FulfilmentTask:
    """start, complete or cancel a task; the last finished task finishes its item."""
    _require_task(acting_user, task)
    task = FulfilmentTask.objects.select_for_update().get(pk=task.pk)
    step = TASK.check(task.state, transition, {"reason": reason})
    now = at or timezone.now()
    source = task.state
    with acting_as(acting_user):
        if (
            transition in ("start", "complete")
            and task.assignee_id is None
            and task.team.members.filter(pk=getattr(acting_user, "pk", None)).exists()
        ):
            assign_task(acting_user=acting_user, task=task, assignee=acting_user)
        task.state = step.target
        if transition == "start":
            task.started_at = now
        if step.target in TASK.final:
            task.closed_at = now
        if notes:
            task.notes = notes.strip()
        task.save()
        timeline.record(
            task,
            ActivityKind.STATE,
            actor=acting_user,
            body=notes or reason,
            data={"from": source, "to": task.state, "transition": transition},
            at=now,
        )
        item = RequestItem.objects.select_for_update().get(pk=task.item_id)
        if (
            item.state == ItemState.IN_FULFILMENT
            and not item.tasks.filter(state__in=OPEN_TASK_STATES).exists()
        ):
            _start_tasks(item, acting_user, now)
    return task


# --- The request follows its items ----------------------------------------------------------------


def _sync_request(request: ServiceRequest, actor: Any, now: Any) -> None:
    request = ServiceRequest.objects.select_for_update().get(pk=request.pk)
    if request.state != RequestState.OPEN:
        return
    states = list(request.items.values_list("state", flat=True))
    if any(s in OPEN_ITEM_STATES for s in states):
        return
    transition = "fulfil" if ItemState.FULFILLED in states else "close_incomplete"
    _move_request(request, transition, actor, now)


def _move_request(
    request: ServiceRequest, transition: str, actor: Any, now: Any, reason: str = ""
) -> None:
    step = REQUEST.check(request.state, transition, {"reason": reason})
    source = request.state
    request.state = step.target
    request.closed_at = now
    request.save()
    timeline.record(
        request,
        ActivityKind.STATE,
        actor=actor,
        public=True,
        body=reason,
        data={"from": source, "to": request.state, "transition": transition},
        at=now,
    )


@transaction.atomic
def cancel_request(
    *, acting_user: Any, request: ServiceRequest, reason: str, at: Any = None
) -> ServiceRequest:
    """The requester (or an agent) withdraws the request: open items, approvals and tasks
    are cancelled with it."""
    own = request.requester_id == getattr(acting_user, "pk", None) or (
        request.opened_by_id == getattr(acting_user, "pk", None)
    )
    if own:
        require(acting_user, ServiceRequest, Action.VIEW, request.organization_id)
    else:
        require(acting_user, ServiceRequest, Action.CHANGE, request.organization_id)
    request = ServiceRequest.objects.select_for_update().get(pk=request.pk)
    REQUEST.check(request.state, "cancel", {"reason": reason})
    now = at or timezone.now()
    reason = reason.strip()
    with acting_as(acting_user):
        for item in request.items.filter(state__in=OPEN_ITEM_STATES).select_for_update():
            _cancel_approvals(item.approvals.filter(state=ApprovalState.REQUESTED), now)
            for task in item.tasks.filter(state__in=OPEN_TASK_STATES):
                source = task.state
                task.state = TaskState.CANCELLED
                task.closed_at = now
                task.save()
                timeline.record(
                    task,
                    ActivityKind.STATE,
                    actor=acting_user,
                    body=reason,
                    data={"from": source, "to": task.state, "transition": "cancel"},
                    at=now,
                )
            source = item.state
            item.state = ItemState.CANCELLED
            item.step = None
            item.closed_at = now
            item.save()
            timeline.record(
                item,
                ActivityKind.STATE,
                actor=acting_user,
                public=True,
                body=reason,
                data={"from": source, "to": item.state, "transition": "cancel"},
                at=now,
            )
        _move_request(request, "cancel", acting_user, now, reason)
    return request
