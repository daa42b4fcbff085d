"""Major incidents: declaring one, its manager, child incidents, the communications log and
the post-incident review with its actions.

A major incident is an ordinary `Incident` with ``is_major`` set: it keeps its own workflow,
and its children follow it when it is resolved, closed or cancelled (see
`actions.transition_incident`). Every change here is written to the incident's timeline
(``ActivityKind.MAJOR`` / ``COMMUNICATION``), so the story, the audit trail and the
notification bus see it like any other change.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone

from opsdesk.accounts.models import Membership, User
from opsdesk.core.actions import require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError
from opsdesk.core.permissions import Action, has_permission
from opsdesk.core.workflow import Workflow, t
from opsdesk.servicedesk import timeline
from opsdesk.servicedesk.choices import (
    ActivityKind,
    CommunicationAudience,
    ReviewActionState,
    ReviewState,
)
from opsdesk.servicedesk.models import (
    CommunicationUpdate,
    Incident,
    PostIncidentReview,
    ReviewAction,
    ServiceDeskSettings,
)
from opsdesk.servicedesk.workflows import INCIDENT

#: The post-incident review, declared as data like the incident workflow.
REVIEW = Workflow(
    name="post_incident_review",
    states=tuple(ReviewState.values),
    initial=ReviewState.DRAFT,
    final=frozenset({ReviewState.COMPLETED}),
    labels=dict(ReviewState.choices),
    transitions=(
        t("submit", {ReviewState.DRAFT}, ReviewState.IN_REVIEW, label="Submit for review"),
        t("redraft", {ReviewState.IN_REVIEW}, ReviewState.DRAFT, label="Back to draft"),
        t(
            "complete",
            {ReviewState.IN_REVIEW},
            ReviewState.COMPLETED,
            requires=["summary", "root_cause"],
        ),
    ),
)

#: Fields of a review that `save_review` may change (besides its state).
REVIEW_FIELDS = (
    "facilitator",
    "summary",
    "customer_impact",
    "root_cause",
    "went_well",
    "went_badly",
    "held_on",
)
REVIEW_ACTION_FIELDS = ("description", "owner", "due_on", "state")


def _label(obj: Any) -> str | None:
    return str(obj) if obj is not None else None


def _refuse_if_final(incident: Incident) -> None:
    if incident.state in INCIDENT.final:
        raise Conflict(
            f"{incident.number} is {incident.get_state_display().lower()}: it can no longer be "
            "changed.",
            field="state",
        )


def _require_major(incident: Incident) -> None:
    if not incident.is_major:
        raise Conflict(
            f"{incident.number} is not a major incident; declare it first.", field="is_major"
        )


def _check_manager(organization_id: int, manager: User | None, field: str) -> None:
    """The major-incident manager works incidents in this organisation (agent or above)."""
    if manager is None:
        return
    member = Membership.objects.filter(organization_id=organization_id, user_id=manager.pk).exists()
    if not member or not has_permission(manager, Incident, Action.CHANGE, organization_id):
        raise FieldError({field: f"{manager} is not an agent or manager of this organisation."})


def _check_member(organization_id: int, user: User | None, field: str) -> None:
    if user is None:
        return
    if not Membership.objects.filter(organization_id=organization_id, user_id=user.pk).exists():
        raise FieldError({field: f"{user} is not a member of this organisation."})


# --- declaring ---------------------------------------------------------------------------------


def _declare(
    acting_user: Any, incident: Incident, manager: User | None, reason: str, automatic: bool
) -> Incident:
    incident.is_major = True
    incident.major_manager = manager
    incident.major_declared_at = timezone.now()
    with acting_as(acting_user):
        save_validated(incident)
        timeline.record(
            incident,
            ActivityKind.MAJOR,
            actor=acting_user,
            body=reason,
            data={
                "event": "declared",
                "automatic": automatic,
                "priority": incident.priority,
                "manager": _label(manager),
                "manager_id": manager.pk if manager else None,
            },
        )
    return incident


@transaction.atomic
def declare_major(
    *, acting_user: Any, incident: Incident, manager: User | None = None, reason: str = ""
) -> Incident:
    """Declare `incident` a major incident by hand (any priority), or change its manager."""
    require(acting_user, Incident, Action.CHANGE, incident.organization_id)
    _refuse_if_final(incident)
    _check_manager(incident.organization_id, manager, "manager_id")
    if incident.parent_id is not None:
        raise Conflict(
            f"{incident.number} is a child of another major incident; detach it first.",
            field="parent_id",
        )
    if not incident.is_major:
        return _declare(acting_user, incident, manager, reason, automatic=False)
    if incident.major_manager_id == getattr(manager, "pk", None):
        raise Conflict(f"{incident.number} is already a major incident.", field="is_major")
    old = incident.major_manager
    incident.major_manager = manager
    with acting_as(acting_user):
        save_validated(incident)
        timeline.record(
            incident,
            ActivityKind.MAJOR,
            actor=acting_user,
            body=reason,
            data={
                "event": "manager",
                "from": _label(old),
                "manager": _label(manager),
                "manager_id": manager.pk if manager else None,
            },
        )
    return incident


def auto_declare(acting_user: Any, incident: Incident) -> bool:
    """Declare a P1 a major incident when the organisation asks for it (called by
    `create_incident` and `update_incident` inside their transaction). True if declared."""
    if incident.priority != 1 or incident.is_major or incident.parent_id is not None:
        return False
    if incident.state in INCIDENT.final:
        return False
    if not ServiceDeskSettings.for_org(incident.organization_id).auto_declare_p1:
        return False
    _declare(
        acting_user,
        incident,
        None,
        "Declared automatically: the incident is priority 1.",
        automatic=True,
    )
    return True


# --- children ----------------------------------------------------------------------------------


@transaction.atomic
def attach_child(*, acting_user: Any, parent: Incident, child: Incident) -> Incident:
    """Attach `child` to the major incident `parent`; it then follows its parent's resolution."""
    require(acting_user, Incident, Action.CHANGE, parent.organization_id)
    _require_major(parent)
    _refuse_if_final(parent)
    if child.pk == parent.pk:
        raise FieldError({"child_id": "An incident cannot be its own child."})
    if child.organization_id != parent.organization_id:
        raise FieldError({"child_id": "The incident belongs to another organisation."})
    if child.is_major:
        raise FieldError({"child_id": f"{child.number} is itself a major incident."})
    if child.parent_id == parent.pk:
        raise Conflict(f"{child.number} is already a child of {parent.number}.", field="child_id")
    if child.parent_id is not None:
        raise FieldError({"child_id": f"{child.number} is already a child of another incident."})
    if child.state in INCIDENT.final:
        raise FieldError({"child_id": f"{child.number} is {child.get_state_display().lower()}."})
    child.parent = parent
    with acting_as(acting_user):
        save_validated(child)
        timeline.record(
            parent,
            ActivityKind.MAJOR,
            actor=acting_user,
            data={"event": "child_attached", "child_id": child.pk, "child": child.number},
        )
        timeline.record(
            child,
            ActivityKind.MAJOR,
            actor=acting_user,
            public=True,
            body=f"Attached to major incident {parent.number}.",
            data={"event": "attached_to", "parent_id": parent.pk, "parent": parent.number},
        )
    return child


