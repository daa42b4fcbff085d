"""Shared helpers for event tests: integrations, posting, building batches."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from django.utils import timezone

from opsdesk.events import pipeline
from opsdesk.events.integrations import create_integration
from opsdesk.events.models import CorrelationSettings, EventIntegration
from opsdesk.events.normal import NormalisedEvent

#: The real sample payloads, copied unchanged from the brief's shared/data/payloads (see
#: fixtures/payloads/README.md for where each comes from): the suite runs from any checkout.
PAYLOADS = Path(__file__).resolve().parent / "fixtures" / "payloads"


def payload(path: str) -> bytes:
    return (PAYLOADS / path).read_bytes()


def integration(
    org: Any, source: str = "generic", name: str | None = None, **kw: Any
) -> tuple[EventIntegration, str, str]:
    return create_integration(
        acting_user=None,
        organization=org,
        name=name or source,
        source=source,
        system="tests",
        **kw,
    )


def post(
    client: Any, source: str, body: bytes | dict | list, token: str | None, **headers: Any
) -> Any:
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    if token:
        headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {token}")
    headers.setdefault("content_type", "application/json")
    return client.post(f"/api/v1/events/{source}", data=body, **headers)


def event(title: str = "CPU high on web-01", **kw: Any) -> NormalisedEvent:
    kw.setdefault("source", "generic")
    kw.setdefault("status", "firing")
    kw.setdefault("severity", "major")
    return NormalisedEvent(title=title, **kw)


def batch(
    org: Any, events: list[NormalisedEvent], now: datetime | None = None, **settings: Any
) -> pipeline.Batch:
    """A batch as a worker would build it, for running stages on their own."""
    conf = CorrelationSettings.for_org(org.pk)
    for key, value in settings.items():
        setattr(conf, key, value)
    now = now or timezone.now()
    for e in events:
        e.received_at = e.received_at or now
        e.starts_at = e.starts_at or now
    return pipeline.Batch(
        organization_id=org.pk,
        items=[pipeline.Item(event=e, inbox_id=None) for e in events],
        settings=conf,
        now=now,
    )
