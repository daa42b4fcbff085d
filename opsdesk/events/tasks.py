"""Periodic jobs of event management: resolving alert groups that have gone quiet.

A group whose alerts have all resolved stays open for its organisation's
``resolve_after_seconds`` (a flapping service should not open and resolve incidents every
minute); this job, run every `RESOLVE_EVERY` by one worker, resolves the groups whose quiet
period has passed and their incidents (`opsdesk.events.stages.incident.resolve_quiet_groups`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_tasks import task

from opsdesk.core import periodic
from opsdesk.core.models import Organization
from opsdesk.events.choices import EventStatus, GroupState
from opsdesk.events.models import Alert, AlertGroup
from opsdesk.events.stages.incident import resolve_quiet_groups

logger = logging.getLogger(__name__)

RESOLVE_EVERY = timedelta(seconds=30)


def resolve_quiet(now: datetime | None = None) -> int:
    """Resolve every quiet group, one organisation per transaction (holding the organisation's
    row lock, as the pipeline does, so a batch and this job never interleave on its groups).
    Returns how many groups resolved."""
    now = now or timezone.now()
    org_ids = sorted(
        set(
            AlertGroup.objects.filter(state=GroupState.OPEN)
            .exclude(
                pk__in=Alert.objects.filter(status=EventStatus.FIRING, group__isnull=False).values(
                    "group_id"
                )
            )
            .values_list("organization_id", flat=True)
        )
    )
    resolved = 0
    for org_id in org_ids:
        try:
            with transaction.atomic():
                Organization.objects.select_for_update(no_key=True).filter(pk=org_id).first()
                resolved += resolve_quiet_groups(organization_id=org_id, now=now)
        except Exception:  # one organisation's failure must not hold up the others
            logger.exception("resolving quiet alert groups of organisation %s failed", org_id)
    return resolved


@task(queue_name="periodic")
def resolve_quiet_groups_task() -> dict[str, Any]:
    """Resolve alert groups quiet for their resolve_after_seconds, and their incidents."""
    return {"resolved": resolve_quiet()}


periodic.register(resolve_quiet_groups_task, every=RESOLVE_EVERY)