@transaction.atomic
def detach_child(*, acting_user: Any, parent: Incident, child: Incident) -> Incident:
    require(acting_user, Incident, Action.CHANGE, parent.organization_id)
    if child.parent_id != parent.pk:
        raise Conflict(f"{child.number} is not a child of {parent.number}.", field="child_id")
    child.parent = None
    with acting_as(acting_user):
        save_validated(child)
        timeline.record(
            parent,
            ActivityKind.MAJOR,
            actor=acting_user,
            data={"event": "child_detached", "child_id": child.pk, "child": child.number},
        )
        timeline.record(
            child,
            ActivityKind.MAJOR,
            actor=acting_user,
            public=True,
            body=f"Detached from major incident {parent.number}.",
            data={"event": "detached_from", "parent_id": parent.pk, "parent": parent.number},
        )
    return child


# --- communications ----------------------------------------------------------------------------


@transaction.atomic
def add_communication(
    *,
    acting_user: Any,
    incident: Incident,
    body: str,
    audience: str = CommunicationAudience.STAKEHOLDERS,
    channel: str = "email",
) -> CommunicationUpdate:
    """Log a stakeholder update. Updates to customers are public on the timeline; the others
    are internal."""
    require(acting_user, CommunicationUpdate, Action.ADD, incident.organization_id)
    _require_major(incident)
    errors: dict[str, str] = {}
    if audience not in CommunicationAudience.values:
        errors["audience"] = f"One of: {', '.join(CommunicationAudience.values)}."
    if not (body or "").strip():
        errors["body"] = "An update cannot be empty."
    if not (channel or "").strip():
        errors["channel"] = "Say how the update was sent (email, status page, ...)."
    if errors:
        raise FieldError(errors)
    public = audience == CommunicationAudience.CUSTOMERS
    with acting_as(acting_user):
        update = save_validated(
            CommunicationUpdate(
                organization_id=incident.organization_id,
                incident=incident,
                audience=audience,
                channel=channel.strip(),
                body=body.strip(),
                sent_by=acting_user if getattr(acting_user, "is_authenticated", False) else None,
            )
        )
        timeline.record(
            incident,
            ActivityKind.COMMUNICATION,
            actor=acting_user,
            public=public,
            body=update.body,
            data={"communication_id": update.pk, "audience": audience, "channel": update.channel},
        )
    return update


