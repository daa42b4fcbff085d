"""Every write on changes themselves: raise, update, set the affected CIs, move through the
workflow. The parts around them (risk, approvals, windows and conflicts, deployments,
change-induced incidents, reviews) have their own action modules and plug into the
workflow through `opsdesk.changes.hooks`.

Each action is atomic, checks permission and the change's declared workflow
(`opsdesk.changes.workflows`), validates with errors that name the field, writes the audit
trail (through `acting_as`) and appends to the change's timeline.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from opsdesk.accounts.models import Membership
from opsdesk.changes import hooks
from opsdesk.changes.choices import ChangeState, ChangeType, CloseCode
from opsdesk.changes.models import Change, ChangeTemplate
from opsdesk.changes.workflows import TRANSITION_NAMES
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actions import require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action
from opsdesk.servicedesk import actions as desk
from opsdesk.servicedesk import timeline
from opsdesk.servicedesk.choices import ActivityKind

#: Fields `update_change` may change (state, risk, close and approval fields change only
#: through their own actions).
CHANGE_FIELDS = (
    "title",
    "description",
    "justification",
    "implementation_plan",
    "backout_plan",
    "test_plan",
    "service",
    "assignment_group",
    "assignee",
    "change_manager",
    "planned_start",
    "planned_end",
    "freeze_justification",
)
#: Fields that may no longer change once the change is being implemented.
PLAN_LOCKED_FROM = (ChangeState.IMPLEMENT, ChangeState.REVIEW)
PLAN_FIELDS = (
    "planned_start",
    "planned_end",
    "implementation_plan",
    "backout_plan",
    "test_plan",
    "service",
)
#: Input each transition takes besides the state (what its `requires` may name).
TRANSITION_INPUT = {
    "reason",
    "close_code",
    "close_notes",
    "actual_start",
    "actual_end",
    "freeze_justification",
}


def _label(obj: Any) -> Any:
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    if isinstance(obj, datetime):
        return obj.isoformat()
    return str(obj)


def _refuse_if_final(change: Change) -> None:
    if change.state in change.workflow.final:
        raise Conflict(
            f"{change.number} is {change.get_state_display().lower()}: it can no longer be "
            "changed.",
            field="state",
        )


def _check(change: Change) -> None:
    """Cross-field and cross-tenant rules; every message names its field."""
    errors: dict[str, str] = {}
    org = change.organization_id
    if not (change.title or "").strip():
        errors["title"] = "A title is required."
    if change.change_type not in ChangeType.values:
        errors["change_type"] = f"One of: {', '.join(ChangeType.values)}."
    if change.service_id is not None:
        service = change.service
        if service.organization_id != org:
            errors["service_id"] = "The service belongs to another organisation."
        elif not service.ci_class.is_service:
            errors["service_id"] = f"{service.name} is a {service.ci_class.label}, not a service."
    if (
        change.planned_start is not None
        and change.planned_end is not None
        and change.planned_end <= change.planned_start
    ):
        errors["planned_end"] = "The planned end must be after the planned start."
    if (
        change.actual_start is not None
        and change.actual_end is not None
        and change.actual_end < change.actual_start
    ):
        errors["actual_end"] = "The actual end must not be before the actual start."
    if change.template_id is not None and change.template.organization_id != org:
        errors["template_id"] = "The template belongs to another organisation."
    if change.change_type == ChangeType.STANDARD and change.template_id is None:
        errors["template_id"] = "A standard change comes from a template of the catalogue."
    for name in ("change_manager", "requested_by"):
        user = getattr(change, name)
        if (
            user is not None
            and name == "change_manager"
            and not Membership.objects.filter(user=user, organization_id=org).exists()
        ):
            errors[f"{name}_id"] = f"{user} has no role in this organisation."
    if errors:
        raise FieldError(errors)


def check_cis(organization_id: int, cis: Iterable[ConfigurationItem]) -> list[ConfigurationItem]:
    cis = list(dict.fromkeys(cis))
    foreign = [ci.name for ci in cis if ci.organization_id != organization_id]
    if foreign:
        raise FieldError({"ci_ids": f"Not of this organisation: {', '.join(sorted(foreign))}."})
    return cis


@transaction.atomic
def create_change(
    *,
    acting_user: Any,
    organization: Organization,
    title: str = "",
    change_type: str = ChangeType.NORMAL,
    template: ChangeTemplate | None = None,
    cis: Iterable[ConfigurationItem] = (),
    system: str = "",
    at: datetime | None = None,
    **fields: Any,
) -> Change:
    """Raise a change. A standard change comes from a template, which fills the plans, the
    risk class, the group and the CIs the caller does not give; its duration sets the planned
    end from the planned start.

    ``system`` names an automatic actor (a deployment pipeline) with ``acting_user=None``.
    """
    if not system:
        require(acting_user, Change, Action.ADD, organization.pk)
    unknown = sorted(set(fields) - set(CHANGE_FIELDS))
    if unknown:
        raise FieldError({name: "This field cannot be set here." for name in unknown})
    if template is not None:
        if template.organization_id != organization.pk:
            raise FieldError({"template_id": "The template belongs to another organisation."})
        if not template.is_active:
            raise FieldError({"template_id": f"The template {template.name} is retired."})
        change_type = ChangeType.STANDARD
        title = title or template.name
        for name in ("implementation_plan", "backout_plan", "test_plan"):
            if not fields.get(name):
                fields[name] = getattr(template, name)
        if fields.get("assignment_group") is None and template.assignment_group_id:
            fields["assignment_group"] = template.assignment_group
        if fields.get("planned_start") and not fields.get("planned_end"):
            fields["planned_end"] = fields["planned_start"] + timedelta(
                minutes=template.default_duration_minutes
            )
        if not cis:
            cis = list(template.cis.all())
    desk.check_assignment(organization.pk, fields.get("assignment_group"), fields.get("assignee"))
    cis = check_cis(organization.pk, cis)
    opened_at = at or timezone.now()
    with acting_as(acting_user):
        change = Change(
            organization=organization,
            title=(title or "").strip(),
            change_type=change_type,
            template=template,
            requested_by=acting_user if getattr(acting_user, "is_authenticated", False) else None,
            opened_at=opened_at,
            **fields,
        )
        if template is not None:
            change.risk_class = template.risk_class
        _check(change)
        save_validated(change)
        if cis:
            change.cis.set(cis)
        timeline.record(
            change,
            ActivityKind.CREATED,
            actor=acting_user,
            actor_name=system,
            data={
                "state": change.state,
                "type": change.change_type,
                "template": template.name if template else None,
                "cis": [ci.name for ci in cis],
            },
            at=opened_at,
        )
        if change.assignment_group_id or change.assignee_id:
            timeline.record(
                change,
                ActivityKind.ASSIGNED,
                actor=acting_user,
                actor_name=system,
                data={
                    "group": _label(change.assignment_group),
                    "assignee": _label(change.assignee),
                },
                at=opened_at,
            )
    return change


@transaction.atomic
def update_change(*, acting_user: Any, change: Change, **changes: Any) -> Change:
    """Change descriptive and planning fields; the update hooks (conflict detection, the
    freeze check) run when the planned times or the service of a live change move."""
    require(acting_user, Change, Action.CHANGE, change.organization_id)
    _refuse_if_final(change)
    unknown = sorted(set(changes) - set(CHANGE_FIELDS))
    if unknown:
        raise FieldError({name: "This field cannot be changed here." for name in unknown})
    if change.state in PLAN_LOCKED_FROM:
        locked = sorted(
            n for n in set(changes) & set(PLAN_FIELDS) if getattr(change, n) != changes[n]
        )
        if locked:
            raise Conflict(
                f"{change.number} is being implemented: its plan can no longer change "
                f"({', '.join(locked)}).",
                field=locked[0],
            )
    before = {name: getattr(change, name) for name in changes}
    for name, value in changes.items():
        setattr(change, name, value)
    desk.check_assignment(change.organization_id, change.assignment_group, change.assignee)
    _check(change)
    changed = {
        name: [_label(before[name]), _label(value)]
        for name, value in changes.items()
        if before[name] != value
    }
    if not changed:
        return change
    with acting_as(acting_user):
        save_validated(change)
        if {"assignment_group", "assignee"} & set(changed):
            timeline.record(
                change,
                ActivityKind.ASSIGNED,
                actor=acting_user,
                data={
                    "group": _label(change.assignment_group),
                    "assignee": _label(change.assignee),
                },
            )
        rest = {k: v for k, v in changed.items() if k not in ("assignment_group", "assignee")}
        if rest:
            timeline.record(change, ActivityKind.FIELD, actor=acting_user, data={"changes": rest})
        hooks.run_update(change, set(changed), acting_user)
    return change


@transaction.atomic
def set_cis(*, acting_user: Any, change: Change, cis: Iterable[ConfigurationItem]) -> Change:
    """Replace the affected CIs (before implementation starts)."""
    require(acting_user, Change, Action.CHANGE, change.organization_id)
    _refuse_if_final(change)
    if change.state in PLAN_LOCKED_FROM:
        raise Conflict(
            f"{change.number} is being implemented: its CIs can no longer change.",
            field="ci_ids",
        )
    cis = check_cis(change.organization_id, cis)
    before = {ci.pk: ci.name for ci in change.cis.all()}
    after = {ci.pk: ci.name for ci in cis}
    if before.keys() == after.keys():
        return change
    with acting_as(acting_user):
        change.cis.set(cis)
        change.save(update_fields=["updated_at"])
        timeline.record(
            change,
            ActivityKind.FIELD,
            actor=acting_user,
            data={
                "changes": {
                    "cis": [sorted(before.values()), sorted(after.values())],
                },
                "added": sorted(after[k] for k in after.keys() - before.keys()),
                "removed": sorted(before[k] for k in before.keys() - after.keys()),
            },
        )
        hooks.run_update(change, {"cis"}, acting_user)
    return change


@transaction.atomic
def transition_change(
    *,
    acting_user: Any,
    change: Change,
    name: str,
    system: str = "",
    at: datetime | None = None,
    **values: Any,
) -> Change:
    """Move the change along its workflow with the transition `name` (``assess``,
    ``request_authorisation``, ``authorise``, ``reject``, ``revise``, ``schedule``,
    ``implement``, ``complete``, ``close``, ``cancel``).

    ``values`` are the transition's input: ``reason``, ``close_code``, ``close_notes``,
    ``actual_start``, ``actual_end``, ``freeze_justification``. The guards of the other parts
    run first (approvals outstanding, freeze windows, a missing review), then the state
    changes, the timeline records it and the after hooks run (approvals are requested, ...).
    ``system`` names an automatic actor (the approvals engine, a pipeline)."""
    if not system:
        require(acting_user, Change, Action.CHANGE, change.organization_id)
    unknown = sorted(set(values) - TRANSITION_INPUT)
    if unknown:
        raise FieldError({n: "Not an input of a change transition." for n in unknown})
    values = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items()}
    if (
        "close_code" in values
        and values["close_code"]
        and (values["close_code"] not in CloseCode.values)
    ):
        raise FieldError({"close_code": f"One of: {', '.join(CloseCode.values)}."})
    workflow = change.workflow
    if name in TRANSITION_NAMES and name not in {tr.name for tr in workflow.transitions}:
        allowed = ", ".join(workflow.allowed_names(change.state)) or "none"
        raise Conflict(
            f"A {change.get_change_type_display().lower()} change cannot {name}. "
            f"Allowed from {workflow.label(change.state).lower()}: {allowed}.",
            field="state",
        )
    current = {
        "planned_start": change.planned_start,
        "planned_end": change.planned_end,
        "implementation_plan": change.implementation_plan,
        "backout_plan": change.backout_plan,
        "justification": change.justification,
        "close_code": change.close_code,
        "close_notes": change.close_notes,
    }
    transition = workflow.check(change.state, name, {**current, **values})
    now = at or timezone.now()
    old_state = change.state
    loaded = {f.attname: getattr(change, f.attname) for f in change._meta.concrete_fields}
    try:
        return _apply_transition(
            change, transition, name, values, acting_user, system, now, old_state
        )
    except Exception:
        # The transaction rolls back; the caller's object must not keep the refused state.
        for attname, value in loaded.items():
            setattr(change, attname, value)
        raise


def _apply_transition(
    change: Change,
    transition: Any,
    name: str,
    values: dict[str, Any],
    acting_user: Any,
    system: str,
    now: datetime,
    old_state: str,
) -> Change:
    workflow = change.workflow
    for field in ("close_code", "close_notes", "freeze_justification"):
        if values.get(field):
            setattr(change, field, values[field])
    if name == "implement":
        change.actual_start = values.get("actual_start") or now
    if name == "complete":
        change.actual_end = values.get("actual_end") or now
        if change.actual_start is None:
            change.actual_start = values.get("actual_start") or change.actual_end
    if name in ("reject", "revise"):
        # A new round: the plan may change and must be assessed and approved again.
        change.conflicts = []
    change.state = transition.target
    if transition.target in workflow.final:
        change.closed_at = now
    hooks.run_guards(change, name, values, acting_user)
    _check(change)
    with acting_as(acting_user):
        save_validated(change)
        timeline.record(
            change,
            ActivityKind.STATE,
            actor=acting_user,
            actor_name=system,
            body=values.get("reason", "") or values.get("close_notes", ""),
            data={
                "from": old_state,
                "to": change.state,
                "transition": name,
                **({"reason": values["reason"]} if values.get("reason") else {}),
                **({"close_code": change.close_code} if name == "complete" else {}),
            },
            at=now,
        )
        hooks.run_after(change, name, values, acting_user)
    return change


def add_note(*, acting_user: Any, change: Change, body: str, public: bool = False) -> Any:
    """A work note (or comment) on the change's timeline."""
    return desk.add_comment(acting_user=acting_user, subject=change, body=body, public=public)
