"""Small helpers the adapters share: JSON decoding and typed field access whose errors name
the field, time parsing, severity mapping."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from opsdesk.events.sources import PayloadError


def load_json(body: bytes) -> Any:
    if not body or not body.strip():
        raise PayloadError("body: empty; send a JSON document.")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"body: not valid JSON ({exc}).") from None


def obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"{where}: must be an object.")
    return value


def array(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise PayloadError(f"{where}: must be an array.")
    return value


def text(value: Any, where: str, required: bool = False) -> str:
    if value is None:
        if required:
            raise PayloadError(f"{where}: is required.")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PayloadError(f"{where}: must be a string.")
    result = str(value)
    if required and not result.strip():
        raise PayloadError(f"{where}: must not be empty.")
    return result


def string_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    data = obj(value, where)
    out: dict[str, str] = {}
    for key, item in data.items():
        if isinstance(item, dict | list):
            raise PayloadError(f"{where}.{key}: must be a string, number or boolean.")
        if item is None:
            continue
        out[str(key)] = item if isinstance(item, str) else json.dumps(item)
    return out


#: Go's zero time, which Alertmanager sends for "no end".
ZERO_TIMES = ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z")


def timestamp(value: Any, where: str) -> datetime | None:
    """ISO 8601 text or epoch seconds / milliseconds; None for empty and Go's zero time."""
    if value in (None, "") or value in ZERO_TIMES:
        return None
    if isinstance(value, bool):
        raise PayloadError(f"{where}: must be a time.")
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 10_000_000_000 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise PayloadError(f"{where}: {value!r} is not a time.") from None
    if not isinstance(value, str):
        raise PayloadError(f"{where}: must be an ISO 8601 time.")
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:
        parsed = None
    if parsed is None:
        raise PayloadError(f"{where}: {value!r} is not an ISO 8601 time.")
    if parsed.year <= 1:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


# --- helpers for the vendor adapters -------------------------------------------------------


def first_text(*values: Any) -> str:
    """The first value that is a non-blank string (or a number), stripped; else ""."""
    for value in values:
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float):
            return str(value)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def severity_of(value: Any, table: dict[str, str], default: str) -> str:
    """Look a vendor's severity word up (case- and space-insensitive); unknown → default."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return default
    key = str(value).strip().lower().replace("_", " ")
    return table.get(key, default)


#: Severity words seen in Prometheus / Grafana ``severity`` (or ``priority``) labels.
LABEL_SEVERITY: dict[str, str] = {
    **dict.fromkeys(
        (
            "critical",
            "crit",
            "fatal",
            "emergency",
            "emerg",
            "alert",
            "page",
            "disaster",
            "p1",
            "sev0",
            "sev1",
        ),
        "critical",
    ),
    **dict.fromkeys(("major", "high", "error", "err", "p2", "sev2"), "major"),
    **dict.fromkeys(("minor", "average", "medium", "moderate", "p3", "sev3"), "minor"),
    **dict.fromkeys(("warning", "warn", "low", "p4", "sev4"), "warning"),
    **dict.fromkeys(
        ("info", "informational", "information", "notice", "debug", "none", "ok", "p5", "sev5"),
        "info",
    ),
}


def is_ip(value: str) -> bool:
    value = value.strip("[]")
    if not value or not (value[0].isdigit() or ":" in value):
        return False  # a host name: skip the (slow) parse
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def host_of(instance: str) -> str:
    """The host part of a Prometheus ``instance`` (``server01.int:9100`` → ``server01.int``;
    a URL's host; a bracketed IPv6 address without its port)."""
    value = instance.strip()
    if "://" in value:
        value = value.split("://", 1)[1]
    value = value.split("/", 1)[0]
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value


#: Prometheus / Kubernetes label names → OpenTelemetry resource attributes (first wins).
PROMETHEUS_RESOURCE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("host.name", ("host.name", "hostname", "host", "nodename", "node_name", "fqdn")),
    (
        "service.name",
        ("service.name", "service", "service_name", "app", "app_kubernetes_io_name", "job"),
    ),
    ("service.namespace", ("service_namespace",)),
    ("k8s.cluster.name", ("k8s.cluster.name", "cluster", "cluster_name", "k8s_cluster")),
    (
        "k8s.namespace.name",
        ("k8s.namespace.name", "namespace", "exported_namespace", "kube_namespace"),
    ),
    ("k8s.pod.name", ("k8s.pod.name", "pod", "pod_name", "exported_pod", "kube_pod")),
    ("k8s.pod.uid", ("k8s.pod.uid", "uid", "pod_uid")),
    ("k8s.node.name", ("k8s.node.name", "node", "kubernetes_node")),
    ("k8s.container.name", ("k8s.container.name", "container", "container_name")),
    ("k8s.deployment.name", ("k8s.deployment.name", "deployment")),
    ("k8s.statefulset.name", ("k8s.statefulset.name", "statefulset")),
    ("k8s.daemonset.name", ("k8s.daemonset.name", "daemonset")),
    ("cloud.region", ("cloud.region", "region")),
    ("cloud.availability_zone", ("cloud.availability_zone", "zone", "availability_zone")),
    ("cloud.provider", ("cloud.provider", "provider")),
    ("cloud.account.id", ("cloud.account.id", "account_id", "subscription_id")),
    ("cloud.resource_id", ("cloud.resource_id", "resource_id", "azure_resource_id")),
    ("deployment.environment", ("deployment.environment", "env", "environment")),
)


