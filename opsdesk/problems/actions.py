"""Every write on problems and known errors.

Each action is atomic, checks permission and the declared workflow
(`opsdesk.problems.workflows.PROBLEM` / `KNOWN_ERROR`), validates with errors that name the
field, writes the audit trail (through `acting_as`) and appends to the problem's or known
error's timeline. Links to incidents go through `opsdesk.servicedesk.actions.link_incident`,
so the incident's own timeline tells the story too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from opsdesk.accounts.models import Team, User
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actions import require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action
from opsdesk.problems.choices import KnownErrorState, ProblemState
from opsdesk.problems.models import KnownError, Problem
from opsdesk.problems.workflows import KNOWN_ERROR, PROBLEM
from opsdesk.servicedesk import actions as desk
from opsdesk.servicedesk import timeline
from opsdesk.servicedesk.choices import OPEN_STATES, ActivityKind
from opsdesk.servicedesk.models import Incident, ServiceDeskSettings

#: Fields `update_problem` may change besides the assignment. State and resolution change
#: only through `transition_problem`.
PROBLEM_FIELDS = (
    "title",
    "description",
    "priority",
    "service",
    "ci",
    "rca_notes",
    "root_cause",
    "workaround",
)
ASSIGNMENT_FIELDS = ("assignment_group", "assignee")
KNOWN_ERROR_FIELDS = ("title", "symptoms", "root_cause", "workaround", "cis")
#: The resolution code of incidents resolved together with their problem.
PROBLEM_RESOLUTION_CODE = "solved_permanently"


def _label(obj: Any) -> str | None:
    return str(obj) if obj is not None else None


def _check_problem(problem: Problem) -> None:
    errors: dict[str, str] = {}
    org = problem.organization_id
    if not (problem.title or "").strip():
        errors["title"] = "A title is required."
    if problem.priority not in (1, 2, 3, 4, 5):
        errors["priority"] = "Priorities are 1 (critical) to 5 (planning)."
    if problem.service_id is not None:
        service = problem.service
        if service.organization_id != org:
            errors["service_id"] = "The service belongs to another organisation."
        elif not service.ci_class.is_service:
            errors["service_id"] = f"{service.name} is a {service.ci_class.label}, not a service."
    if problem.ci_id is not None and problem.ci.organization_id != org:
        errors["ci_id"] = "The configuration item belongs to another organisation."
    if errors:
        raise FieldError(errors)


def _refuse_if_final(problem: Problem) -> None:
    if problem.state in PROBLEM.final:
        raise Conflict(
            f"{problem.number} is {problem.get_state_display().lower()}: it can no longer be "
            "changed.",
            field="state",
        )


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


def _incident_ref(incident: Incident) -> dict[str, Any]:
    return {
        "type": "incident",
        "id": incident.pk,
        "number": incident.number,
        "title": incident.title,
    }


# --- problems ------------------------------------------------------------------------------


@transaction.atomic
def create_problem(
    *,
    acting_user: Any,
    organization: Organization,
    title: str,
    description: str = "",
    priority: int = 3,
    service: ConfigurationItem | None = None,
    ci: ConfigurationItem | None = None,
    assignment_group: Team | None = None,
    assignee: User | None = None,
    rca_notes: str = "",
    root_cause: str = "",
    workaround: str = "",
    incidents: Iterable[Incident] = (),
) -> Problem:
    """Open a problem, optionally for some incidents of the same organisation (each is linked
    to it, and says so on its own timeline)."""
    require(acting_user, Problem, Action.ADD, organization.pk)
    incidents = list(incidents)
    _check_incidents(organization.pk, incidents)
    desk.check_assignment(organization.pk, assignment_group, assignee)
    with acting_as(acting_user):
        problem = Problem(
            organization=organization,
            title=(title or "").strip(),
            description=description,
            priority=priority,
            service=service,
            ci=ci,
            assignment_group=assignment_group,
            assignee=assignee,
            rca_notes=rca_notes,
            root_cause=root_cause,
            workaround=workaround,
            opened_by=acting_user if getattr(acting_user, "is_authenticated", False) else None,
            opened_at=timezone.now(),
        )
        _check_problem(problem)
        save_validated(problem)
        timeline.record(
            problem,
            ActivityKind.CREATED,
            actor=acting_user,
            data={
                "state": problem.state,
                "priority": problem.priority,
                "incidents": [i.number for i in incidents],
            },
            at=problem.opened_at,
        )
        if assignment_group is not None or assignee is not None:
            timeline.record(
                problem,
                ActivityKind.ASSIGNED,
                actor=acting_user,
                data=_assignment_data(None, None, assignment_group, assignee),
                at=problem.opened_at,
            )
    if incidents:
        link_incidents(acting_user=acting_user, problem=problem, incidents=incidents)
    return problem


def _check_incidents(organization_id: int, incidents: list[Incident]) -> None:
    foreign = [i.number for i in incidents if i.organization_id != organization_id]
    if foreign:
        raise FieldError(
            {"incident_ids": f"Not of this organisation: {', '.join(sorted(set(foreign)))}."}
        )


def _common(values: Iterable[Any]) -> Any:
    distinct = {v for v in values}
    return distinct.pop() if len(distinct) == 1 else None


@transaction.atomic
def raise_problem_from_incidents(
    *, acting_user: Any, incidents: Iterable[Incident], title: str = "", **fields: Any
) -> Problem:
    """A problem for one or many incidents of one organisation. The title defaults to the
    first incident's; the service, CI and priority to what all incidents share (the highest
    priority of them)."""
    incidents = list(dict.fromkeys(incidents))
    if not incidents:
        raise FieldError({"incident_ids": "Choose at least one incident."})
    orgs = {i.organization_id for i in incidents}
    if len(orgs) != 1:
        raise FieldError({"incident_ids": "The incidents belong to different organisations."})
    first = incidents[0]
    fields.setdefault("service", _common(i.service for i in incidents))
    fields.setdefault("ci", _common(i.ci for i in incidents))
    fields.setdefault("priority", min(i.priority for i in incidents))
    if not fields.get("description"):
        fields["description"] = "Raised from " + ", ".join(
            f"{i.number} {i.title}" for i in incidents
        )
    return create_problem(
        acting_user=acting_user,
        organization=first.organization,
        title=(title or "").strip() or first.title,
        incidents=incidents,
        **fields,
    )


@transaction.atomic
def update_problem(*, acting_user: Any, problem: Problem, **changes: Any) -> Problem:
    """Change descriptive fields, the RCA notes, root cause and workaround, and the
    assignment (the assignee must be a member of the group)."""
    require(acting_user, Problem, Action.CHANGE, problem.organization_id)
    unknown = sorted(set(changes) - set(PROBLEM_FIELDS) - set(ASSIGNMENT_FIELDS))
    if unknown:
        raise FieldError({name: "This field cannot be changed here." for name in unknown})
    _refuse_if_final(problem)
    assignment = {k: changes.pop(k) for k in ASSIGNMENT_FIELDS if k in changes}
    old_group, old_assignee = problem.assignment_group, problem.assignee
    group = assignment.get("assignment_group", old_group)
    assignee = assignment.get("assignee", old_assignee)
    if "assignment_group" in assignment and "assignee" not in assignment and group != old_group:
        assignee = None  # a new group: its members pick it up
    if assignment:
        desk.check_assignment(problem.organization_id, group, assignee)
    before = {name: getattr(problem, name) for name in changes}
    for name, value in changes.items():
        setattr(problem, name, value.strip() if name == "title" and value else value)
    changed = {
        name: [_label(before[name]), _label(getattr(problem, name))]
        for name in changes
        if before[name] != getattr(problem, name)
    }
    reassigned = group != old_group or assignee != old_assignee
    if not changed and not reassigned:
        return problem
    try:
        _check_problem(problem)
        problem.assignment_group, problem.assignee = group, assignee
        with acting_as(acting_user):
            save_validated(problem)
    except FieldError:
        # Leave the caller's object as it was (a page shows it again with the error).
        for name, value in before.items():
            setattr(problem, name, value)
        problem.assignment_group, problem.assignee = old_group, old_assignee
        raise
    with acting_as(acting_user):
        if changed:
            timeline.record(
                problem, ActivityKind.FIELD, actor=acting_user, data={"changes": changed}
            )
        if reassigned:
            timeline.record(
                problem,
                ActivityKind.ASSIGNED,
                actor=acting_user,
                data=_assignment_data(old_group, old_assignee, group, assignee),
            )
    return problem


@transaction.atomic
def link_incidents(
    *, acting_user: Any, problem: Problem, incidents: Iterable[Incident]
) -> list[Incident]:
    """Link incidents to the problem; returns those newly linked (already linked ones are
    left alone; one linked to another problem moves to this one)."""
    require(acting_user, Problem, Action.CHANGE, problem.organization_id)
    require(acting_user, Incident, Action.CHANGE, problem.organization_id)
    _refuse_if_final(problem)
    incidents = list(dict.fromkeys(incidents))
    if not incidents:
        raise FieldError({"incident_ids": "Choose at least one incident."})
    _check_incidents(problem.organization_id, incidents)
    linked: list[Incident] = []
    for incident in incidents:
        if incident.problem_id == problem.pk:
            continue
        previous = incident.problem
        desk.link_incident(acting_user=acting_user, incident=incident, problem=problem)
        data = _incident_ref(incident)
        if previous is not None:
            data["moved_from"] = previous.number
        with acting_as(acting_user):
            timeline.record(problem, ActivityKind.LINK, actor=acting_user, data=data)
        linked.append(incident)
    return linked


@transaction.atomic
def unlink_incident(*, acting_user: Any, problem: Problem, incident: Incident) -> Incident:
    require(acting_user, Problem, Action.CHANGE, problem.organization_id)
    if incident.problem_id != problem.pk:
        raise Conflict(f"{incident.number} is not linked to {problem.number}.", field="incident_id")
    desk.link_incident(acting_user=acting_user, incident=incident, problem=problem, unlink=True)
    with acting_as(acting_user):
        timeline.record(
            problem, ActivityKind.UNLINK, actor=acting_user, data=_incident_ref(incident)
        )
    return incident


def _incident_resolution_code(organization_id: int) -> str:
    codes = ServiceDeskSettings.for_org(organization_id).resolution_codes
    if not codes or PROBLEM_RESOLUTION_CODE in codes:
        return PROBLEM_RESOLUTION_CODE
    return codes[0]


@transaction.atomic
def transition_problem(
    *,
    acting_user: Any,
    problem: Problem,
    transition: str,
    root_cause: str = "",
    resolution_notes: str = "",
    reason: str = "",
    resolve_incidents: bool = False,
) -> Problem:
    """Move the problem along its workflow (assess, analyse, fix, resolve, close, reopen,
    cancel). A 409 lists the transitions allowed from the current state, a 422 names each
    missing required field (``root_cause`` and ``resolution_notes`` to resolve).

    ``resolve_incidents=True`` with ``resolve`` also resolves every open linked incident
    (code ``solved_permanently``, notes naming the problem); their numbers are left on
    ``problem.resolved_incidents``.
    """
    require(acting_user, Problem, Action.CHANGE, problem.organization_id)
    root_cause = (root_cause or "").strip() or problem.root_cause
    resolution_notes = (resolution_notes or "").strip() or problem.resolution_notes
    values = {"root_cause": root_cause, "resolution_notes": resolution_notes, "reason": reason}
    step = PROBLEM.check(problem.state, transition, values)
    if resolve_incidents and transition != "resolve":
        raise FieldError({"resolve_incidents": "Only resolving a problem resolves its incidents."})
    if resolve_incidents:
        require(acting_user, Incident, Action.CHANGE, problem.organization_id)
    now = timezone.now()
    source = problem.state
    problem.state = step.target
    data: dict[str, Any] = {"from": source, "to": step.target, "transition": transition}
    if step.requires and "root_cause" in step.requires:
        problem.root_cause = root_cause
    if transition == "resolve":
        problem.resolution_notes = resolution_notes
        problem.resolved_at = now
    elif transition == "reopen":
        problem.resolved_at = None
        data["reason"] = reason
    elif transition in ("close", "cancel"):
        problem.closed_at = now
        if reason:
            data["reason"] = reason
    resolved: list[str] = []
    with acting_as(acting_user):
        save_validated(problem)
        if resolve_incidents:
            resolved = _resolve_linked_incidents(acting_user, problem, resolution_notes, now)
            data["resolved_incidents"] = resolved
        body = resolution_notes if transition == "resolve" else reason
        timeline.record(
            problem, ActivityKind.STATE, actor=acting_user, body=body, data=data, at=now
        )
    problem.resolved_incidents = resolved  # type: ignore[attr-defined]
    return problem


def _resolve_linked_incidents(
    acting_user: Any, problem: Problem, resolution_notes: str, now: Any
) -> list[str]:
    code = _incident_resolution_code(problem.organization_id)
    notes = f"Resolved with problem {problem.number} ({problem.title}): {resolution_notes}"
    resolved: list[str] = []
    pks = list(
        Incident.objects.filter(problem_id=problem.pk, state__in=OPEN_STATES)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for pk in pks:
        # Re-read each one: resolving a major incident may already have resolved its children.
        incident = Incident.objects.select_for_update().filter(pk=pk).first()
        if incident is None or incident.state not in OPEN_STATES:
            continue
        desk.transition_incident(
            acting_user=acting_user,
            incident=incident,
            transition="resolve",
            resolution_code=code,
            resolution_notes=notes,
            at=now,
        )
        resolved.append(incident.number)
    return resolved


# --- known errors --------------------------------------------------------------------------


def _check_cis(organization_id: int, cis: Iterable[ConfigurationItem]) -> list[ConfigurationItem]:
    cis = list(dict.fromkeys(cis))
    foreign = [ci.name for ci in cis if ci.organization_id != organization_id]
    if foreign:
        raise FieldError({"ci_ids": f"Not of this organisation: {', '.join(foreign)}."})
    return cis


def _check_known_error(known_error: KnownError) -> None:
    errors: dict[str, str] = {}
    if not (known_error.title or "").strip():
        errors["title"] = "A title is required."
    if not (known_error.workaround or "").strip():
        errors["workaround"] = "A known error needs a workaround (say so if there is none)."
    if errors:
        raise FieldError(errors)


@transaction.atomic
def create_known_error(
    *,
    acting_user: Any,
    organization: Organization,
    title: str,
    workaround: str,
    symptoms: str = "",
    root_cause: str = "",
    state: str = KnownErrorState.PUBLISHED,
    problem: Problem | None = None,
    cis: Iterable[ConfigurationItem] = (),
) -> KnownError:
    """A known error, standalone or for a problem of the same organisation, linked to CIs."""
    require(acting_user, KnownError, Action.ADD, organization.pk)
    if state not in (KnownErrorState.DRAFT, KnownErrorState.PUBLISHED):
        raise FieldError({"state": "A new known error is a draft or published."})
    if problem is not None and problem.organization_id != organization.pk:
        raise FieldError({"problem_id": "The problem belongs to another organisation."})
    cis = _check_cis(organization.pk, cis)
    with acting_as(acting_user):
        known_error = KnownError(
            organization=organization,
            title=(title or "").strip(),
            symptoms=symptoms,
            root_cause=root_cause,
            workaround=(workaround or "").strip(),
            state=state,
            problem=problem,
        )
        _check_known_error(known_error)
        save_validated(known_error)
        known_error.cis.set(cis)
        timeline.record(
            known_error,
            ActivityKind.CREATED,
            actor=acting_user,
            data={
                "state": state,
                "problem": problem.number if problem else None,
                "cis": [ci.name for ci in cis],
            },
        )
        if problem is not None:
            timeline.record(
                problem,
                ActivityKind.LINK,
                actor=acting_user,
                data={
                    "type": "known_error",
                    "id": known_error.pk,
                    "number": known_error.number,
                    "title": known_error.title,
                },
            )
    return known_error


@transaction.atomic
def create_known_error_from_problem(
    *,
    acting_user: Any,
    problem: Problem,
    title: str = "",
    symptoms: str = "",
    cis: Iterable[ConfigurationItem] | None = None,
    state: str = KnownErrorState.PUBLISHED,
) -> KnownError:
    """A known error copying the problem's root cause and workaround; its CIs default to the
    problem's CI and the CIs of its linked incidents, its symptoms to the incidents' titles."""
    require(acting_user, KnownError, Action.ADD, problem.organization_id)
    if problem.state == ProblemState.CANCELLED:
        raise Conflict(f"{problem.number} is cancelled.", field="state")
    if not (problem.workaround or "").strip():
        raise FieldError({"workaround": f"Write {problem.number}'s workaround first."})
    incidents = list(problem.incidents.select_related("ci").order_by("pk"))
    if cis is None:
        found = [problem.ci] if problem.ci_id else []
        found += [i.ci for i in incidents if i.ci_id]
        cis = found
    if not (symptoms or "").strip():
        # What the users reported is what the next user will report: the incidents' titles.
        reported = list(dict.fromkeys(i.title for i in incidents))
        symptoms = "\n".join(reported) if reported else problem.description
    return create_known_error(
        acting_user=acting_user,
        organization=problem.organization,
        title=(title or "").strip() or problem.title,
        workaround=problem.workaround,
        symptoms=symptoms,
        root_cause=problem.root_cause,
        state=state,
        problem=problem,
        cis=cis,
    )


@transaction.atomic
def update_known_error(*, acting_user: Any, known_error: KnownError, **changes: Any) -> KnownError:
    """Change a known error's text or CIs (``cis`` replaces the set)."""
    require(acting_user, KnownError, Action.CHANGE, known_error.organization_id)
    unknown = sorted(set(changes) - set(KNOWN_ERROR_FIELDS))
    if unknown:
        raise FieldError({name: "This field cannot be changed here." for name in unknown})
    if known_error.state in KNOWN_ERROR.final:
        raise Conflict(
            f"{known_error.number} is retired: it can no longer be changed.", field="state"
        )
    changed: dict[str, Any] = {}
    cis = changes.pop("cis", None)
    if cis is not None:
        cis = _check_cis(known_error.organization_id, cis)
        before_cis = sorted(known_error.cis.values_list("name", flat=True))
        after_cis = sorted(ci.name for ci in cis)
        if before_cis != after_cis:
            changed["cis"] = [before_cis, after_cis]
    values = {
        name: (value or "").strip() if name in ("title", "workaround") else value
        for name, value in changes.items()
    }
    _check_known_error(
        KnownError(
            title=values.get("title", known_error.title),
            workaround=values.get("workaround", known_error.workaround),
        )
    )
    for name, value in values.items():
        if getattr(known_error, name) != value:
            changed[name] = [getattr(known_error, name), value]
            setattr(known_error, name, value)
    if not changed:
        return known_error
    with acting_as(acting_user):
        save_validated(known_error)
        if "cis" in changed:
            known_error.cis.set(cis)
        timeline.record(
            known_error, ActivityKind.FIELD, actor=acting_user, data={"changes": changed}
        )
    return known_error


