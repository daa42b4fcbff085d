"""Test-only helpers for the correlate and root-cause stages: batches whose items already
carry saved alerts (as dedup and bind would leave them), so those stages run on their own."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.events import pipeline
from opsdesk.events.models import Alert, CorrelationSettings
from opsdesk.events.normal import NormalisedEvent

T0 = timezone.now().replace(microsecond=0) - timedelta(hours=1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def alert_batch(
    org: Any,
    specs: list[dict[str, Any]],
    now: datetime | None = None,
    **settings: Any,
) -> pipeline.Batch:
    """A batch with one item per spec: ``{"title", "ci": ConfigurationItem | None, "t":
    seconds after T0, "status", "severity", "labels", "fingerprint", "flapping",
    "suppressed"}``. The alert of each fingerprint is created (or updated) like dedup does."""
    conf = CorrelationSettings.for_org(org.pk)
    for key, value in settings.items():
        setattr(conf, key, value)
    items = []
    for spec in specs:
        title = spec.get("title", "CPU high")
        ci: ConfigurationItem | None = spec.get("ci")
        start = at(spec.get("t", 0))
        status = spec.get("status", "firing")
        severity = spec.get("severity", "major")
        fp = (
            spec.get("fingerprint")
            or hashlib.sha1(
                f"{title}|{ci.pk if ci else ''}".encode(), usedforsecurity=False
            ).hexdigest()
        )
        event = NormalisedEvent(
            source="generic",
            status=status,
            severity=severity,
            title=title,
            labels=spec.get("labels", {}),
            resource={"host.name": ci.name} if ci else {},
            starts_at=start,
            received_at=start,
        )
        alert, created = Alert.objects.update_or_create(
            organization_id=org.pk,
            fingerprint=fp,
            defaults={
                "source": "generic",
                "status": status,
                "severity": severity,
                "title": title,
                "normalised_text": spec.get("text", ""),
                "labels": event.labels,
                "resource": event.resource,
                "starts_at": start,
                "first_seen": start,
                "last_seen": start,
                "ci": ci,
                "flapping": spec.get("flapping", False),
            },
        )
        items.append(
            pipeline.Item(
                event=event,
                inbox_id=None,
                alert=alert,
                created=created,
                status_changed=True,
                suppressed_by=spec.get("suppressed", ""),
            )
        )
    return pipeline.Batch(
        organization_id=org.pk, items=items, settings=conf, now=now or timezone.now()
    )


def correlate(batch: pipeline.Batch) -> pipeline.Batch:
    return pipeline.run(batch, only=("correlate",))


def correlate_and_rank(batch: pipeline.Batch) -> pipeline.Batch:
    return pipeline.run(batch, only=("correlate", "root_cause"))
