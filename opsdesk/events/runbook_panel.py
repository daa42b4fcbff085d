"""The incident page's "Runbook runs" panel: the self-healing runs on the alert groups that
feed the incident, with their state and reason, and Approve / Reject for a waiting run when
the viewer may decide. Registered with `opsdesk.servicedesk.panels.register_panel` when
imported (the runbooks stage module imports it at start-up)."""

from __future__ import annotations

from typing import Any

from opsdesk.core.permissions import Action, has_permission
from opsdesk.events import runbooks
from opsdesk.events.models import Runbook, RunbookRun
from opsdesk.servicedesk.models import Incident
from opsdesk.servicedesk.panels import Panel, register_panel

#: Runs shown on the incident (newest first).
SHOWN = 10


def runbook_runs_panel(user: Any, incident: Incident) -> Panel | None:
    if not has_permission(user, RunbookRun, Action.VIEW, incident.organization_id):
        return None
    runs = list(
        runbooks.runs_for(user)
        .filter(organization_id=incident.organization_id, group__incident=incident)
        .order_by("-requested_at", "-id")[:SHOWN]
    )
    if not runs:
        return None
    return Panel(
        title="Runbook runs",
        template="events/runbooks/_panel.html",
        context={
            "runs": runs,
            "incident": incident,
            "can_decide": has_permission(user, Runbook, Action.CHANGE, incident.organization_id),
        },
        order=35,
    )


register_panel(runbook_runs_panel)
