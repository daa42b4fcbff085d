"""Keep clocks current: every timeline entry that can move a clock recomputes the ticket's
clocks once the change has committed."""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from opsdesk.servicedesk.timeline import activity_recorded

logger = logging.getLogger(__name__)


@receiver(activity_recorded, dispatch_uid="sla_recompute_on_activity")
def recompute_on_activity(sender: Any, activity: Any, **kwargs: Any) -> None:
    from opsdesk.servicedesk.models import Incident
    from opsdesk.sla.clocks import CLOCK_KINDS, incidents_for_recompute, recompute_incidents

    if activity.subject_type != "incident" or activity.kind not in CLOCK_KINDS:
        return
    try:
        incidents = incidents_for_recompute(Incident.objects.filter(pk=activity.subject_id))
        recompute_incidents(incidents)
    except Exception:  # a clock must never break the change that moved it
        logger.exception("recomputing the clocks of incident %s failed", activity.subject_id)