# --- post-incident review ----------------------------------------------------------------------


@transaction.atomic
def save_review(
    *, acting_user: Any, incident: Incident, state: str | None = None, **changes: Any
) -> PostIncidentReview:
    """Create or update the post-incident review of a major incident. ``state`` moves it
    along `REVIEW` (draft -> in review -> completed); a completed review is frozen."""
    require(acting_user, PostIncidentReview, Action.CHANGE, incident.organization_id)
    _require_major(incident)
    unknown = sorted(set(changes) - set(REVIEW_FIELDS))
    if unknown:
        raise FieldError({name: "This field cannot be changed here." for name in unknown})
    review = PostIncidentReview.objects.filter(incident=incident).first()
    created = review is None
    if review is None:
        review = PostIncidentReview(organization_id=incident.organization_id, incident=incident)
    if review.state in REVIEW.final:
        raise Conflict("The review is completed: it can no longer be changed.", field="state")
    _check_member(incident.organization_id, changes.get("facilitator"), "facilitator_id")
    before = {name: getattr(review, name) for name in changes}
    for name, value in changes.items():
        setattr(review, name, value)
    data: dict[str, Any] = {
        "event": "review_created" if created else "review_updated",
        "changed": sorted(name for name in changes if before[name] != changes[name]),
    }
    if state is not None and state != review.state:
        if state not in ReviewState.values:
            raise FieldError({"state": f"One of: {', '.join(ReviewState.values)}."})
        step = REVIEW.transition_for(review.state, state)
        if step is None:
            allowed = ", ".join(REVIEW.targets(review.state)) or "none"
            raise Conflict(
                f"A review that is {REVIEW.label(review.state).lower()} cannot become "
                f"{REVIEW.label(state).lower()}. Allowed: {allowed}.",
                field="state",
            )
        REVIEW.check(review.state, step.name, {f: getattr(review, f) for f in step.requires})
        data.update({"from": review.state, "to": state, "transition": step.name})
        review.state = state
        if state == ReviewState.COMPLETED:
            review.completed_at = timezone.now()
    if not created and not data["changed"] and "transition" not in data:
        return review
    with acting_as(acting_user):
        save_validated(review)
        timeline.record(incident, ActivityKind.MAJOR, actor=acting_user, data=data)
    return review


@transaction.atomic
def add_review_action(
    *,
    acting_user: Any,
    review: PostIncidentReview,
    description: str,
    owner: User | None = None,
    due_on: date | None = None,
) -> ReviewAction:
    require(acting_user, ReviewAction, Action.ADD, review.organization_id)
    if not (description or "").strip():
        raise FieldError({"description": "Describe the action."})
    _check_member(review.organization_id, owner, "owner_id")
    with acting_as(acting_user):
        item = save_validated(
            ReviewAction(
                organization_id=review.organization_id,
                review=review,
                description=description.strip(),
                owner=owner,
                due_on=due_on,
            )
        )
        timeline.record(
            review.incident,
            ActivityKind.MAJOR,
            actor=acting_user,
            data={
                "event": "review_action_added",
                "action_id": item.pk,
                "description": item.description,
                "owner": _label(owner),
                "due_on": due_on.isoformat() if due_on else None,
            },
        )
    return item


@transaction.atomic
def update_review_action(*, acting_user: Any, action: ReviewAction, **changes: Any) -> ReviewAction:
    require(acting_user, ReviewAction, Action.CHANGE, action.organization_id)
    unknown = sorted(set(changes) - set(REVIEW_ACTION_FIELDS))
    if unknown:
        raise FieldError({name: "This field cannot be changed here." for name in unknown})
    if "description" in changes and not (changes["description"] or "").strip():
        raise FieldError({"description": "Describe the action."})
    if "state" in changes and changes["state"] not in ReviewActionState.values:
        raise FieldError({"state": f"One of: {', '.join(ReviewActionState.values)}."})
    _check_member(action.organization_id, changes.get("owner"), "owner_id")
    changed = {
        name: [_label(getattr(action, name)), _label(value)]
        for name, value in changes.items()
        if getattr(action, name) != value
    }
    if not changed:
        return action
    for name, value in changes.items():
        setattr(action, name, value)
    with acting_as(acting_user):
        save_validated(action)
        timeline.record(
            action.review.incident,
            ActivityKind.MAJOR,
            actor=acting_user,
            data={"event": "review_action_changed", "action_id": action.pk, "changes": changed},
        )
    return action
