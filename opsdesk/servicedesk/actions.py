"""Every write on incidents and on the parts every ticket shares (comments, attachments,
watchers).

Each action is atomic, checks permission and the declared workflow
(`opsdesk.servicedesk.workflows.INCIDENT`), validates with errors that name the field,
writes the audit trail (through `acting_as`) and appends to the ticket's timeline, whose
commit signal drives notifications.
"""

from __future__ import annotations

import hashlib
import mimetypes
from datetime import datetime
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from opsdesk.accounts.models import Membership, Team, User
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actions import require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action, Role, has_permission, organization_roles
from opsdesk.servicedesk import timeline
from opsdesk.servicedesk.choices import (
    ActivityKind,
    Channel,
    HoldReason,
    IncidentState,
)
from opsdesk.servicedesk.models import (
    Activity,
    Attachment,
    Category,
    Incident,
    ServiceDeskSettings,
    Watcher,
)
from opsdesk.servicedesk.workflows import INCIDENT

#: Fields `update_incident` may change. State, assignment, links and resolution change only
#: through their own actions.
INCIDENT_FIELDS = (
    "title",
    "description",
    "requester",
    "service",
    "ci",
    "category",
    "subcategory",
    "impact",
    "urgency",
    "location",
    "channel",
)
#: What a requester may set on their own incident.
REQUESTER_FIELDS = ("title", "description", "service", "ci", "urgency", "location")
#: Transitions a requester may make on their own incident.
REQUESTER_TRANSITIONS = frozenset({"close", "reopen", "cancel"})


def is_requester_only(user: Any, organization_id: int) -> bool:
    if user is None or getattr(user, "is_superuser", False):
        return False
    return organization_roles(user).get(organization_id) == Role.REQUESTER


def _is_member(user_id: int, organization_id: int) -> bool:
    return Membership.objects.filter(organization_id=organization_id, user_id=user_id).exists()


def _check_references(incident: Incident, errors: dict[str, str]) -> None:
    org = incident.organization_id
    if incident.requester_id is not None and not _is_member(incident.requester_id, org):
        errors["requester_id"] = "The requester is not a member of this organisation."
    if incident.service_id is not None:
        service = incident.service
        if service.organization_id != org:
            errors["service_id"] = "The service belongs to another organisation."
        elif not service.ci_class.is_service:
            errors["service_id"] = f"{service.name} is a {service.ci_class.label}, not a service."
    if incident.ci_id is not None and incident.ci.organization_id != org:
        errors["ci_id"] = "The configuration item belongs to another organisation."
    category = incident.category
    if category is not None:
        if category.organization_id != org:
            errors["category_id"] = "The category belongs to another organisation."
        elif category.parent_id is not None:
            errors["category_id"] = f"{category.name} is a subcategory; choose its parent."
    if incident.subcategory_id is not None:
        sub = incident.subcategory
        if sub.organization_id != org or sub.parent_id is None:
            errors["subcategory_id"] = "Not a subcategory of this organisation."
        elif sub.parent_id != incident.category_id:
            errors["subcategory_id"] = f"{sub.name} is not a subcategory of the chosen category."
    for name in ("impact", "urgency"):
        if getattr(incident, name) not in (1, 2, 3):
            errors[name] = "Must be 1 (high), 2 (medium) or 3 (low)."
    if not (incident.title or "").strip():
        errors["title"] = "A title is required."


def check_assignment(organization_id: int, group: Team | None, assignee: User | None) -> None:
    """An assignee must be a member of the assignment group; both of this organisation."""
    errors: dict[str, str] = {}
    if group is not None and group.organization_id != organization_id:
        errors["assignment_group_id"] = "The team belongs to another organisation."
    if assignee is not None:
        if group is None:
            errors["assignee_id"] = "Choose an assignment group before an assignee."
        elif not group.members.filter(pk=assignee.pk).exists():
            errors["assignee_id"] = f"{assignee} is not a member of {group.name}."
        elif not has_permission(assignee, Incident, Action.CHANGE, organization_id):
            errors["assignee_id"] = f"{assignee} may not work incidents in this organisation."
    if errors:
        raise FieldError(errors)


