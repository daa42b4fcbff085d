"""Datadog webhook integration (Integrations → Webhooks) with the default payload or one that
uses the same variable names: ``id`` ($ID), ``title`` ($EVENT_TITLE), ``body`` ($EVENT_MSG),
``alert_transition`` ($ALERT_TRANSITION), ``alert_type`` ($ALERT_TYPE), ``severity`` or
``alert_priority`` ($ALERT_PRIORITY, P1-P5), ``tags`` ($TAGS), ``scopes`` ($ALERT_SCOPE),
``host`` / ``hostname`` ($HOSTNAME), ``monitor_id`` ($ALERT_ID), ``aggreg_key``
($AGGREG_KEY), ``date`` / ``last_updated`` (epoch ms), ``url`` ($LINK).

Status: ``alert_transition`` Recovered (or ``alert_type`` success) → resolved; Triggered,
Re-Triggered, Warn, Re-Warn, No Data, Renotify → firing. Severity: priority P1 critical,
P2 major, P3 minor, P4 warning, P5 info; without a priority: Warn / warning → warning,
No Data → warning, info → info, otherwise (Triggered, error, Recovered) → major.

Tags ``key:value`` (and the group scope) become labels (a bare tag ``monitor`` gets the value
""); ``host`` → ``host.name``, ``service`` → ``service.name``, ``env`` →
``deployment.environment``, ``kube_namespace`` → ``k8s.namespace.name``, ``pod_name`` →
``k8s.pod.name``, ``kube_cluster_name`` → ``k8s.cluster.name``, ``region`` →
``cloud.region``. The title loses Datadog's "[P2] [Warn]" / "[Triggered on {…}]" prefixes.
The fingerprint is the aggregation key, else the monitor id with the group scope.
"""

from __future__ import annotations

import re
from typing import Any

from opsdesk.events.choices import EventStatus, Severity, Source
from opsdesk.events.normal import NormalisedEvent
from opsdesk.events.sources import Parsed, PayloadError, SourceRequest, adapter
from opsdesk.events.sources.common import first_text, load_json, obj, source_key, text, timestamp

RESOLVED = {"recovered", "success"}
FIRING = {
    "triggered",
    "re-triggered",
    "warn",
    "re-warn",
    "warning",
    "no data",
    "renotify",
    "error",
    "info",
    "alert",
}
PRIORITY = {
    "p1": Severity.CRITICAL,
    "p2": Severity.MAJOR,
    "p3": Severity.MINOR,
    "p4": Severity.WARNING,
    "p5": Severity.INFO,
}
TAG_RESOURCE = (
    ("host.name", ("host", "hostname")),
    ("service.name", ("service",)),
    ("deployment.environment", ("env", "environment")),
    ("k8s.cluster.name", ("kube_cluster_name", "cluster_name")),
    ("k8s.namespace.name", ("kube_namespace",)),
    ("k8s.pod.name", ("pod_name",)),
    ("k8s.container.name", ("kube_container_name", "container_name")),
    ("k8s.deployment.name", ("kube_deployment",)),
    ("cloud.region", ("region",)),
    ("cloud.availability_zone", ("availability-zone", "availability_zone")),
    ("cloud.account.id", ("account_id", "aws_account")),
    ("host.id", ("instance-id", "instance_id")),
)
PREFIX = re.compile(r"^(\s*\[[^\]]*\])+\s*")
GROUP = re.compile(r"^\s*\[\w[\w -]* on \{(?P<group>[^}]*)\}\]")


def tag_pairs(value: Any, where: str) -> dict[str, str]:
    """``"monitor,service:api, env:prod"`` (or a list of such) → {"monitor": "", ...}."""
    if value in (None, ""):
        return {}
    if isinstance(value, list):
        parts = [text(v, f"{where}[{i}]") for i, v in enumerate(value)]
    else:
        parts = text(value, where).split(",")
    out: dict[str, str] = {}
    for part in parts:
        name, _, val = part.strip().partition(":")
        if name:
            out[name] = val
    return out


def epoch(value: Any, where: str) -> Any:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return timestamp(value, where)


@adapter(Source.DATADOG)
def parse(request: SourceRequest) -> Parsed:
    body = obj(load_json(request.body), "body")
    raw_title = text(body.get("title"), "title", required=True)
    transition = text(body.get("alert_transition"), "alert_transition").strip()
    alert_type = text(body.get("alert_type"), "alert_type").strip()
    state = (transition or alert_type).lower()
    if not state:
        raise PayloadError("alert_transition: is required (Triggered, Recovered, Warn ...).")
    if state in RESOLVED:
        status = EventStatus.RESOLVED
    elif state in FIRING:
        status = EventStatus.FIRING
    else:
        field = "alert_transition" if transition else "alert_type"
        raise PayloadError(
            f"{field}: one of Triggered, Re-Triggered, Recovered, Warn, No Data, Renotify "
            f"(not {transition or alert_type!r})."
        )
    priority = first_text(body.get("alert_priority"), body.get("severity")).lower()
    if priority and priority not in PRIORITY:
        field = "alert_priority" if body.get("alert_priority") else "severity"
        raise PayloadError(f"{field}: one of P1, P2, P3, P4, P5 (not {priority!r}).")
    if priority:
        severity = PRIORITY[priority]
    elif state in ("warn", "re-warn", "warning", "no data"):
        severity = Severity.WARNING
    elif state == "info":
        severity = Severity.INFO
    else:
        severity = Severity.MAJOR
    tags = tag_pairs(body.get("tags"), "tags")
    scopes = text(body.get("scopes"), "scopes").strip()
    scope_tags = tag_pairs(scopes, "scopes")
    labels = {**tags, **scope_tags}
    host = first_text(body.get("host"), body.get("hostname"))
    resource: dict[str, str] = {}
    for attribute, names in TAG_RESOURCE:
        for name in names:
            if labels.get(name):
                resource[attribute] = labels[name]
                break
    if host:
        resource["host.name"] = host
    group = GROUP.match(raw_title)
    title = PREFIX.sub("", raw_title).strip() or raw_title
    if group and group["group"] and not scopes:
        labels.update(tag_pairs(group["group"], "title"))
    monitor_id = text(body.get("monitor_id", body.get("alert_id")), "monitor_id").strip()
    aggregation = text(body.get("aggreg_key"), "aggreg_key").strip()
    if aggregation:
        fingerprint = source_key("datadog", aggregation)
    elif monitor_id:
        fingerprint = source_key("datadog", monitor_id, scopes or host)
    else:
        fingerprint = ""
    message = text(body.get("body", body.get("text")), "body").strip()
    if message.startswith("%%%") and message.endswith("%%%"):
        message = message[3:-3].strip()
    extra = {
        "datadog.monitor_id": monitor_id,
        "datadog.transition": transition,
        "datadog.alert_type": alert_type,
        "datadog.event_type": text(body.get("event_type"), "event_type"),
        "datadog.query": text(body.get("alert_query"), "alert_query"),
        "datadog.scope": scopes,
        "url": text(body.get("url", body.get("link")), "url"),
    }
    when = epoch(body.get("date", body.get("last_updated")), "date")
    return Parsed(
        [
            NormalisedEvent(
                source=Source.DATADOG,
                status=status,
                severity=severity,
                title=title,
                description=message,
                external_id=text(body.get("id"), "id"),
                fingerprint=fingerprint,
                resource=resource,
                labels={**labels, **{k: v for k, v in extra.items() if v}},
                starts_at=when if status == EventStatus.FIRING else None,
                ends_at=when if status == EventStatus.RESOLVED else None,
            )
        ]
    )