@transaction.atomic
def transition_known_error(
    *, acting_user: Any, known_error: KnownError, transition: str, reason: str = ""
) -> KnownError:
    """Publish a draft, or retire a known error (it is then no longer suggested)."""
    require(acting_user, KnownError, Action.CHANGE, known_error.organization_id)
    step = KNOWN_ERROR.check(known_error.state, transition, {"reason": reason})
    source = known_error.state
    known_error.state = step.target
    data: dict[str, Any] = {"from": source, "to": step.target, "transition": transition}
    with acting_as(acting_user):
        save_validated(known_error)
        timeline.record(known_error, ActivityKind.STATE, actor=acting_user, body=reason, data=data)
    return known_error


def retire_known_error(
    *, acting_user: Any, known_error: KnownError, reason: str = ""
) -> KnownError:
    return transition_known_error(
        acting_user=acting_user, known_error=known_error, transition="retire", reason=reason
    )


@transaction.atomic
def link_known_error(
    *, acting_user: Any, incident: Incident, known_error: KnownError, unlink: bool = False
) -> Incident:
    """Link an incident to a published known error (the incident's timeline shows it, and
    the requester sees it: the workaround helps them); the known error's timeline notes it."""
    require(acting_user, KnownError, Action.VIEW, known_error.organization_id)
    if not unlink and known_error.state != KnownErrorState.PUBLISHED:
        raise Conflict(
            f"{known_error.number} is {known_error.get_state_display().lower()}: only published "
            "known errors are linked to incidents.",
            field="known_error_id",
        )
    desk.link_incident(
        acting_user=acting_user, incident=incident, known_error=known_error, unlink=unlink
    )
    with acting_as(acting_user):
        timeline.record(
            known_error,
            ActivityKind.UNLINK if unlink else ActivityKind.LINK,
            actor=acting_user,
            data=_incident_ref(incident),
        )
    return incident
