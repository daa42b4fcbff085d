"""Grafana: the unified-alerting webhook (Grafana 8+, 9, 10, 11: Alertmanager's shape plus
``values``, ``valueString``, ``dashboardURL``, ``orgId``), the legacy dashboard-alert webhook
(Grafana 7 and earlier: ``ruleName``, ``state``, ``evalMatches``) and the Grafana OnCall
outgoing webhook (``event`` + ``alert_group``).

Unified alerts keep their own ``fingerprint``; severity comes from the ``severity`` (else
``priority``) label, default ``warning``. Legacy alerts: ``state`` alerting → firing (the
``severity`` tag, else ``major``), ``no_data`` → firing ``warning``, ``ok`` → resolved;
``paused`` and ``pending`` are not events (nothing is stored). OnCall: ``alert_group.state``
resolved (or ``event.type`` resolve) → resolved, else firing; its ``alert_payload`` labels
give the severity and resource.
"""

from __future__ import annotations

from typing import Any

from opsdesk.events.choices import EventStatus, Severity, Source
from opsdesk.events.normal import NormalisedEvent
from opsdesk.events.sources import Parsed, PayloadError, SourceRequest, adapter
from opsdesk.events.sources.alertmanager import alerts_from
from opsdesk.events.sources.common import (
    LABEL_SEVERITY,
    first_text,
    load_json,
    obj,
    optional_array,
    optional_obj,
    prometheus_resource,
    severity_of,
    source_key,
    string_map,
    text,
    timestamp,
)

LEGACY_STATES = {
    "alerting": (EventStatus.FIRING, None),
    "no_data": (EventStatus.FIRING, Severity.WARNING),
    "ok": (EventStatus.RESOLVED, None),
}
LEGACY_IGNORED = ("paused", "pending")


def legacy_event(body: dict[str, Any]) -> list[NormalisedEvent]:
    state = text(body.get("state"), "state", required=True).strip().lower()
    if state in LEGACY_IGNORED:
        return []
    if state not in LEGACY_STATES:
        raise PayloadError(
            f"state: one of {', '.join([*LEGACY_STATES, *LEGACY_IGNORED])} (not {state!r})."
        )
    status, forced = LEGACY_STATES[state]
    tags = string_map(body.get("tags"), "tags")
    matches = optional_array(body.get("evalMatches"), "evalMatches")
    metrics = []
    for i, match in enumerate(matches):
        m = obj(match, f"evalMatches[{i}]")
        metric = text(m.get("metric"), f"evalMatches[{i}].metric")
        value = text(m.get("value"), f"evalMatches[{i}].value")
        metrics.append(f"{metric}={value}" if metric else value)
        tags.update({k: v for k, v in string_map(m.get("tags"), f"evalMatches[{i}].tags").items()})
    title = first_text(body.get("ruleName"), body.get("title"))
    if not title:
        raise PayloadError("ruleName: is required.")
    description = text(body.get("message"), "message")
    if metrics:
        description = "\n".join(filter(None, [description, "Values: " + ", ".join(metrics)]))
    rule_id = text(body.get("ruleId"), "ruleId")
    labels = {**tags, "grafana_rule": title}
    if rule_id:
        labels["grafana_rule_id"] = rule_id
    if body.get("ruleUrl"):
        labels["rule_url"] = text(body.get("ruleUrl"), "ruleUrl")
    return [
        NormalisedEvent(
            source=Source.GRAFANA,
            status=status,
            severity=forced or severity_of(tags.get("severity"), LABEL_SEVERITY, Severity.MAJOR),
            title=title,
            description=description,
            external_id=rule_id,
            # The rule id is Grafana's own identity of a legacy alert (one state per rule).
            fingerprint=source_key("grafana-rule", text(body.get("orgId"), "orgId"), rule_id)
            if rule_id
            else "",
            resource=prometheus_resource(tags),
            labels=labels,
        )
    ]


def oncall_event(body: dict[str, Any]) -> list[NormalisedEvent]:
    group = obj(body.get("alert_group"), "alert_group")
    event = optional_obj(body.get("event"), "event")
    payload = optional_obj(body.get("alert_payload"), "alert_payload")
    labels = {
        **string_map(group.get("labels"), "alert_group.labels"),
        **string_map(payload.get("labels"), "alert_payload.labels"),
    }
    annotations = string_map(payload.get("annotations"), "alert_payload.annotations")
    kind = text(event.get("type"), "event.type").lower()
    state = text(group.get("state"), "alert_group.state").lower()
    resolved = state == "resolved" or kind == "resolve"
    group_id = text(group.get("id"), "alert_group.id", required=True)
    title = first_text(
        annotations.get("summary"), labels.get("alertname"), group.get("title"), "Alert group"
    )
    return [
        NormalisedEvent(
            source=Source.GRAFANA,
            status=EventStatus.RESOLVED if resolved else EventStatus.FIRING,
            severity=severity_of(
                labels.get("severity") or labels.get("priority"), LABEL_SEVERITY, Severity.WARNING
            ),
            title=title,
            description=first_text(annotations.get("description"), group.get("title")),
            external_id=group_id,
            fingerprint=source_key("grafana-oncall", group_id),
            resource=prometheus_resource(labels),
            labels={**labels, "oncall_event": kind} if kind else labels,
            starts_at=timestamp(group.get("created_at"), "alert_group.created_at"),
            ends_at=timestamp(group.get("resolved_at"), "alert_group.resolved_at")
            if resolved
            else None,
        )
    ]


@adapter(Source.GRAFANA)
def parse(request: SourceRequest) -> Parsed:
    body = obj(load_json(request.body), "body")
    if "alerts" in body:
        return Parsed(alerts_from(body, Source.GRAFANA))
    if "alert_group" in body:
        return Parsed(oncall_event(body))
    if "ruleName" in body or "evalMatches" in body or "ruleId" in body:
        return Parsed(legacy_event(body))
    raise PayloadError(
        "alerts: is required (a Grafana alerting webhook; legacy alerts carry ruleName and "
        "state, OnCall webhooks alert_group)."
    )
