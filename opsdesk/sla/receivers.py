"""Keep clocks current: every timeline entry that can move a clock recomputes the ticket's
clocks once the change has committed. The entries of one transaction are handled together:
each ticket they moved is recomputed once, all of them in one pass."""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from opsdesk.servicedesk.timeline import activities_recorded, activity_recorded

logger = logging.getLogger(__name__)


def _moved(activities: list[Any]) -> list[int]:
    """The incidents whose clocks these entries can move, each once, in order."""
    from opsdesk.sla.clocks import CLOCK_KINDS

    ids: dict[int, None] = {}
    for activity in activities:
        if activity.subject_type == "incident" and activity.kind in CLOCK_KINDS:
            ids[activity.subject_id] = None
    return list(ids)


def recompute(incident_ids: list[int]) -> None:
    """Recompute the clocks of these incidents; a failure is logged, never raised (a clock
    must never break the change that moved it). One pass for all of them; if it fails,
    each on its own, so one bad ticket does not keep the others' clocks still."""
    from opsdesk.servicedesk.models import Incident
    from opsdesk.sla.clocks import incidents_for_recompute, recompute_incidents

    if not incident_ids:
        return
    try:
        recompute_incidents(incidents_for_recompute(Incident.objects.filter(pk__in=incident_ids)))
        return
    except Exception:
        if len(incident_ids) == 1:
            logger.exception("recomputing the clocks of incident %s failed", incident_ids[0])
            return
    for pk in incident_ids:
        try:
            recompute_incidents(incidents_for_recompute(Incident.objects.filter(pk=pk)))
        except Exception:
            logger.exception("recomputing the clocks of incident %s failed", pk)


@receiver(activities_recorded, dispatch_uid="sla_recompute_on_activities")
def recompute_on_activities(sender: Any, activities: list[Any], **kwargs: Any) -> None:
    recompute(_moved(activities))


@receiver(activity_recorded, dispatch_uid="sla_recompute_on_activity")
def recompute_on_activity(sender: Any, activity: Any, batched: bool = False, **kwargs: Any) -> None:
    if not batched:  # `recompute_on_activities` had it with the others of its transaction
        recompute(_moved([activity]))