#: Label name → (attribute, rank): the first name listed for an attribute wins.
_PROMETHEUS_INDEX: dict[str, tuple[str, int]] = {
    name: (attribute, rank)
    for attribute, names in PROMETHEUS_RESOURCE
    for rank, name in enumerate(names)
}


def prometheus_resource(labels: dict[str, str]) -> dict[str, str]:
    """OpenTelemetry resource attributes from Prometheus-style labels.

    ``instance`` gives ``service.instance.id`` and, when no host label is set, ``host.name``
    (its host part); an IP host also gives ``host.ip``. ``cloud.resource_id`` is lower-cased.
    One pass over the labels (this runs for every alert of a batch).
    """
    best: dict[str, tuple[int, str]] = {}
    for name, value in labels.items():
        hit = _PROMETHEUS_INDEX.get(name)
        if hit is None:
            continue
        value = value.strip()
        if not value:
            continue
        attribute, rank = hit
        current = best.get(attribute)
        if current is None or rank < current[0]:
            best[attribute] = (rank, value)
    resource = {attribute: value for attribute, (_, value) in best.items()}
    instance = labels.get("instance", "").strip()
    if instance:
        resource["service.instance.id"] = instance
        resource.setdefault("host.name", host_of(instance))
    host = resource.get("host.name", "")
    if host and is_ip(host):
        resource["host.ip"] = host.strip("[]")
    if "cloud.resource_id" in resource:
        resource["cloud.resource_id"] = resource["cloud.resource_id"].lower()
    return resource


def source_key(prefix: str, *parts: str) -> str:
    """A fingerprint (at most 64 characters) built from a source's own identity, e.g. a
    Zabbix trigger id with its host: ``zabbix:<40 hex>``."""
    import hashlib

    digest = hashlib.sha1("\x1f".join(parts).encode(), usedforsecurity=False).hexdigest()
    return f"{prefix}:{digest}"[:64]


def header(headers: Any, name: str) -> str:
    value = headers.get(name.lower(), "") if headers else ""
    return value.strip() if isinstance(value, str) else ""


def optional_obj(value: Any, where: str) -> dict[str, Any]:
    """An object that may be missing or null ({}); anything else but an object is a 400."""
    return {} if value is None else obj(value, where)


def optional_array(value: Any, where: str) -> list[Any]:
    return [] if value is None else array(value, where)