def _refuse_if_final(incident: Incident) -> None:
    if incident.state in INCIDENT.final:
        raise Conflict(
            f"{incident.number} is {incident.get_state_display().lower()}: it can no longer be "
            "changed.",
            field="state",
        )


def _require_on_incident(user: Any, incident: Incident, action: str) -> None:
    """Agents need `action`; a requester may act on their own incident only."""
    if has_permission(user, Incident, Action.CHANGE, incident.organization_id):
        return
    if (
        action in (Action.VIEW, "comment")
        and is_requester_only(user, incident.organization_id)
        and incident.requester_id == getattr(user, "pk", None)
    ):
        return
    raise PermissionDenied("You may not change this incident.")


# --- create and update ---------------------------------------------------------------------


@transaction.atomic
def create_incident(
    *,
    acting_user: Any,
    organization: Organization,
    title: str,
    description: str = "",
    requester: User | None = None,
    requester_email: str = "",
    channel: str = Channel.PORTAL,
    service: ConfigurationItem | None = None,
    ci: ConfigurationItem | None = None,
    category: Category | None = None,
    subcategory: Category | None = None,
    impact: int = 3,
    urgency: int = 3,
    assignment_group: Team | None = None,
    assignee: User | None = None,
    location: str = "",
    opened_at: datetime | None = None,
    system: str = "",
) -> Incident:
    """Open an incident. ``system`` names an automatic opener (e.g. the event pipeline, with
    ``acting_user=None``): no permission check, the timeline attributes it to that name."""
    if not system:
        require(acting_user, Incident, Action.ADD, organization.pk)
    requester_only = not system and is_requester_only(acting_user, organization.pk)
    if requester_only:
        # A requester raises incidents for themselves and cannot route or prioritise them.
        requester = acting_user
        impact = 3
        assignment_group = assignee = None
        category = subcategory = None
    elif requester is None and not requester_email and getattr(acting_user, "pk", None):
        requester = acting_user
    if channel not in Channel.values:
        raise FieldError({"channel": f"One of: {', '.join(Channel.values)}."})
    settings = ServiceDeskSettings.for_org(organization.pk)
    if assignment_group is None and assignee is None:
        assignment_group = settings.default_team
    check_assignment(organization.pk, assignment_group, assignee)
    with acting_as(acting_user):
        incident = Incident(
            organization=organization,
            title=title,
            description=description,
            requester=requester,
            requester_email=requester_email,
            opened_by=acting_user if getattr(acting_user, "is_authenticated", False) else None,
            channel=channel,
            service=service,
            ci=ci,
            category=category,
            subcategory=subcategory,
            impact=impact,
            urgency=urgency,
            assignment_group=assignment_group,
            assignee=assignee,
            location=location,
            opened_at=opened_at or timezone.now(),
        )
        errors: dict[str, str] = {}
        _check_references(incident, errors)
        if errors:
            raise FieldError(errors)
        incident.priority = settings.priority_for(incident.impact, incident.urgency)
        if assignee is not None:
            incident.first_assigned_at = incident.opened_at
        save_validated(incident)
        timeline.record(
            incident,
            ActivityKind.CREATED,
            actor=acting_user,
            actor_name=system,
            public=True,
            data={
                "state": incident.state,
                "priority": incident.priority,
                "channel": incident.channel,
                "assignment_group": assignment_group.name if assignment_group else None,
                "assignee": str(assignee) if assignee else None,
            },
            at=incident.opened_at,
        )
        if assignment_group is not None or assignee is not None:
            timeline.record(
                incident,
                ActivityKind.ASSIGNED,
                actor=acting_user,
                actor_name=system,
                data=_assignment_data(None, None, assignment_group, assignee),
                at=incident.opened_at,
            )
        from opsdesk.servicedesk.major import auto_declare

        auto_declare(acting_user, incident)
    return incident


