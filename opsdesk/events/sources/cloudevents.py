"""CloudEvents 1.0 over HTTP, in its three modes:

- structured (``Content-Type: application/cloudevents+json``, or a JSON object): one event;
- batch (``application/cloudevents-batch+json``, or a JSON array): a list of events;
- binary (``ce-specversion``, ``ce-id``, ``ce-source``, ``ce-type`` ... headers; the body is
  the data, typed by ``Content-Type``).

``id``, ``source``, ``specversion`` (must be 1.0) and ``type`` are required; errors name the
attribute (``[1].source``, ``ce-id``). Mapping to an event:

- ``data`` that is a JSON object may carry OpsDesk's generic fields (docs/events.md):
  ``status`` (firing | resolved), ``severity``, ``title``, ``description``, ``fingerprint``,
  ``resource`` (OpenTelemetry names), ``labels``, ``starts_at``, ``ends_at``; an extension
  attribute ``severity`` or ``status`` works too;
- otherwise the title is the ``type`` followed by the ``subject``; the description is the
  data (text, or JSON); status firing; severity ``info`` (``warning`` when the type's last
  part says failed / failure / error / down);
- ``time`` → starts at; ``id`` → external id; ``source``, ``type``, ``subject`` and every
  extension attribute (``correlationid``, ``causationid`` ...) → labels ``ce.<name>`` /
  ``<name>``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any
from urllib.parse import unquote

from opsdesk.events.choices import EventStatus, Severity, Source
from opsdesk.events.normal import NormalisedEvent
from opsdesk.events.sources import Parsed, PayloadError, SourceRequest, adapter
from opsdesk.events.sources.common import array, header, load_json, obj, string_map, text, timestamp

REQUIRED = ("id", "source", "specversion", "type")
CONTEXT = {*REQUIRED, "datacontenttype", "dataschema", "subject", "time", "data", "data_base64"}
MAX_EVENTS = 10_000
TROUBLE = re.compile(r"(fail|failed|failure|error|down|unhealthy)$", re.IGNORECASE)


def json_type(content_type: str) -> bool:
    base = content_type.split(";", 1)[0].strip().lower()
    return base in ("", "application/json", "text/json") or base.endswith("+json")


def event_from(
    attrs: dict[str, Any], data: Any, where: str, names: dict[str, str]
) -> NormalisedEvent:
    """``names`` maps an attribute to how the error names it (``id`` or ``ce-id``)."""

    def at(name: str) -> str:
        return names.get(name, f"{where}{name}")

    missing = [n for n in REQUIRED if attrs.get(n) in (None, "")]
    if missing:
        raise PayloadError(
            f"{at(missing[0])}: is required (a CloudEvent needs id, source, specversion and "
            f"type; missing: {', '.join(missing)})."
        )
    values = {n: text(attrs[n], at(n), required=True) for n in REQUIRED}
    if values["specversion"] != "1.0":
        raise PayloadError(f"{at('specversion')}: must be 1.0, not {values['specversion']!r}.")
    subject = text(attrs.get("subject"), at("subject")).strip()
    content_type = text(attrs.get("datacontenttype"), at("datacontenttype"))
    ce_type = values["type"]
    fields: dict[str, Any] = data if isinstance(data, dict) else {}
    status = EventStatus.FIRING
    raw_status = fields.get("status", attrs.get("status"))
    if raw_status is not None:
        status_text = text(raw_status, f"{where}data.status").strip().lower()
        if status_text not in EventStatus.values:
            raise PayloadError(
                f"{where}data.status: one of firing, resolved (not {status_text!r})."
            )
        status = status_text
    raw_severity = fields.get("severity", attrs.get("severity"))
    if raw_severity is not None:
        severity = text(raw_severity, f"{where}data.severity").strip().lower()
        if severity not in Severity.values:
            raise PayloadError(f"{where}data.severity: one of {', '.join(Severity.values)}.")
    else:
        last = ce_type.rsplit(".", 1)[-1]
        severity = Severity.WARNING if TROUBLE.search(last) else Severity.INFO
    title = text(fields.get("title"), f"{where}data.title").strip()
    if not title:
        title = f"{ce_type} {subject}".strip()
    description = text(fields.get("description"), f"{where}data.description")
    if not description and data is not None and "title" not in fields:
        description = data if isinstance(data, str) else json.dumps(data, sort_keys=True)[:2000]
    fingerprint = text(fields.get("fingerprint"), f"{where}data.fingerprint").strip()
    if len(fingerprint) > 64:
        raise PayloadError(f"{where}data.fingerprint: at most 64 characters.")
    labels = {"ce.type": ce_type, "ce.source": values["source"]}
    if subject:
        labels["ce.subject"] = subject
    if content_type:
        labels["ce.datacontenttype"] = content_type
    for name, value in attrs.items():
        if name in CONTEXT or name in ("status", "severity") or value is None:
            continue
        if isinstance(value, dict | list):
            raise PayloadError(
                f"{at(name)}: an extension attribute must be a string, number or boolean."
            )
        labels[name] = value if isinstance(value, str) else json.dumps(value)
    labels.update(string_map(fields.get("labels"), f"{where}data.labels"))
    return NormalisedEvent(
        source=Source.CLOUDEVENTS,
        status=status,
        severity=severity,
        title=title,
        description=description,
        external_id=values["id"],
        fingerprint=fingerprint,
        resource=string_map(fields.get("resource"), f"{where}data.resource"),
        labels=labels,
        starts_at=timestamp(fields.get("starts_at"), f"{where}data.starts_at")
        or timestamp(attrs.get("time"), at("time")),
        ends_at=timestamp(fields.get("ends_at"), f"{where}data.ends_at"),
    )


def structured(value: Any, where: str) -> NormalisedEvent:
    attrs = obj(value, where.rstrip(".") or "body")
    data = attrs.get("data")
    if data is None and attrs.get("data_base64") is not None:
        encoded = text(attrs.get("data_base64"), f"{where}data_base64")
        try:
            decoded = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            decoded = None
        content_type = (
            attrs.get("datacontenttype") if isinstance(attrs.get("datacontenttype"), str) else ""
        )
        if decoded is not None and json_type(content_type or ""):
            try:
                data = json.loads(decoded)
            except (ValueError, UnicodeDecodeError):
                data = None
        if data is None:
            size = f"{len(decoded)} bytes" if decoded is not None else "not decodable"
            data = f"(binary data, {size}{', ' + content_type if content_type else ''})"
    return event_from(attrs, data, where, {})


def binary(request: SourceRequest) -> NormalisedEvent:
    attrs: dict[str, Any] = {}
    names: dict[str, str] = {n: f"ce-{n}" for n in CONTEXT}
    for key, value in request.headers.items():
        if key.startswith("ce-") and len(key) > 3:
            name = key[3:]
            attrs[name] = unquote(value)
            names[name] = key
    content_type = header(request.headers, "content-type")
    if content_type:
        attrs["datacontenttype"] = content_type
        names["datacontenttype"] = "content-type"
    data: Any = None
    if request.body:
        if json_type(content_type):
            data = load_json(request.body)
        else:
            try:
                data = request.body.decode()
            except UnicodeDecodeError:
                data = f"(binary data, {len(request.body)} bytes)"
    return event_from(attrs, data, "", names)


@adapter(Source.CLOUDEVENTS)
def parse(request: SourceRequest) -> Parsed:
    content_type = header(request.headers, "content-type").split(";", 1)[0].strip().lower()
    if header(request.headers, "ce-specversion") and content_type not in (
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
    ):
        return Parsed([binary(request)])
    body = load_json(request.body)
    if content_type == "application/cloudevents-batch+json" or isinstance(body, list):
        items = array(body, "body")
        if len(items) > MAX_EVENTS:
            raise PayloadError(f"body: at most {MAX_EVENTS} events per batch.")
        return Parsed([structured(item, f"[{i}].") for i, item in enumerate(items)])
    return Parsed([structured(body, "")])
