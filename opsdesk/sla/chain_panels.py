"""Incident-page panel "Where the time went": shown when an SLA clock of the ticket is
breached or over 75 % used, it splits the clock's time by team and supplier and names the
segment that overran its own OLA or UC (`opsdesk.sla.chain.attribute`)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from opsdesk.core.permissions import Action, has_permission
from opsdesk.servicedesk.models import Incident
from opsdesk.servicedesk.panels import Panel, register_panel
from opsdesk.sla.chain import PANEL_THRESHOLD, attribute
from opsdesk.sla.choices import Kind
from opsdesk.sla.models import Clock


def _worth_showing(incident: Incident, now: Any) -> bool:
    """From the stored clocks (cheap): is any SLA clock breached or past the threshold?"""
    for clock in Clock.objects.filter(
        subject_type="incident", subject_id=incident.pk, kind=Kind.SLA
    ):
        if clock.breached:
            return True
        if clock.target_seconds:
            used = clock.target_seconds - clock.remaining_seconds(now)
            if 100.0 * used / clock.target_seconds >= PANEL_THRESHOLD:
                return True
    return False


def where_the_time_went_panel(user: Any, incident: Incident) -> Panel | None:
    if not has_permission(user, Clock, Action.VIEW, incident.organization_id):
        return None  # requesters see their SLA on the ticket, not who consumed it
    now = timezone.now()
    if not _worth_showing(incident, now):
        return None
    found = attribute(incident, now=now, threshold=PANEL_THRESHOLD)
    if not found.clocks:
        return None
    from opsdesk.sla.views_chain import shares_chart

    return Panel(
        title="Where the time went",
        template="sla/chain/_panel.html",
        context={
            "attribution": found,
            "clocks": [(c, shares_chart(c)) for c in found.clocks],
            "incident": incident,
            "service_key": str(incident.service_id) if incident.service_id else "",
        },
        order=40,
    )


register_panel(where_the_time_went_panel)
