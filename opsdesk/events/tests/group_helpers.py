"""Alerts and alert groups made directly (as the correlate stage would leave them), for tests
of the incident stage, the operators' group actions, the metrics and the groups API."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from opsdesk.events import pipeline
from opsdesk.events.models import Alert, AlertEvent, AlertGroup, CorrelationSettings
from opsdesk.events.normal import NormalisedEvent

_seq = itertools.count(1)


def alert(
    org: Any,
    title: str = "CPU high on web-01",
    *,
    group: AlertGroup | None = None,
    status: str = "firing",
    severity: str = "major",
    ci: Any = None,
    at: datetime | None = None,
    count: int = 1,
    **fields: Any,
) -> Alert:
    at = at or timezone.now()
    made = Alert.objects.create(
        organization_id=org.pk,
        source=fields.pop("source", "generic"),
        fingerprint=fields.pop("fingerprint", f"fp-{next(_seq)}"),
        status=status,
        severity=severity,
        title=title,
        starts_at=at,
        first_seen=at,
        last_seen=fields.pop("last_seen", at),
        count=count,
        ci=ci,
        group=group,
        **fields,
    )
    AlertEvent.objects.create(
        organization_id=org.pk,
        alert=made,
        group=group,
        at=at,
        status=status,
        severity=severity,
        kind="fired" if status == "firing" else "resolved",
        count=count,
    )
    return made


def group(
    org: Any,
    *alerts: dict[str, Any],
    service: Any = None,
    at: datetime | None = None,
    **fields: Any,
) -> AlertGroup:
    """A group with alerts (each a dict of `alert` keyword arguments), counts filled in."""
    from opsdesk.events.group_actions import recount

    at = at or timezone.now()
    made = AlertGroup.objects.create(
        organization_id=org.pk,
        title=fields.pop("title", "Alert group"),
        service=service,
        onset_at=at,
        last_event_at=at,
        **fields,
    )
    for spec in alerts or ({},):
        spec = dict(spec)
        spec.setdefault("at", at)
        alert(org, spec.pop("title", "CPU high on web-01"), group=made, **spec)
    return recount(made)


def batch_for(
    org: Any,
    *,
    opened: tuple[AlertGroup, ...] = (),
    touched: tuple[AlertGroup, ...] = (),
    resolved: tuple[AlertGroup, ...] = (),
    new_alerts: tuple[Alert, ...] = (),
    now: datetime | None = None,
    **settings: Any,
) -> pipeline.Batch:
    """A batch as correlate leaves it: the groups it opened, touched and resolved, and items
    for the alerts that fired in it."""
    conf = CorrelationSettings.for_org(org.pk)
    for key, value in settings.items():
        setattr(conf, key, value)
    now = now or timezone.now()
    items = [
        pipeline.Item(
            event=NormalisedEvent(
                source="generic", title=a.title, status=a.status, severity=a.severity
            ),
            inbox_id=None,
            alert=a,
            created=True,
            status_changed=True,
        )
        for a in new_alerts
    ]
    return pipeline.Batch(
        organization_id=org.pk,
        items=items,
        settings=conf,
        now=now,
        groups_opened={g.pk for g in opened},
        groups_touched={g.pk for g in (*opened, *touched)},
        groups_resolved={g.pk for g in resolved},
    )


def ago(**kw: float) -> datetime:
    return timezone.now() - timedelta(**kw)
