"""The incident page's "Alert group" panel: the groups that feed the incident, their counts,
the top three root-cause candidates with their evidence, and the latest events.

Registered with `opsdesk.servicedesk.panels.register_panel` when this module is imported
(`opsdesk.events.apps.EventsConfig.ready` imports it)."""

from __future__ import annotations

from typing import Any

from django.urls import NoReverseMatch, reverse

from opsdesk.core.permissions import Action, has_permission
from opsdesk.events import selectors
from opsdesk.events.models import AlertGroup
from opsdesk.servicedesk.models import Incident
from opsdesk.servicedesk.panels import Panel, register_panel

#: Root-cause candidates and events shown per group.
TOP_CAUSES = 3
RECENT_EVENTS = 8


def group_url(group: AlertGroup) -> str:
    """The group page (owned by the events pages; its plain path if the name is unknown)."""
    try:
        return reverse("events-group", args=[group.pk])
    except NoReverseMatch:
        return f"/events/groups/{group.pk}/"


def panel_context(user: Any, incident: Incident) -> dict[str, Any]:
    rows = []
    for group in selectors.groups_of_incident(user, incident):
        causes = [c for c in (group.root_causes or []) if isinstance(c, dict)][:TOP_CAUSES]
        rows.append(
            {
                "group": group,
                "url": group_url(group),
                "causes": [
                    {
                        "ci": c.get("ci") or "",
                        "ci_class": c.get("ci_class") or "",
                        "score": c.get("score"),
                        "evidence": [str(e) for e in (c.get("evidence") or [])][:6],
                        "change": c.get("change") or "",
                        "change_id": c.get("change_id"),
                    }
                    for c in causes
                ],
                "events": list(reversed(selectors.group_events(group, limit=RECENT_EVENTS))),
            }
        )
    return {"incident": incident, "groups": rows}


def alert_group_panel(user: Any, incident: Incident) -> Panel | None:
    if not has_permission(user, AlertGroup, Action.VIEW, incident.organization_id):
        return None  # requesters: the monitoring behind an incident is IT's business
    context = panel_context(user, incident)
    if not context["groups"]:
        return None
    return Panel(
        title="Alert group" if len(context["groups"]) == 1 else "Alert groups",
        template="events/panels/alert_group.html",
        context=context,
        order=30,
    )


register_panel(alert_group_panel)
