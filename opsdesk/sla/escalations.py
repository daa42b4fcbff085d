"""Escalations: what a definition does when one of its clocks crosses a threshold.

A definition lists them as ``[{"at": 75, "action": "notify", "to": "group_manager"},
{"at": 90, "action": "raise_priority"}, {"at": 100, "action": "reassign", "team": 3}]``.
The sweep (`opsdesk.sla.sweep`) performs those of a threshold once, when it records the
warning or breach, and only while the clock is still live (running, paused or waiting on
an open ticket). Each returns a plain dict that is stored in `ClockEvent.actions`.

- ``notify``: ``to`` is ``assignee``, ``group`` (every member), ``group_manager``,
  ``requester`` or ``user:<id>`` (or a list of them). Nothing is sent from here: the people
  are named in the SLA timeline entry (``data["notify_user_ids"]``) and the notify app
  mails them when that entry commits, like every other ticket notification.
- ``reassign``: to the team ``team`` (id), unassigning the person; the change is made by
  OpsDesk (no acting user, like the automatic close of resolved incidents), audited and on
  the timeline, so the new team is notified as for any assignment.
- ``raise_priority``: one step more urgent. Priority follows impact x urgency through the
  organisation's matrix, so urgency is raised by one level (impact once urgency is high)
  until the priority moves; audited and on the timeline as an SLA escalation.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from opsdesk.accounts.models import Membership, Team, User
from opsdesk.core.actions import save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError
from opsdesk.sla.choices import NOTIFY_TARGETS, EscalationAction

logger = logging.getLogger(__name__)

#: Who escalation changes are attributed to on the timeline.
SYSTEM_NAME = "OpsDesk"


def escalations_for(definition: Any, threshold: int) -> list[dict[str, Any]]:
    """The escalation steps of `definition` at `threshold` percent, in their order."""
    steps: list[dict[str, Any]] = []
    for step in definition.escalations or []:
        if not isinstance(step, dict):
            continue
        try:
            at = int(step.get("at", 0))
        except (TypeError, ValueError):
            continue
        if at == threshold and step.get("action") in EscalationAction.values:
            steps.append(step)
    return steps


def _targets(step: dict[str, Any]) -> list[str]:
    to = step.get("to") or []
    return [str(t) for t in (to if isinstance(to, list) else [to])]


def notify_recipients(incident: Any, step: dict[str, Any]) -> tuple[list[int], list[str]]:
    """(user ids, what could not be resolved) for a ``notify`` step on `incident`.

    Only active members of the incident's organisation are named.
    """
    ids: list[int] = []
    missing: list[str] = []
    group = incident.assignment_group
    for target in _targets(step):
        found: list[int] = []
        if target == "assignee":
            found = [incident.assignee_id] if incident.assignee_id else []
        elif target == "group":
            found = list(group.members.order_by("pk").values_list("pk", flat=True)) if group else []
        elif target == "group_manager":
            found = [group.manager_id] if group is not None and group.manager_id else []
        elif target == "requester":
            found = [incident.requester_id] if incident.requester_id else []
        elif target.startswith("user:") and target[5:].isdigit():
            found = [int(target[5:])]
        elif target not in NOTIFY_TARGETS:
            missing.append(f"{target}: unknown target")
            continue
        members = set(
            Membership.objects.filter(
                organization_id=incident.organization_id,
                user_id__in=found,
                user__is_active=True,
            ).values_list("user_id", flat=True)
        )
        kept = [pk for pk in found if pk in members]
        if not kept:
            missing.append(f"{target}: nobody")
        ids.extend(pk for pk in kept if pk not in ids)
    return ids, missing


def _escalation_data(event: Any, step: dict[str, Any]) -> dict[str, Any]:
    return {
        "definition": event.clock.definition.name,
        "metric": event.clock.metric,
        "kind": event.kind,
        "threshold": event.threshold,
        "clock_id": event.clock_id,
        "action": step.get("action"),
    }


def reassign(incident: Any, event: Any, step: dict[str, Any], now: Any = None) -> dict[str, Any]:
    """Route `incident` to the step's team as OpsDesk; a dict of what was done."""
    from opsdesk.servicedesk.actions import assign_incident

    done: dict[str, Any] = {"action": EscalationAction.REASSIGN, "team": step.get("team")}
    team_id = step.get("team")
    team = (
        Team.objects.filter(organization_id=incident.organization_id, pk=team_id).first()
        if str(team_id or "").isdigit()
        else None
    )
    if team is None:
        return {**done, "done": False, "reason": "No such team in this organisation."}
    done["team_name"] = team.name
    if incident.assignment_group_id == team.pk and incident.assignee_id is None:
        return {**done, "done": False, "reason": f"Already with {team.name}."}
    old_group, old_assignee = incident.assignment_group, incident.assignee
    assign_incident(
        acting_user=None,
        incident=incident,
        assignment_group=team,
        system=SYSTEM_NAME,
        body=f"Reassigned to {team.name} by SLA escalation ({event.clock.definition.name}, "
        f"{event.threshold} %).",
        extra={"sla_escalation": _escalation_data(event, step)},
        at=now,
    )
    return {
        **done,
        "done": True,
        "from_group": old_group.name if old_group else None,
        "from_assignee": str(old_assignee) if old_assignee else None,
    }


