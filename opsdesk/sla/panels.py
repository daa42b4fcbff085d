"""Incident-page panel: the ticket's clocks (registered when `SlaConfig.ready` imports this).

Requesters get no panel: they work in the portal and clocks are not in their role."""

from __future__ import annotations

from typing import Any

from opsdesk.servicedesk.panels import Panel, register_panel
from opsdesk.sla import selectors


def clock_panel(user: Any, incident: Any) -> Panel | None:
    if not selectors.can_see_clocks(user, incident.organization_id):
        return None
    from opsdesk.sla.views_clocks import panel_context

    context = panel_context(user, incident)
    if not context["clocks"]:
        return None
    return Panel("Service levels", "sla/_panel.html", context, order=10)


register_panel(clock_panel)
