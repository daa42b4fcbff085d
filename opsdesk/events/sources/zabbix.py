"""Zabbix webhook media type: a flat JSON object the media type's parameters build from
macros. The names Zulip's and Zabbix's own templates use are understood:

==========================  =====================================================
``hostname`` / ``host`` / ``host_name`` ({HOST.NAME})         → ``host.name``
``host_ip`` ({HOST.IP})                                       → ``host.ip``
``trigger`` / ``event_name`` / ``trigger_name`` / ``subject`` → title
``status`` / ``event_status`` (PROBLEM, OK, RESOLVED, UPDATE) or ``event_value`` (1, 0)
``severity`` / ``event_severity`` (names) or ``event_nseverity`` (0-5)
``item`` / ``message`` / ``alert_message``                   → description
``trigger_id`` / ``triggerid`` (or ``triggerid=`` in ``link``), ``event_id``
``event_tags`` / ``tags`` (``{EVENT.TAGSJSON}`` list, an object or "a:b, c:d")
``event_date`` + ``event_time`` / ``timestamp``              → starts / ends at
==========================  =====================================================

Status: PROBLEM (and UPDATE) → firing, OK / RESOLVED / RECOVERY → resolved. Severity:
Disaster → critical, High → major, Average → minor, Warning → warning, Information and Not
classified → info. The fingerprint comes from the host and trigger id (Zabbix's identity of a
problem; the recovery message may word the trigger differently).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from opsdesk.events.choices import EventStatus, Severity, Source
from opsdesk.events.normal import NormalisedEvent
from opsdesk.events.sources import Parsed, PayloadError, SourceRequest, adapter
from opsdesk.events.sources.common import (
    is_ip,
    load_json,
    obj,
    source_key,
    text,
    timestamp,
)

SEVERITY = {
    "disaster": Severity.CRITICAL,
    "high": Severity.MAJOR,
    "average": Severity.MINOR,
    "warning": Severity.WARNING,
    "information": Severity.INFO,
    "info": Severity.INFO,
    "not classified": Severity.INFO,
}
NSEVERITY = {
    "5": Severity.CRITICAL,
    "4": Severity.MAJOR,
    "3": Severity.MINOR,
    "2": Severity.WARNING,
    "1": Severity.INFO,
    "0": Severity.INFO,
}
STATUS = {
    "problem": EventStatus.FIRING,
    "update": EventStatus.FIRING,
    "ok": EventStatus.RESOLVED,
    "resolved": EventStatus.RESOLVED,
    "recovery": EventStatus.RESOLVED,
    "1": EventStatus.FIRING,
    "0": EventStatus.RESOLVED,
}


def pick(body: dict[str, Any], *names: str) -> tuple[str, str]:
    """(field name, text) of the first field present with a non-empty value."""
    for name in names:
        if body.get(name) not in (None, ""):
            return name, text(body[name], name).strip()
    return names[0], ""


def tags_of(value: Any, where: str) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if isinstance(value, str) and value.strip()[:1] in "[{":
        try:
            value = json.loads(value)
        except ValueError:
            raise PayloadError(f"{where}: not valid JSON.") from None
    out: dict[str, str] = {}
    if isinstance(value, list):
        for i, tag in enumerate(value):
            t = obj(tag, f"{where}[{i}]")
            name = text(t.get("tag"), f"{where}[{i}].tag", required=True)
            out[name] = text(t.get("value"), f"{where}[{i}].value")
        return out
    if isinstance(value, dict):
        return {str(k): text(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, str):
        for part in value.split(","):
            name, _, val = part.strip().partition(":")
            if name.strip():
                out[name.strip()] = val.strip()
        return out
    raise PayloadError(f"{where}: must be a list of {{tag, value}}, an object or text.")


def when(body: dict[str, Any], date_key: str, time_key: str) -> Any:
    date, clock = body.get(date_key), body.get(time_key)
    if isinstance(date, str) and isinstance(clock, str) and date and clock:
        return timestamp(f"{date.replace('.', '-')}T{clock}", f"{date_key}")
    return None


@adapter(Source.ZABBIX)
def parse(request: SourceRequest) -> Parsed:
    body = obj(load_json(request.body), "body")
    status_key, raw_status = pick(body, "status", "event_status", "trigger_status", "event_value")
    if not raw_status:
        raise PayloadError("status: is required (PROBLEM or OK; or event_value 1 or 0).")
    status = STATUS.get(raw_status.lower())
    if status is None:
        raise PayloadError(
            f"{status_key}: one of PROBLEM, OK, RESOLVED, UPDATE (not {raw_status!r})."
        )
    _, title = pick(
        body, "trigger", "event_name", "trigger_name", "alert_subject", "subject", "name"
    )
    if not title:
        raise PayloadError("trigger: is required (the trigger or event name).")
    _, host = pick(body, "hostname", "host", "host_name", "host.name")
    _, host_ip = pick(body, "host_ip", "ip")
    sev_key, raw_severity = pick(body, "severity", "event_severity", "trigger_severity")
    if raw_severity:
        severity = SEVERITY.get(raw_severity.lower())
        if severity is None:
            raise PayloadError(
                f"{sev_key}: one of Disaster, High, Average, Warning, Information, "
                f"Not classified (not {raw_severity!r})."
            )
    else:
        _, number = pick(body, "event_nseverity", "nseverity")
        severity = NSEVERITY.get(number, Severity.WARNING)
    _, link = pick(body, "link", "url", "event_url")
    _, trigger_id = pick(body, "trigger_id", "triggerid")
    _, event_id = pick(body, "event_id", "eventid")
    query = parse_qs(urlsplit(link).query) if link else {}
    trigger_id = trigger_id or (query.get("triggerid") or [""])[0]
    event_id = event_id or (query.get("eventid") or [""])[0]
    _, item = pick(body, "item", "message", "alert_message", "event_opdata")
    tags = tags_of(
        body.get("event_tags", body.get("tags")), "event_tags" if "event_tags" in body else "tags"
    )
    resource: dict[str, str] = {}
    if host:
        resource["host.name"] = host
        if is_ip(host):
            resource["host.ip"] = host
    if host_ip:
        resource["host.ip"] = host_ip
    for name, attribute in (("service", "service.name"), ("namespace", "k8s.namespace.name")):
        if tags.get(name):
            resource.setdefault(attribute, tags[name])
    labels = {
        **tags,
        **{
            k: v
            for k, v in {
                "zabbix.trigger_id": trigger_id,
                "zabbix.event_id": event_id,
                "zabbix.severity": raw_severity,
                "zabbix.status": raw_status,
                "link": link,
            }.items()
            if v
        },
    }
    started = when(body, "event_date", "event_time") or timestamp(
        body.get("timestamp"), "timestamp"
    )
    ended = when(body, "event_recovery_date", "event_recovery_time")
    return Parsed(
        [
            NormalisedEvent(
                source=Source.ZABBIX,
                status=status,
                severity=severity,
                title=title,
                description=item,
                external_id=event_id,
                fingerprint=source_key("zabbix", host, trigger_id) if trigger_id else "",
                resource=resource,
                labels=labels,
                starts_at=started,
                ends_at=(ended or started) if status == EventStatus.RESOLVED else None,
            )
        ]
    )
