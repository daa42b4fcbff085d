"""Recompute the open clocks of an organisation after a calendar or definition changed,
and record what moved: a `Recompute` row (why, who, how many, which due times) and, on
each ticket whose due time moved, a timeline entry saying why."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from opsdesk.servicedesk.choices import OPEN_STATES
from opsdesk.sla.clocks import incidents_for_recompute, recompute_incidents
from opsdesk.sla.models import Recompute

#: Tickets recomputed per batch.
BATCH = 500


def recompute_open(
    *,
    organization_id: int,
    reason: str,
    actor: Any = None,
    obj: Any = None,
    now: Any = None,
) -> Recompute:
    """Replay every open incident's clocks in the organisation; record the moves."""
    from opsdesk.servicedesk import timeline
    from opsdesk.servicedesk.choices import ActivityKind
    from opsdesk.servicedesk.models import Incident

    now = now or timezone.now()
    base = Incident.objects.filter(organization_id=organization_id, state__in=OPEN_STATES)
    ids = list(base.order_by("pk").values_list("pk", flat=True))
    log = Recompute(
        organization_id=organization_id,
        at=now,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        reason=reason[:300],
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
    )
    details: list[dict[str, Any]] = []
    for start in range(0, len(ids), BATCH):
        chunk = list(
            incidents_for_recompute(Incident.objects.filter(pk__in=ids[start : start + BATCH]))
        )
        by_id = {i.pk: i for i in chunk}
        summary = recompute_incidents(chunk, now=now)
        log.tickets += summary.tickets
        log.clocks += summary.clocks
        log.changed += len(summary.moved)
        with transaction.atomic():
            for moved in summary.moved:
                details.append(moved.as_dict())
                before = moved.before.isoformat(timespec="minutes") if moved.before else "none"
                after = moved.after.isoformat(timespec="minutes") if moved.after else "none"
                timeline.record(
                    by_id[moved.subject_id],
                    ActivityKind.SLA,
                    actor_name="OpsDesk",
                    body=f"{moved.definition} ({moved.metric}) due time moved from {before} "
                    f"to {after}: {reason}",
                    data={
                        "event": "recomputed",
                        "definition": moved.definition,
                        "metric": moved.metric,
                        "from": moved.before.isoformat() if moved.before else None,
                        "to": moved.after.isoformat() if moved.after else None,
                        "reason": reason,
                    },
                    at=now,
                )
    log.details = details[:1000]
    log.save()
    return log
