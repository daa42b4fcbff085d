"""Approval policies: who must approve a change of which types and risk classes, in ordered
steps with a quorum each, and which plan applies to a given change.

Writes (`create_policy`, `update_policy`, `retire_policy`, `add_step`, `update_step`,
`remove_step`) are for managers and admins of the organisation (the configuration role
matrix). Every refusal names its field; a step nested in a policy's input is named
``steps.<index>.<field>``.

The policy with the lowest ``order`` (then name) whose change types and risk classes match
the change applies; an empty list matches anything, a blank risk class counts as
``moderate``. Without a match the documented default applies (`default_plan`): a normal
change needs its change manager (else its assignment group's manager), an emergency change
the emergency CAB.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from opsdesk.accounts.models import Membership, Team, User
from opsdesk.changes.choices import ApproverKind, ChangeType, RiskClass
from opsdesk.changes.models import Approval, ApprovalPolicy, ApprovalStep, Change
from opsdesk.core.actions import require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import FieldError
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action, has_permission

#: What a blank risk class counts as (a change not assessed yet).
DEFAULT_RISK = RiskClass.MODERATE
#: Change types a policy may name: standard changes are pre-approved and never ask.
POLICY_TYPES = (ChangeType.NORMAL, ChangeType.EMERGENCY)
POLICY_FIELDS = ("name", "change_types", "risk_classes", "order", "is_active")
STEP_FIELDS = ("name", "approver_kind", "team", "users", "quorum")
DEFAULT_STEP_NAMES = {
    ApproverKind.USERS: "Named approvers",
    ApproverKind.CHANGE_MANAGER: "Change manager",
    ApproverKind.CAB: "CAB",
}


@dataclass
class PlannedStep:
    """One step as the engine runs it: from a policy's `ApprovalStep`, or a default."""

    position: int
    name: str
    kind: str
    quorum: int = 1
    team: Team | None = None
    users: list[User] = field(default_factory=list)
    policy: ApprovalPolicy | None = None

    @property
    def cab(self) -> bool:
        return self.kind == ApproverKind.CAB

    def describe(self) -> str:
        if self.kind == ApproverKind.TEAM and self.team is not None:
            who = f"{self.quorum} of the {self.team.name} team"
        elif self.kind == ApproverKind.USERS:
            names = ", ".join(_name(u) for u in self.users)
            who = f"{self.quorum} of {names}" if len(self.users) > 1 else names
        elif self.kind == ApproverKind.CHANGE_MANAGER:
            who = "the change manager (else the assignment group's manager)"
        else:
            who = "a CAB meeting"
        return f"{self.name}: {who}"


@dataclass
class Plan:
    policy: ApprovalPolicy | None
    steps: list[PlannedStep]

    @property
    def name(self) -> str:
        return self.policy.name if self.policy is not None else "Default approval"


def _name(user: User) -> str:
    return user.full_name or user.email


# --- Which plan applies ---------------------------------------------------------------------


def risk_of(change: Change) -> str:
    return change.risk_class or DEFAULT_RISK


def step_from(step: ApprovalStep) -> PlannedStep:
    return PlannedStep(
        position=step.position,
        name=step.name,
        kind=step.approver_kind,
        quorum=step.quorum,
        team=step.team,
        users=sorted(step.users.all(), key=lambda u: (_name(u), u.pk)),
        policy=step.policy,
    )


def default_plan(change: Change) -> Plan:
    """Normal: one step, the change manager (else the assignment group's manager).
    Emergency: one step, the emergency CAB."""
    if change.change_type == ChangeType.EMERGENCY:
        return Plan(None, [PlannedStep(1, "Emergency CAB", ApproverKind.CAB)])
    return Plan(None, [PlannedStep(1, "Change manager", ApproverKind.CHANGE_MANAGER)])


