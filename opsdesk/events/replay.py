"""Replay a recorded event stream through the real adapters and the inbox, and export one.

A recording is JSON lines. Two shapes are accepted, mixed freely:

* ``{"at": ISO 8601, "source": "alertmanager", "body": {...} | "raw text",
  "headers": {...}?, "content_type": "..."?}`` — what a monitoring tool sent and when;
* a line of `export` (``opsdesk events export``): the inbox entry's ``received_at`` as
  ``at``, its ``source``, the raw ``body`` as text and, when the raw body was cut at the
  inbox's size limit, the normalised ``events`` instead (stored as they are).

Relative timing is kept, divided by ``speed`` (``speed=0``: as fast as possible). Each line
goes through its source's adapter (`opsdesk.events.sources.parse`) and is stored with
`opsdesk.events.inbox.store` and dispatched like an intake request, so the workers process
it as they would live traffic. Signatures are not checked (the operator replays a file it
holds); a line the adapter rejects is counted and reported with its line number.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from opsdesk.core.errors import FieldError
from opsdesk.core.models import Organization
from opsdesk.events import transport
from opsdesk.events.choices import Source
from opsdesk.events.inbox import store
from opsdesk.events.models import EventIntegration, InboxEntry
from opsdesk.events.normal import NormalisedEvent
from opsdesk.events.sources import PayloadError, SourceRequest, parse


@dataclass
class Record:
    line: int
    at: datetime | None
    source: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    events: list[dict[str, Any]] | None = None


@dataclass
class ReplayResult:
    records: int = 0
    requests: int = 0
    events: int = 0
    rejected: list[str] = field(default_factory=list)
    inbox_ids: list[int] = field(default_factory=list)


def read(lines: Iterable[str]) -> Iterator[Record]:
    """Parse a recording; raises `FieldError` naming the line of a malformed one."""
    for number, raw in enumerate(lines, 1):
        text = raw.strip()
        if not text:
            continue
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise FieldError({"file": f"line {number}: not JSON ({exc})."}) from None
        if not isinstance(data, dict):
            raise FieldError({"file": f"line {number}: expected an object."})
        source = data.get("source")
        if source not in Source.values:
            raise FieldError(
                {"source": f"line {number}: one of {', '.join(Source.values)}, not {source!r}."}
            )
        at = None
        if data.get("at"):
            at = parse_datetime(str(data["at"]))
            if at is None:
                raise FieldError({"at": f"line {number}: not an ISO 8601 time: {data['at']!r}."})
            if timezone.is_naive(at):
                at = at.replace(tzinfo=UTC)
        body = data.get("body")
        events = data.get("events") if data.get("truncated") else None
        if body is None and events is None:
            raise FieldError({"body": f"line {number}: body is required."})
        if isinstance(body, str):
            payload = body.encode()
        elif body is not None:
            payload = json.dumps(body).encode()
        else:
            payload = b""
        headers = data.get("headers") or {}
        if not isinstance(headers, dict):
            raise FieldError({"headers": f"line {number}: must be an object."})
        yield Record(
            line=number,
            at=at,
            source=source,
            body=payload,
            headers={str(k).lower(): str(v) for k, v in headers.items()},
            content_type=str(data.get("content_type") or "application/json"),
            events=events if isinstance(events, list) else None,
        )


def find_integration(organization: Organization, source: str, name: str | None) -> EventIntegration:
    qs = EventIntegration.objects.filter(organization=organization)
    if name:
        found = qs.filter(name=name).first()
        if found is None:
            raise FieldError({"integration": f"No integration named {name!r} in {organization}."})
        return found
    found = qs.filter(source=source, is_active=True).order_by("name").first()
    if found is None:
        raise FieldError(
            {"integration": f"{organization} has no active {source} integration; pass one."}
        )
    return found


def submit(integration: EventIntegration, record: Record) -> tuple[InboxEntry | None, int]:
    """One recorded request through the adapter (or its stored events) into the inbox."""
    if record.events is not None:
        events = [NormalisedEvent.from_json(e) for e in record.events]
        for e in events:
            e.received_at = None
    else:
        events = parse(
            record.source,
            SourceRequest(
                body=record.body,
                headers=record.headers,
                options=integration.options or {},
                secret=integration.secret,
            ),
        ).events
    if not events:
        return None, 0
    with transaction.atomic():
        entry = store(
            organization_id=integration.organization_id,
            source=record.source,
            events=events,
            body=record.body,
            content_type=record.content_type,
            integration=integration,
            transport=transport.name(),
        )
        transaction.on_commit(lambda: transport.dispatch(entry))
    return entry, len(events)


def replay(
    records: Iterable[Record],
    *,
    organization: Organization,
    integration_name: str | None = None,
    speed: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Send each record at its recorded offset divided by ``speed`` (0: no waiting)."""
    if speed < 0:
        raise FieldError({"speed": "must be 0 (as fast as possible) or more."})
    result = ReplayResult()
    integrations: dict[str, EventIntegration] = {}
    first_at: datetime | None = None
    started = clock()
    for record in records:
        result.records += 1
        if speed > 0 and record.at is not None:
            if first_at is None:
                first_at = record.at
            due = started + (record.at - first_at).total_seconds() / speed
            wait = due - clock()
            if wait > 0:
                sleep(wait)
        key = integration_name or record.source
        if key not in integrations:
            integrations[key] = find_integration(organization, record.source, integration_name)
        integration = integrations[key]
        if integration_name and integration.source != record.source:
            raise FieldError(
                {
                    "integration": f"line {record.line}: {integration.name} takes "
                    f"{integration.source} events, not {record.source}."
                }
            )
        try:
            entry, count = submit(integration, record)
        except PayloadError as exc:
            result.rejected.append(f"line {record.line}: {exc}")
        else:
            if entry is not None:
                result.requests += 1
                result.events += count
                result.inbox_ids.append(entry.pk)
        if progress is not None:
            progress(1)
    return result


def export(
    out: IO[str],
    *,
    organization: Organization,
    since: datetime | None = None,
    until: datetime | None = None,
    source: str | None = None,
) -> int:
    """Write the organisation's inbox entries as a replayable recording; returns lines."""
    qs = InboxEntry.objects.filter(organization=organization).order_by("received_at", "id")
    if since is not None:
        qs = qs.filter(received_at__gte=since)
    if until is not None:
        qs = qs.filter(received_at__lt=until)
    if source:
        qs = qs.filter(source=source)
    written = 0
    for entry in qs.iterator(chunk_size=500):
        line: dict[str, Any] = {
            "at": entry.received_at.isoformat(),
            "source": entry.source,
            "content_type": entry.content_type,
            "inbox_id": entry.pk,
            "body": entry.raw,
        }
        if entry.raw_truncated:
            line["truncated"] = True
            line["events"] = entry.events
        out.write(json.dumps(line, separators=(",", ":")) + "\n")
        written += 1
    return written


def count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for raw in fh if raw.strip())
