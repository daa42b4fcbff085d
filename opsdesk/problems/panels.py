"""The "Known errors" side panel of the incident page: the problem the incident is linked
to, its known error, and the published known errors suggested for it."""

from __future__ import annotations

from typing import Any

from opsdesk.core.permissions import Action, has_permission
from opsdesk.problems.models import KnownError, Problem
from opsdesk.problems.selectors import suggested_known_errors
from opsdesk.servicedesk.choices import OPEN_STATES
from opsdesk.servicedesk.models import Incident
from opsdesk.servicedesk.panels import Panel


def known_error_panel(user: Any, incident: Incident) -> Panel | None:
    org = incident.organization_id
    if not has_permission(user, KnownError, Action.VIEW, org):
        return None  # requesters: problems and known errors are IT's business
    problem = None
    if incident.problem_id is not None:
        problem = Problem.objects.restrict(user, Action.VIEW).filter(pk=incident.problem_id).first()
    known_error = None
    if incident.known_error_id is not None:
        known_error = (
            KnownError.objects.restrict(user, Action.VIEW)
            .filter(pk=incident.known_error_id)
            .first()
        )
    suggestions = [
        s
        for s in suggested_known_errors(user, incident)
        if s.known_error.pk != incident.known_error_id
    ]
    can_link = incident.state in OPEN_STATES and has_permission(user, Incident, Action.CHANGE, org)
    context: dict[str, Any] = {
        "incident": incident,
        "linked_problem": problem,
        "linked_known_error": known_error,
        "suggestions": suggestions,
        "can_link": can_link,
        "can_raise_problem": has_permission(user, Problem, Action.ADD, org),
    }
    # The template reads ``panel.context`` when included from the incident page, or this
    # self-reference when the context is rendered on its own.
    context["known_errors_panel"] = context
    return Panel(
        title="Problem and known errors",
        template="problems/panels/known_errors.html",
        context=context,
        order=40,
    )
