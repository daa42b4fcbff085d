"""OpsDesk's own documented JSON (the door for ScienceLogic, Motadata, Seceon, Resolve and
in-house tools): one event object, or ``{"events": [...]}``. Fields:

``status`` (firing | resolved, default firing), ``severity`` (critical | major | minor |
warning | info, default warning), ``title`` (required), ``description``, ``external_id``,
``fingerprint`` (your own dedup key; else OpsDesk computes one), ``resource`` (OpenTelemetry
attribute names: ``host.name``, ``service.name``, ``cloud.resource_id``, ``k8s.pod.uid``,
...), ``labels`` (string values), ``starts_at`` / ``ends_at`` (ISO 8601 or epoch seconds).
See docs/events.md.
"""

from __future__ import annotations

from typing import Any

from opsdesk.events.choices import EventStatus, Severity, Source
from opsdesk.events.normal import NormalisedEvent
from opsdesk.events.sources import Parsed, PayloadError, SourceRequest, adapter
from opsdesk.events.sources.common import array, load_json, obj, string_map, text, timestamp

KNOWN = {
    "status",
    "severity",
    "title",
    "description",
    "external_id",
    "fingerprint",
    "resource",
    "labels",
    "starts_at",
    "ends_at",
}
MAX_EVENTS = 10_000


def event_from(data: Any, where: str) -> NormalisedEvent:
    item = obj(data, where)
    unknown = sorted(set(item) - KNOWN)
    if unknown:
        raise PayloadError(
            f"{where}.{unknown[0]}: unknown field; known: {', '.join(sorted(KNOWN))}."
        )
    status = text(item.get("status"), f"{where}.status") or EventStatus.FIRING
    if status not in EventStatus.values:
        raise PayloadError(f"{where}.status: one of {', '.join(EventStatus.values)}.")
    severity = text(item.get("severity"), f"{where}.severity") or Severity.WARNING
    if severity not in Severity.values:
        raise PayloadError(f"{where}.severity: one of {', '.join(Severity.values)}.")
    fingerprint = text(item.get("fingerprint"), f"{where}.fingerprint")
    if len(fingerprint) > 64:
        raise PayloadError(f"{where}.fingerprint: at most 64 characters.")
    return NormalisedEvent(
        source=Source.GENERIC,
        status=status,
        severity=severity,
        title=text(item.get("title"), f"{where}.title", required=True),
        description=text(item.get("description"), f"{where}.description"),
        external_id=text(item.get("external_id"), f"{where}.external_id"),
        fingerprint=fingerprint,
        resource=string_map(item.get("resource"), f"{where}.resource"),
        labels=string_map(item.get("labels"), f"{where}.labels"),
        starts_at=timestamp(item.get("starts_at"), f"{where}.starts_at"),
        ends_at=timestamp(item.get("ends_at"), f"{where}.ends_at"),
    )


@adapter(Source.GENERIC)
def parse(request: SourceRequest) -> Parsed:
    data = load_json(request.body)
    if isinstance(data, dict) and "events" in data:
        items = array(data["events"], "events")
        if len(items) > MAX_EVENTS:
            raise PayloadError(f"events: at most {MAX_EVENTS} per request.")
        return Parsed([event_from(item, f"events[{i}]") for i, item in enumerate(items)])
    return Parsed([event_from(data, "event")])