def raise_priority(
    incident: Any, event: Any, step: dict[str, Any], now: Any = None
) -> dict[str, Any]:
    """One priority step more urgent, as OpsDesk; a dict of what was done."""
    from opsdesk.servicedesk import timeline
    from opsdesk.servicedesk.choices import ActivityKind
    from opsdesk.servicedesk.models import ServiceDeskSettings

    done: dict[str, Any] = {"action": EscalationAction.RAISE_PRIORITY}
    old = {"impact": incident.impact, "urgency": incident.urgency, "priority": incident.priority}
    if incident.priority <= 1:
        return {**done, "done": False, "reason": "Already the highest priority."}
    settings = ServiceDeskSettings.for_org(incident.organization_id)
    impact, urgency = incident.impact, incident.urgency
    priority = incident.priority
    while priority >= incident.priority and (urgency > 1 or impact > 1):
        if urgency > 1:
            urgency -= 1
        else:
            impact -= 1
        priority = settings.priority_for(impact, urgency)
    if priority >= incident.priority:
        return {**done, "done": False, "reason": "The priority matrix has no higher priority."}
    incident.impact, incident.urgency, incident.priority = impact, urgency, priority
    changes: dict[str, list[Any]] = {
        name: [old[name], getattr(incident, name)]
        for name in ("impact", "urgency", "priority")
        if old[name] != getattr(incident, name)
    }
    with acting_as(None):
        save_validated(incident)
        timeline.record(
            incident,
            ActivityKind.FIELD,
            actor_name=SYSTEM_NAME,
            body=f"Priority raised from P{old['priority']} to P{priority} by SLA escalation "
            f"({event.clock.definition.name}, {event.threshold} %).",
            data={"changes": changes, "sla_escalation": _escalation_data(event, step)},
            at=now,
        )
    return {**done, "done": True, "from": old["priority"], "to": priority, "changes": changes}


PERFORMERS = {
    EscalationAction.REASSIGN: reassign,
    EscalationAction.RAISE_PRIORITY: raise_priority,
}


def perform(
    incident: Any, event: Any, steps: list[dict[str, Any]], now: Any = None
) -> list[dict[str, Any]]:
    """Perform the reassign and raise-priority steps; each in its own savepoint, so one
    that fails (a team deleted since) is recorded as not done and the others still run."""
    out: list[dict[str, Any]] = []
    for step in steps:
        performer = PERFORMERS.get(step.get("action"))
        if performer is None:
            continue
        try:
            with transaction.atomic():
                out.append(performer(incident, event, step, now))
        except (FieldError, Conflict) as exc:
            incident.refresh_from_db()
            errors = getattr(exc, "errors", None)
            reason = (
                "; ".join(f"{k}: {v}" for k, v in errors.items())
                if isinstance(errors, dict)
                else str(errors or "")
            )
            out.append(
                {"action": step.get("action"), "done": False, "reason": reason or exc.detail}
            )
        except Exception as exc:  # an escalation must never stop the sweep
            logger.exception("SLA escalation %s on %s failed", step, incident.pk)
            incident.refresh_from_db()
            out.append({"action": step.get("action"), "done": False, "reason": repr(exc)[:200]})
    return out


def describe_users(ids: list[int]) -> list[str]:
    names = dict(User.objects.filter(pk__in=ids).values_list("pk", "full_name"))
    return [names.get(pk) or str(pk) for pk in ids]
