"""Prometheus Alertmanager webhook (``version`` "4", and "3" which has no fingerprints).

One request carries a group of alerts, firing and resolved mixed; each alert becomes one
event. The alert's own ``fingerprint`` is the dedup key. Severity comes from the
``severity`` (else ``priority``) label through `common.LABEL_SEVERITY`; without one it is
``warning``. Labels map to OpenTelemetry resource attributes with `common.prometheus_resource`
(``instance`` → ``host.name``, ``namespace`` → ``k8s.namespace.name``, ``pod`` →
``k8s.pod.name``, ...). Grafana's unified alerting sends the same shape (see ``grafana.py``).
"""

from __future__ import annotations

from typing import Any

from opsdesk.events.choices import EventStatus, Severity, Source
from opsdesk.events.normal import NormalisedEvent
from opsdesk.events.sources import Parsed, PayloadError, SourceRequest, adapter
from opsdesk.events.sources.common import (
    LABEL_SEVERITY,
    array,
    first_text,
    load_json,
    obj,
    prometheus_resource,
    severity_of,
    string_map,
    text,
    timestamp,
)

MAX_ALERTS = 10_000
STATUSES = {"firing": EventStatus.FIRING, "resolved": EventStatus.RESOLVED}


def alert_event(
    alert: Any, where: str, *, source: str, default_status: str = ""
) -> NormalisedEvent:
    """One Alertmanager-shaped alert (also Grafana's) as a normalised event."""
    item = obj(alert, where)
    labels = string_map(item.get("labels"), f"{where}.labels")
    annotations = string_map(item.get("annotations"), f"{where}.annotations")
    raw_status = (
        text(item.get("status"), f"{where}.status").strip().lower() or default_status or "firing"
    )
    if raw_status not in STATUSES:
        raise PayloadError(f"{where}.status: one of firing, resolved (not {raw_status!r}).")
    status = STATUSES[raw_status]
    fingerprint = text(item.get("fingerprint"), f"{where}.fingerprint").strip()
    if len(fingerprint) > 64:
        raise PayloadError(f"{where}.fingerprint: at most 64 characters.")
    alertname = labels.get("alertname", "")
    title = first_text(annotations.get("summary"), annotations.get("title"), alertname)
    if not title:
        raise PayloadError(f"{where}.labels.alertname: is required (or annotations.summary).")
    description = first_text(annotations.get("description"), annotations.get("message"))
    severity = severity_of(
        labels.get("severity") or labels.get("priority"), LABEL_SEVERITY, Severity.WARNING
    )
    starts_at = timestamp(item.get("startsAt"), f"{where}.startsAt")
    ends_at = timestamp(item.get("endsAt"), f"{where}.endsAt")
    extra: dict[str, str] = {}
    for key in ("runbook_url", "dashboard_url"):
        if annotations.get(key):
            extra[key] = annotations[key]
    generator = text(item.get("generatorURL"), f"{where}.generatorURL")
    return NormalisedEvent(
        source=source,
        status=status,
        severity=severity,
        title=title,
        description=description,
        external_id=fingerprint,
        fingerprint=fingerprint,
        resource=prometheus_resource(labels),
        labels={**labels, **extra, **({"generator_url": generator} if generator else {})},
        starts_at=starts_at,
        # Alertmanager sends a future endsAt (its resolve timeout) on firing alerts.
        ends_at=ends_at if status == EventStatus.RESOLVED else None,
    )


def alerts_from(data: Any, source: str) -> list[NormalisedEvent]:
    body = obj(data, "body")
    if "alerts" not in body:
        raise PayloadError("alerts: is required (an Alertmanager webhook carries alerts).")
    alerts = array(body["alerts"], "alerts")
    if len(alerts) > MAX_ALERTS:
        raise PayloadError(f"alerts: at most {MAX_ALERTS} per request.")
    group_status = text(body.get("status"), "status").strip().lower()
    return [
        alert_event(
            alert,
            f"alerts[{i}]",
            source=source,
            default_status=group_status if group_status in STATUSES else "",
        )
        for i, alert in enumerate(alerts)
    ]


@adapter(Source.ALERTMANAGER)
def parse(request: SourceRequest) -> Parsed:
    data = load_json(request.body)
    body = obj(data, "body")
    version = text(body.get("version"), "version")
    if version and version not in ("3", "4"):
        raise PayloadError(f"version: webhook version {version!r}; 3 and 4 are understood.")
    return Parsed(alerts_from(body, Source.ALERTMANAGER))