def matching_policy(change: Change) -> ApprovalPolicy | None:
    risk = risk_of(change)
    policies = (
        ApprovalPolicy.objects.filter(organization_id=change.organization_id, is_active=True)
        .order_by("order", "name", "pk")
        .prefetch_related("steps")
    )
    for policy in policies:
        if policy.change_types and change.change_type not in policy.change_types:
            continue
        if policy.risk_classes and risk not in policy.risk_classes:
            continue
        if not policy.steps.all():
            continue
        return policy
    return None


def plan_for(change: Change) -> Plan:
    """The steps a change must pass to be authorised, as they are now."""
    policy = matching_policy(change)
    if policy is None:
        return default_plan(change)
    steps = ApprovalStep.objects.filter(policy=policy).select_related("team", "policy")
    return Plan(policy, [step_from(s) for s in steps.prefetch_related("users")])


def next_step(approval: Approval) -> PlannedStep | None:
    """The step after `approval`'s in its policy as the policy is now (the default plans have
    a single step)."""
    if approval.policy_id is None:
        return None
    step = (
        ApprovalStep.objects.filter(policy_id=approval.policy_id, position__gt=approval.step)
        .select_related("team", "policy")
        .prefetch_related("users")
        .order_by("position")
        .first()
    )
    return step_from(step) if step is not None else None


# --- Who may approve ------------------------------------------------------------------------


def can_approve_in(user: User | None, organization_id: int) -> bool:
    """Active, with a role in the organisation that works changes (agent, manager, admin)."""
    return (
        user is not None
        and user.is_active
        and has_permission(user, Approval, Action.CHANGE, organization_id)
    )


def eligible_approvers(step: PlannedStep, change: Change) -> list[User]:
    """The people asked for `step` of `change`: never the change's requester, never someone
    who could not act on it."""
    org = change.organization_id
    requester = change.requested_by_id
    if step.kind == ApproverKind.TEAM:
        candidates = list(step.team.members.order_by("full_name", "email")) if step.team else []
    elif step.kind == ApproverKind.USERS:
        candidates = list(step.users)
    elif step.kind == ApproverKind.CHANGE_MANAGER:
        group = change.assignment_group
        candidates = [u for u in (change.change_manager, group.manager if group else None) if u]
        candidates = [u for u in candidates if u.pk != requester and can_approve_in(u, org)][:1]
    else:
        return []
    found: list[User] = []
    for user in candidates:
        if user.pk != requester and can_approve_in(user, org) and user not in found:
            found.append(user)
    return found


# --- Validation ------------------------------------------------------------------------------


