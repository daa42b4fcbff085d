"""The CI classes, relationship types and health rules every installation starts with.

Synchronised after each migrate (idempotent: existing rows keep an administrator's edits).
"""

from __future__ import annotations

from typing import Any

S = "string"


def _schema(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": required or [],
        "additionalProperties": True,
    }


STR = {"type": S, "maxLength": 500}
INT = {"type": "integer", "minimum": 0}
URL = {"type": S, "maxLength": 2000}

#: key: (label, category, identifiers, is_service, attribute properties)
CLASSES: dict[str, tuple[str, str, list[str], bool, dict[str, Any]]] = {
    "business_service": (
        "Business service",
        "service",
        ["name"],
        True,
        {"service_owner": STR, "sla_hours": STR},
    ),
    "service_offering": ("Service offering", "service", ["name"], False, {"offering_tier": STR}),
    "application": (
        "Application",
        "application",
        ["app_id", "name"],
        False,
        {"app_id": STR, "version": STR, "vendor": STR, "url": URL},
    ),
    "saas_application": (
        "SaaS application",
        "application",
        ["tenant_id", "name"],
        False,
        {"vendor": STR, "tenant_id": STR, "url": URL},
    ),
    "database": (
        "Database",
        "data",
        ["resource_id", "fqdn", "name"],
        False,
        {
            "engine": STR,
            "version": STR,
            "fqdn": STR,
            "port": INT,
            "resource_id": STR,
            "size_gb": INT,
        },
    ),
    "server": (
        "Server",
        "infrastructure",
        ["serial_number", "resource_id", "fqdn", "name"],
        False,
        {
            "serial_number": STR,
            "fqdn": STR,
            "ip_address": STR,
            "os": STR,
            "os_version": STR,
            "cpu_cores": INT,
            "memory_gb": INT,
            "virtual": {"type": "boolean"},
            "resource_id": STR,
            "model": STR,
            "vendor": STR,
        },
    ),
    "k8s_cluster": (
        "Kubernetes cluster",
        "kubernetes",
        ["resource_id", "cluster_uid", "name"],
        False,
        {"version": STR, "resource_id": STR, "cluster_uid": STR, "provider": STR},
    ),
    "k8s_namespace": (
        "Kubernetes namespace",
        "kubernetes",
        ["k8s_uid"],
        False,
        {"k8s_uid": STR, "cluster": STR},
    ),
    "k8s_workload": (
        "Kubernetes workload",
        "kubernetes",
        ["k8s_uid"],
        False,
        {"k8s_uid": STR, "kind": STR, "namespace": STR, "replicas": INT, "cluster": STR},
    ),
    "k8s_pod": (
        "Kubernetes pod",
        "kubernetes",
        ["k8s_uid"],
        False,
        {"k8s_uid": STR, "namespace": STR, "node": STR, "phase": STR, "cluster": STR},
    ),
    "k8s_node": (
        "Kubernetes node",
        "kubernetes",
        ["k8s_uid", "provider_id"],
        False,
        {
            "k8s_uid": STR,
            "provider_id": STR,
            "kubelet_version": STR,
            "os_image": STR,
            "cpu_cores": INT,
            "cluster": STR,
        },
    ),
    "k8s_service": (
        "Kubernetes service",
        "kubernetes",
        ["k8s_uid"],
        False,
        {"k8s_uid": STR, "namespace": STR, "cluster_ip": STR, "service_type": STR, "cluster": STR},
    ),
    "network_device": (
        "Network device",
        "network",
        ["serial_number", "fqdn", "name"],
        False,
        {
            "serial_number": STR,
            "fqdn": STR,
            "ip_address": STR,
            "device_type": STR,
            "vendor": STR,
            "model": STR,
            "firmware": STR,
        },
    ),
    "storage": (
        "Storage",
        "infrastructure",
        ["serial_number", "resource_id", "name"],
        False,
        {"serial_number": STR, "resource_id": STR, "capacity_gb": INT, "storage_type": STR},
    ),
    "cloud_resource": (
        "Cloud resource",
        "cloud",
        ["resource_id"],
        False,
        {
            "provider": {"type": S, "enum": ["aws", "azure", "gcp", "other"]},
            "account": STR,
            "region": STR,
            "resource_id": STR,
            "resource_type": STR,
        },
    ),
    "end_user_device": (
        "End-user device",
        "end_user",
        ["serial_number", "name"],
        False,
        {"serial_number": STR, "device_type": STR, "os": STR, "model": STR, "assigned_to": STR},
    ),
    "telephony": (
        "Telephony",
        "end_user",
        ["serial_number", "name"],
        False,
        {"serial_number": STR, "extension": STR, "number": STR},
    ),
    "peripheral": (
        "Peripheral",
        "end_user",
        ["serial_number", "name"],
        False,
        {"serial_number": STR, "peripheral_type": STR},
    ),
}

#: key: (label, reverse label, propagation)
RELATIONSHIP_TYPES: dict[str, tuple[str, str, str]] = {
    "depends_on": ("depends on", "is depended on by", "to_source"),
    "runs_on": ("runs on", "runs", "to_source"),
    "hosted_on": ("hosted on", "hosts", "to_source"),
    "connects_to": ("connects to", "is connected from", "both"),
    "member_of": ("member of", "contains", "to_source"),
    "backs_up": ("backs up", "is backed up by", "none"),
    "selects": ("selects", "is selected by", "to_source"),
}

#: (name, class key or None, environment, check, target)
HEALTH_RULES = [
    ("Every production server has an owner team", "server", "production", "field", "owner_team"),
    ("Every production server has a support team", "server", "production", "field", "support_team"),
    ("Every business service has a criticality", "business_service", "", "field", "criticality"),
    ("Every business service has an owner team", "business_service", "", "field", "owner_team"),
    (
        "Every application runs on or depends on something",
        "application",
        "production",
        "relationship",
        "*",
    ),
    ("Every server records its operating system", "server", "", "attribute", "os"),
    ("Every database records its engine", "database", "", "attribute", "engine"),
    ("Every production CI has a country", None, "production", "field", "country"),
]


def sync_builtin(**kwargs: Any) -> None:
    """Create missing built-in rows; never overwrite what an administrator changed."""
    from opsdesk.cmdb.models import CIClass, HealthRule, RelationshipType

    existing = set(CIClass.objects.values_list("key", flat=True))
    for key, (label, category, identifiers, is_service, props) in CLASSES.items():
        if key not in existing:
            CIClass.objects.create(
                key=key,
                label=label,
                category=category,
                identifiers=identifiers,
                is_service=is_service,
                attribute_schema=_schema(props),
                builtin=True,
                source_precedence=["manual"],
            )
    existing = set(RelationshipType.objects.values_list("key", flat=True))
    for key, (label, reverse, propagation) in RELATIONSHIP_TYPES.items():
        if key not in existing:
            RelationshipType.objects.create(
                key=key, label=label, reverse_label=reverse, propagation=propagation, builtin=True
            )
    classes = {c.key: c for c in CIClass.objects.all()}
    existing = set(HealthRule.objects.values_list("name", flat=True))
    for name, class_key, environment, check, target in HEALTH_RULES:
        if name not in existing:
            HealthRule.objects.create(
                name=name,
                ci_class=classes.get(class_key) if class_key else None,
                environment=environment,
                check_kind=check,
                target=target,
            )