def _label(obj: Any) -> str | None:
    return str(obj) if obj is not None else None


@transaction.atomic
def update_incident(
    *, acting_user: Any, incident: Incident, system: str = "", **changes: Any
) -> Incident:
    """Change descriptive fields; priority follows impact and urgency through the matrix.
    ``system`` names an automatic actor (``acting_user=None``): no permission check."""
    if not system:
        _require_on_incident(acting_user, incident, Action.CHANGE)
    requester_only = not system and not has_permission(
        acting_user, Incident, Action.CHANGE, incident.organization_id
    )
    allowed = REQUESTER_FIELDS if requester_only else INCIDENT_FIELDS
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise FieldError({name: "This field cannot be changed here." for name in unknown})
    _refuse_if_final(incident)
    if "channel" in changes and changes["channel"] not in Channel.values:
        raise FieldError({"channel": f"One of: {', '.join(Channel.values)}."})
    before = {name: getattr(incident, name) for name in changes}
    for name, value in changes.items():
        setattr(incident, name, value)
    errors: dict[str, str] = {}
    _check_references(incident, errors)
    if errors:
        raise FieldError(errors)
    settings = ServiceDeskSettings.for_org(incident.organization_id)
    old_priority = incident.priority
    incident.priority = settings.priority_for(incident.impact, incident.urgency)
    changed = {
        name: [_label(before[name]), _label(value)]
        for name, value in changes.items()
        if before[name] != value
    }
    if incident.priority != old_priority:
        changed["priority"] = [old_priority, incident.priority]
    if not changed:
        return incident
    with acting_as(acting_user):
        save_validated(incident)
        timeline.record(
            incident,
            ActivityKind.FIELD,
            actor=acting_user,
            actor_name=system,
            data={"changes": changed},
        )
        from opsdesk.servicedesk.major import auto_declare

        auto_declare(acting_user, incident)
    return incident


# --- assignment ----------------------------------------------------------------------------


def _assignment_data(
    old_group: Team | None, old_assignee: User | None, group: Team | None, assignee: User | None
) -> dict[str, Any]:
    return {
        "from_group": _label(old_group),
        "from_assignee": _label(old_assignee),
        "group": _label(group),
        "group_id": group.pk if group else None,
        "assignee": _label(assignee),
        "assignee_id": assignee.pk if assignee else None,
    }