def _ids(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def _check_lists(change_types: Sequence[str], risk_classes: Sequence[str]) -> None:
    errors: dict[str, str] = {}
    if not isinstance(change_types, list | tuple) or any(
        t not in POLICY_TYPES for t in change_types
    ):
        errors["change_types"] = (
            f"Any of: {', '.join(POLICY_TYPES)} (standard changes are pre-approved)."
        )
    if not isinstance(risk_classes, list | tuple) or any(
        r not in RiskClass.values for r in risk_classes
    ):
        errors["risk_classes"] = f"Any of: {', '.join(RiskClass.values)}."
    if errors:
        raise FieldError(errors)


def check_step(
    organization_id: int,
    *,
    approver_kind: str,
    team: Team | None,
    users: Sequence[User],
    quorum: int,
    prefix: str = "",
) -> None:
    """A team step needs a team, a users step its users, all of the organisation and able to
    approve; the quorum is at least 1 and at most the number of possible approvers."""
    errors: dict[str, str] = {}
    if approver_kind not in ApproverKind.values:
        raise FieldError({f"{prefix}approver_kind": f"One of: {', '.join(ApproverKind.values)}."})
    if not isinstance(quorum, int) or quorum < 1:
        errors[f"{prefix}quorum"] = "At least 1."
    if approver_kind == ApproverKind.TEAM:
        if team is None:
            errors[f"{prefix}team_id"] = "A team step needs a team."
        elif team.organization_id != organization_id:
            errors[f"{prefix}team_id"] = "The team belongs to another organisation."
        else:
            possible = [u for u in team.members.all() if can_approve_in(u, organization_id)]
            if isinstance(quorum, int) and quorum > len(possible):
                errors[f"{prefix}quorum"] = (
                    f"At most {len(possible)}: the members of {team.name} who can approve changes."
                )
    elif team is not None:
        errors[f"{prefix}team_id"] = "Only a team step names a team."
    if approver_kind == ApproverKind.USERS:
        if not users:
            errors[f"{prefix}user_ids"] = "A step of named people needs at least one person."
        else:
            members = set(
                Membership.objects.filter(
                    organization_id=organization_id, user__in=[u.pk for u in users]
                ).values_list("user_id", flat=True)
            )
            foreign = [_name(u) for u in users if u.pk not in members]
            unable = [
                _name(u)
                for u in users
                if u.pk in members and not can_approve_in(u, organization_id)
            ]
            if foreign:
                errors[f"{prefix}user_ids"] = f"Not of this organisation: {', '.join(foreign)}."
            elif unable:
                errors[f"{prefix}user_ids"] = (
                    f"Cannot approve changes (their role does not work changes): "
                    f"{', '.join(unable)}."
                )
            elif isinstance(quorum, int) and quorum > len(users):
                errors[f"{prefix}quorum"] = f"At most {len(users)}: the number of people named."
    elif users:
        errors[f"{prefix}user_ids"] = "Only a step of named people names people."
    if (
        approver_kind in (ApproverKind.CHANGE_MANAGER, ApproverKind.CAB)
        and isinstance(quorum, int)
        and quorum > 1
    ):
        errors[f"{prefix}quorum"] = "A change-manager or CAB step is decided once: quorum 1."
    if errors:
        raise FieldError(errors)


def _step_values(organization_id: int, data: dict[str, Any], prefix: str) -> dict[str, Any]:
    unknown = sorted(set(data) - set(STEP_FIELDS))
    if unknown:
        raise FieldError({f"{prefix}{n}": "Not a field of an approval step." for n in unknown})
    kind = data.get("approver_kind") or ""
    values = {
        "approver_kind": kind,
        "team": data.get("team"),
        "users": _ids(data.get("users") or []),
        "quorum": data.get("quorum", 1),
    }
    check_step(organization_id, prefix=prefix, **values)
    name = (data.get("name") or "").strip()
    if not name:
        team = values["team"]
        name = team.name if team is not None else DEFAULT_STEP_NAMES.get(kind, "Approval")
    values["name"] = name[:200]
    return values


def _save_step(policy: ApprovalPolicy, position: int, values: dict[str, Any]) -> ApprovalStep:
    users = values.pop("users")
    step = ApprovalStep(
        organization_id=policy.organization_id, policy=policy, position=position, **values
    )
    save_validated(step)
    step.users.set(users)
    return step


def _replace_steps(policy: ApprovalPolicy, steps: Sequence[dict[str, Any]]) -> None:
    if not steps:
        raise FieldError({"steps": "A policy needs at least one step."})
    cleaned = [
        _step_values(policy.organization_id, dict(data), f"steps.{i}.")
        for i, data in enumerate(steps)
    ]
    for old in policy.steps.all():
        old.delete()
    for position, values in enumerate(cleaned, start=1):
        _save_step(policy, position, values)


# --- Actions ---------------------------------------------------------------------------------


@transaction.atomic
def create_policy(
    *,
    acting_user: Any,
    organization: Organization,
    name: str,
    steps: Sequence[dict[str, Any]],
    change_types: Sequence[str] = (),
    risk_classes: Sequence[str] = (),
    order: int = 100,
    is_active: bool = True,
) -> ApprovalPolicy:
    """A policy with its ordered steps (each ``{"approver_kind", "team", "users", "quorum",
    "name"}``)."""
    require(acting_user, ApprovalPolicy, Action.ADD, organization.pk)
    change_types, risk_classes = list(change_types), list(risk_classes)
    _check_lists(change_types, risk_classes)
    with acting_as(acting_user):
        policy = ApprovalPolicy(
            organization=organization,
            name=(name or "").strip(),
            change_types=_ids(change_types),
            risk_classes=_ids(risk_classes),
            order=order,
            is_active=is_active,
        )
        if not policy.name:
            raise FieldError({"name": "A name is required."})
        save_validated(policy)
        _replace_steps(policy, steps)
    return policy


@transaction.atomic
def update_policy(
    *,
    acting_user: Any,
    policy: ApprovalPolicy,
    steps: Sequence[dict[str, Any]] | None = None,
    **changes: Any,
) -> ApprovalPolicy:
    """Change a policy; ``steps`` (when given) replaces all its steps. Approvals already asked
    keep what they were asked; steps not started yet follow the policy as it is then."""
    require(acting_user, ApprovalPolicy, Action.CHANGE, policy.organization_id)
    unknown = sorted(set(changes) - set(POLICY_FIELDS))
    if unknown:
        raise FieldError({n: "This field cannot be changed here." for n in unknown})
    if "name" in changes:
        changes["name"] = (changes["name"] or "").strip()
        if not changes["name"]:
            raise FieldError({"name": "A name is required."})
    _check_lists(
        changes.get("change_types", policy.change_types),
        changes.get("risk_classes", policy.risk_classes),
    )
    for key in ("change_types", "risk_classes"):
        if key in changes:
            changes[key] = _ids(changes[key])
    with acting_as(acting_user):
        for name, value in changes.items():
            setattr(policy, name, value)
        save_validated(policy)
        if steps is not None:
            _replace_steps(policy, steps)
    return policy


def retire_policy(*, acting_user: Any, policy: ApprovalPolicy) -> ApprovalPolicy:
    """No longer matched by new requests; approvals already asked under it go on."""
    return update_policy(acting_user=acting_user, policy=policy, is_active=False)


@transaction.atomic
def add_step(*, acting_user: Any, policy: ApprovalPolicy, **data: Any) -> ApprovalStep:
    """Append a step to the policy."""
    require(acting_user, ApprovalPolicy, Action.CHANGE, policy.organization_id)
    values = _step_values(policy.organization_id, data, "")
    last = policy.steps.order_by("-position").values_list("position", flat=True).first() or 0
    with acting_as(acting_user):
        step = _save_step(policy, last + 1, values)
        policy.save(update_fields=["updated_at"])
    return step


@transaction.atomic
def update_step(*, acting_user: Any, step: ApprovalStep, **changes: Any) -> ApprovalStep:
    require(acting_user, ApprovalPolicy, Action.CHANGE, step.organization_id)
    current = {
        "name": step.name,
        "approver_kind": step.approver_kind,
        "team": step.team,
        "users": list(step.users.all()),
        "quorum": step.quorum,
    }
    unknown = sorted(set(changes) - set(STEP_FIELDS))
    if unknown:
        raise FieldError({n: "Not a field of an approval step." for n in unknown})
    values = _step_values(step.organization_id, {**current, **changes}, "")
    users = values.pop("users")
    with acting_as(acting_user):
        for name, value in values.items():
            setattr(step, name, value)
        save_validated(step)
        step.users.set(users)
    return step


@transaction.atomic
def remove_step(*, acting_user: Any, step: ApprovalStep) -> None:
    """Remove a step; the steps after it move up. The last step cannot go (retire the
    policy instead)."""
    require(acting_user, ApprovalPolicy, Action.CHANGE, step.organization_id)
    policy = step.policy
    if policy.steps.count() <= 1:
        raise FieldError({"steps": "A policy needs at least one step; retire the policy instead."})
    with acting_as(acting_user):
        step.delete()
        for position, rest in enumerate(policy.steps.order_by("position"), start=1):
            if rest.position != position:
                rest.position = position
                rest.save(update_fields=["position", "updated_at"])
        policy.save(update_fields=["updated_at"])