@transaction.atomic
def assign_incident(
    *,
    acting_user: Any,
    incident: Incident,
    assignment_group: Team | None,
    assignee: User | None = None,
    system: str = "",
    body: str = "",
    extra: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> Incident:
    """Route the incident; moving it away from someone already holding it is a reassignment.

    ``system`` names an automatic actor (e.g. an SLA escalation, with ``acting_user=None``):
    no permission check, the change is attributed to that name; ``extra`` joins the
    timeline entry's data."""
    if not system:
        require(acting_user, Incident, Action.CHANGE, incident.organization_id)
    _refuse_if_final(incident)
    check_assignment(incident.organization_id, assignment_group, assignee)
    old_group, old_assignee = incident.assignment_group, incident.assignee
    if old_group == assignment_group and old_assignee == assignee:
        return incident
    was_assigned = old_group is not None or old_assignee is not None
    if was_assigned and (
        old_group != assignment_group or (old_assignee is not None and old_assignee != assignee)
    ):
        incident.reassignment_count += 1
    incident.assignment_group = assignment_group
    incident.assignee = assignee
    if incident.first_assigned_at is None and assignee is not None:
        incident.first_assigned_at = at or timezone.now()
    with acting_as(acting_user):
        save_validated(incident)
        timeline.record(
            incident,
            ActivityKind.ASSIGNED,
            actor=acting_user,
            actor_name=system,
            body=body,
            data={
                **_assignment_data(old_group, old_assignee, assignment_group, assignee),
                **(extra or {}),
            },
            at=at,
        )
    return incident


# --- workflow ------------------------------------------------------------------------------


@transaction.atomic
def transition_incident(
    *,
    acting_user: Any,
    incident: Incident,
    transition: str,
    hold_reason: str = "",
    resolution_code: str = "",
    resolution_notes: str = "",
    reason: str = "",
    at: datetime | None = None,
    cascade: bool = True,
    system: str = "",
) -> Incident:
    """Move the incident along its workflow (start, hold, resolve, close, reopen, cancel).

    Refuses a transition the workflow does not allow from the current state with a 409 that
    lists the allowed ones, and a missing required field with a 422 naming it. ``system``
    names an automatic actor (``acting_user=None``): no permission check.
    """
    requester_move = transition in REQUESTER_TRANSITIONS and incident.requester_id == getattr(
        acting_user, "pk", None
    )
    if not system:
        action = Action.VIEW if requester_move else Action.CHANGE
        require(acting_user, Incident, action, incident.organization_id)
    values = {
        "hold_reason": hold_reason,
        "resolution_code": resolution_code,
        "resolution_notes": resolution_notes,
        "reason": reason,
    }
    step = INCIDENT.check(incident.state, transition, values)
    if transition == "hold" and hold_reason not in HoldReason.values:
        raise FieldError({"hold_reason": f"One of: {', '.join(HoldReason.values)}."})
    if transition == "resolve":
        codes = ServiceDeskSettings.for_org(incident.organization_id).resolution_codes
        if codes and resolution_code not in codes:
            raise FieldError({"resolution_code": f"One of: {', '.join(codes)}."})
    now = at or timezone.now()
    source = incident.state
    incident.state = step.target
    data: dict[str, Any] = {"from": source, "to": step.target, "transition": transition}
    if transition == "hold":
        incident.hold_reason = hold_reason
        data["hold_reason"] = hold_reason
    elif source == IncidentState.ON_HOLD:
        incident.hold_reason = ""
    if transition == "resolve":
        incident.resolution_code = resolution_code
        incident.resolution_notes = resolution_notes
        incident.resolved_at = now
        incident.resolved_by = (
            acting_user if getattr(acting_user, "is_authenticated", False) else None
        )
        incident.first_contact_resolution = (
            incident.reassignment_count == 0
            and incident.reopen_count == 0
            and incident.opened_by_id is not None
            and incident.opened_by_id == getattr(acting_user, "pk", None)
        )
        data["resolution_code"] = resolution_code
    elif transition == "reopen":
        incident.reopen_count += 1
        incident.resolved_at = None
        incident.resolved_by = None
        incident.first_contact_resolution = False
        data["reason"] = reason
    elif transition == "close":
        incident.closed_at = now
    elif transition == "cancel":
        incident.closed_at = now
        data["reason"] = reason
    body = resolution_notes if transition == "resolve" else reason
    with acting_as(acting_user):
        save_validated(incident)
        timeline.record(
            incident,
            ActivityKind.STATE,
            actor=acting_user,
            actor_name=system,
            public=True,
            body=body,
            data=data,
            at=now,
        )
    if cascade and transition in ("resolve", "close", "cancel") and incident.is_major:
        # Children of a major incident follow their parent.
        for child in incident.children.exclude(state__in=INCIDENT.final).select_for_update():
            if child.state in INCIDENT.get(transition).sources:
                transition_incident(
                    acting_user=acting_user,
                    incident=child,
                    transition=transition,
                    resolution_code=resolution_code,
                    resolution_notes=resolution_notes
                    or f"Resolved with major incident {incident.number}.",
                    reason=reason or f"Follows major incident {incident.number}.",
                    at=now,
                    cascade=False,
                    system=system,
                )
    return incident


@transaction.atomic
def auto_close_resolved(*, now: datetime | None = None) -> int:
    """Close incidents resolved longer ago than their organisation's ``auto_close_days``."""
    now = now or timezone.now()
    closed = 0
    for settings in ServiceDeskSettings.objects.all():
        cutoff = now - timezone.timedelta(days=settings.auto_close_days)
        due = Incident.objects.filter(
            organization_id=settings.organization_id,
            state=IncidentState.RESOLVED,
            resolved_at__lt=cutoff,
        ).select_for_update()
        for incident in due:
            incident.state = IncidentState.CLOSED
            incident.closed_at = now
            with acting_as(None):
                incident.save()
                timeline.record(
                    incident,
                    ActivityKind.STATE,
                    actor_name="OpsDesk",
                    public=True,
                    body=f"Closed automatically {settings.auto_close_days} days after resolution.",
                    data={
                        "from": IncidentState.RESOLVED,
                        "to": IncidentState.CLOSED,
                        "transition": "close",
                        "automatic": True,
                    },
                    at=now,
                )
            closed += 1
    return closed


# --- links ---------------------------------------------------------------------------------


@transaction.atomic
def link_incident(
    *,
    acting_user: Any,
    incident: Incident,
    problem: Any = None,
    known_error: Any = None,
    unlink: bool = False,
) -> Incident:
    """Link (or unlink) a problem or a known error; both must be of the same organisation."""
    require(acting_user, Incident, Action.CHANGE, incident.organization_id)
    if problem is None and known_error is None:
        raise FieldError({"problem_id": "Give a problem or a known error."})
    for name, target in (("problem", problem), ("known_error", known_error)):
        if target is None:
            continue
        if target.organization_id != incident.organization_id:
            raise FieldError({f"{name}_id": "It belongs to another organisation."})
        current = getattr(incident, f"{name}_id")
        if unlink:
            if current != target.pk:
                raise Conflict(f"{incident.number} is not linked to {target}.", field=f"{name}_id")
            setattr(incident, name, None)
        else:
            setattr(incident, name, target)
        with acting_as(acting_user):
            save_validated(incident)
            timeline.record(
                incident,
                ActivityKind.UNLINK if unlink else ActivityKind.LINK,
                actor=acting_user,
                public=name == "known_error",
                data={
                    "type": name,
                    "id": target.pk,
                    "number": target.number,
                    "title": target.title,
                },
            )
    return incident


# --- shared by every ticket: comments, attachments, watchers --------------------------------


def _require_subject(user: Any, subject: Any, public: bool) -> None:
    """Agents comment and add work notes; the requester of a ticket comments on it."""
    model = type(subject)
    if has_permission(user, model, Action.CHANGE, subject.organization_id):
        return
    if (
        public
        and getattr(subject, "requester_id", None) == getattr(user, "pk", None)
        and has_permission(user, model, Action.VIEW, subject.organization_id)
    ):
        return
    raise PermissionDenied("You may not comment on this ticket.")


@transaction.atomic
def add_comment(
    *,
    acting_user: Any,
    subject: Any,
    body: str,
    public: bool = True,
    actor_name: str = "",
    at: datetime | None = None,
    data: dict[str, Any] | None = None,
) -> Activity:
    """A comment (public: the requester sees it) or a work note (internal) on any ticket."""
    if acting_user is not None:
        _require_subject(acting_user, subject, public)
    if not (body or "").strip():
        raise FieldError({"body": "A comment cannot be empty."})
    with acting_as(acting_user):
        return timeline.record(
            subject,
            ActivityKind.COMMENT if public else ActivityKind.WORK_NOTE,
            actor=acting_user,
            actor_name=actor_name,
            public=public,
            body=body.strip(),
            at=at,
            data=data,
            audited=True,
        )


@transaction.atomic
def add_comments(*, acting_user: Any, comments: list[dict[str, Any]]) -> list[Activity]:
    """`add_comment` for many tickets at once (an event batch's work notes): the same
    checks for each (``comments``: its other keyword arguments), then one INSERT for the
    entries and one for their audit records."""
    entries = []
    for comment in comments:
        subject, body = comment["subject"], comment["body"]
        public = comment.get("public", True)
        if acting_user is not None:
            _require_subject(acting_user, subject, public)
        if not (body or "").strip():
            raise FieldError({"body": "A comment cannot be empty."})
        entries.append(
            {
                "subject": subject,
                "kind": ActivityKind.COMMENT if public else ActivityKind.WORK_NOTE,
                "actor": acting_user,
                "actor_name": comment.get("actor_name", ""),
                "public": public,
                "body": body.strip(),
                "at": comment.get("at"),
                "data": comment.get("data"),
                "audited": True,
            }
        )
    with acting_as(acting_user):
        return timeline.record_many(entries)


def _content_type(filename: str, declared: str) -> str:
    declared = (declared or "").split(";")[0].strip().lower()
    if declared and declared != "application/octet-stream":
        return declared
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


@transaction.atomic
def add_attachment(
    *,
    acting_user: Any,
    subject: Any,
    filename: str,
    content: bytes,
    content_type: str = "",
    public: bool = True,
    keep_for_review: bool = False,
) -> Attachment:
    """Attach a file. Too big or of a type not allowed: refused (422 naming ``file``), or,
    with ``keep_for_review`` (mail in), stored quarantined so nothing is lost."""
    if acting_user is not None:
        _require_subject(acting_user, subject, public)
    settings = ServiceDeskSettings.for_org(subject.organization_id)
    filename = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()[:255] or "attachment"
    kind = _content_type(filename, content_type)
    problem = ""
    if len(content) > settings.attachment_max_bytes:
        problem = (
            f"{filename} is {len(content):,} bytes; the limit is "
            f"{settings.attachment_max_bytes:,} bytes."
        )
    elif settings.attachment_types and kind not in settings.attachment_types:
        problem = f"{filename}: files of type {kind} are not allowed."
    elif not content:
        problem = f"{filename} is empty."
    if problem and not keep_for_review:
        raise FieldError({"file": problem})
    digest = hashlib.sha256(content).hexdigest()
    with acting_as(acting_user):
        attachment = Attachment(
            organization_id=subject.organization_id,
            subject_type=timeline.subject_type_of(subject),
            subject_id=subject.pk,
            filename=filename,
            content_type=kind,
            size=len(content),
            sha256=digest,
            public=public,
            quarantined=bool(problem),
            quarantine_reason=problem[:200],
            uploaded_by=acting_user if getattr(acting_user, "is_authenticated", False) else None,
        )
        attachment.file.save(digest, ContentFile(content), save=False)
        attachment.save()
        timeline.record(
            subject,
            ActivityKind.ATTACHMENT,
            actor=acting_user,
            public=public and not problem,
            data={
                "attachment_id": attachment.pk,
                "filename": filename,
                "size": len(content),
                "quarantined": bool(problem),
            },
        )
    return attachment


@transaction.atomic
def watch(*, acting_user: Any, subject: Any, user: User, watching: bool = True) -> bool:
    """Add (or remove) `user` as a watcher. Anyone may watch for themselves what they can see;
    agents may add other members."""
    model = type(subject)
    if user.pk != getattr(acting_user, "pk", None):
        require(acting_user, model, Action.CHANGE, subject.organization_id)
    else:
        require(acting_user, model, Action.VIEW, subject.organization_id)
    if not _is_member(user.pk, subject.organization_id):
        raise FieldError({"user_id": f"{user} is not a member of this organisation."})
    subject_type = timeline.subject_type_of(subject)
    existing = Watcher.objects.filter(
        subject_type=subject_type, subject_id=subject.pk, user=user
    ).first()
    with acting_as(acting_user):
        if watching and existing is None:
            Watcher.objects.create(
                organization_id=subject.organization_id,
                subject_type=subject_type,
                subject_id=subject.pk,
                user=user,
            )
        elif not watching and existing is not None:
            existing.delete()
        else:
            return False
        timeline.record(
            subject,
            ActivityKind.WATCHER,
            actor=acting_user,
            data={"user": str(user), "user_id": user.pk, "watching": watching},
        )
    return True
