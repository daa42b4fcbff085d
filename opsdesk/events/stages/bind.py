"""Stage ``bind``: find the configuration item each new or unbound alert is about.

Candidates come from the alert's resource attributes (OpenTelemetry names) and labels,
most specific first; the first that names a CI of the organisation wins:

1. ``cloud.resource_id`` -> identifier kind ``resource_id``;
2. ``k8s.<kind>.uid`` (pod, node, deployment, namespace, ...) -> ``k8s_uid``
   (``k8s.cluster.uid`` -> ``cluster_uid``);
3. ``k8s.pod.name`` / label ``pod`` -> a Kubernetes pod of that name;
4. host names: ``host.name``, labels ``host``, ``hostname``, ``instance`` (port stripped)
   -> ``fqdn``, then ``name:<class>`` for servers, databases, network devices, storage,
   clusters and end-user devices; a dotted name is also tried by its first label;
5. ``k8s.node.name`` / label ``node`` -> a Kubernetes node, then hosts as above;
6. ``k8s.deployment.name`` (statefulset, daemonset, ...) -> a Kubernetes workload;
7. ``service.name`` / label ``service`` -> business service, application, SaaS application,
   service offering of that name;
8. ``k8s.namespace.name`` / label ``namespace`` -> a Kubernetes namespace.

Identifier values are compared lower-cased (as the CMDB stores them). When nothing
matches, the integration's default service (``item.default_service_id``) is the fallback,
and failing that the alert stays unbound (``ci`` null, ``binding`` ""), to be listed for the
operators (alerts whose ``ci`` is null). An alert bound by the fallback is tried again on
its next events, so it moves to its real CI once the CMDB knows it. ``alert.binding`` says
how: ``"host.name=db-07 → CI db-07 (fqdn)"``.

Set-based: one query over ``CIIdentifier`` for every candidate of the batch, one over CIs
by name for the Kubernetes names, one for the default services' names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from django.db.models.functions import Lower

from opsdesk.cmdb.models import CIIdentifier, ConfigurationItem
from opsdesk.events import pipeline
from opsdesk.events.models import Alert

HOST_CLASSES = (
    "server",
    "database",
    "network_device",
    "storage",
    "k8s_cluster",
    "end_user_device",
)
SERVICE_CLASSES = ("business_service", "application", "saas_application", "service_offering")
WORKLOAD_KEYS = (
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.replicaset.name",
    "k8s.job.name",
    "k8s.cronjob.name",
)
#: Binding by the integration's default service starts with this (tried again later).
FALLBACK = "default service of the integration"
CHUNK = 2000
_PORT = re.compile(r"^\[?(?P<host>[^\[\]]+?)\]?(?::\d{1,5})?$")

#: (how it was found, lookup kind, value). Lookup kinds are CIIdentifier kinds, or
#: ``ci:<class key>`` for a CI of that class by name.
Candidate = tuple[str, str, str]


def _host(value: str) -> str:
    """``db-07:9100`` -> ``db-07``; ``[::1]:9100`` -> ``::1``."""
    if value.count(":") > 1 and not value.startswith("["):
        return value  # a bare IPv6 address
    found = _PORT.match(value)
    return found.group("host") if found else value


#: The labels `candidates` reads.
LABELS_USED = ("pod", "host", "hostname", "instance", "node", "service", "namespace")


def candidates(resource: dict[str, str], labels: dict[str, str]) -> list[Candidate]:
    """Every (description, kind, value) to look up for an alert, most specific first.
    Alerts on the same resource ask the same: the answer is cached on what it depends on."""
    return list(_candidates(tuple(resource.items()), tuple(labels.get(k) for k in LABELS_USED)))


@lru_cache(maxsize=16384)
def _candidates(
    resource_items: tuple[tuple[str, str], ...], label_values: tuple[str | None, ...]
) -> tuple[Candidate, ...]:
    resource = dict(resource_items)
    labels = {k: v for k, v in zip(LABELS_USED, label_values, strict=True) if v is not None}
    out: list[Candidate] = []

    def add(attr: str, raw: str | None, kinds: Iterable[str], shown: str | None = None) -> None:
        if not raw or not raw.strip():
            return
        value = raw.strip().lower()[:500]
        for kind in kinds:
            out.append((f"{attr}={(shown or raw).strip()}", kind, value))

    def hosts(attr: str, raw: str | None) -> None:
        if not raw or not raw.strip():
            return
        name = _host(raw.strip())
        add(attr, name, ["fqdn", *(f"name:{c}" for c in HOST_CLASSES)], raw)
        if "." in name and not name.replace(".", "").isdigit():
            add(attr, name.split(".", 1)[0], [f"name:{c}" for c in HOST_CLASSES], raw)

    add("cloud.resource_id", resource.get("cloud.resource_id"), ["resource_id"])
    for key in sorted(k for k in resource if k.startswith("k8s.") and k.endswith(".uid")):
        add(key, resource[key], ["cluster_uid" if key == "k8s.cluster.uid" else "k8s_uid"])
    add("k8s.pod.name", resource.get("k8s.pod.name"), ["ci:k8s_pod"])
    add("pod", labels.get("pod"), ["ci:k8s_pod"])
    hosts("host.name", resource.get("host.name"))
    for label in ("host", "hostname", "instance"):
        hosts(label, labels.get(label))
    for attr, raw in (
        ("k8s.node.name", resource.get("k8s.node.name")),
        ("node", labels.get("node")),
    ):
        add(attr, raw, ["ci:k8s_node"])
        hosts(attr, raw)
    for key in WORKLOAD_KEYS:
        add(key, resource.get(key), ["ci:k8s_workload"])
    service_kinds = [f"name:{c}" for c in SERVICE_CLASSES]
    add("service.name", resource.get("service.name"), service_kinds)
    add("service", labels.get("service"), service_kinds)
    add("k8s.namespace.name", resource.get("k8s.namespace.name"), ["ci:k8s_namespace"])
    add("namespace", labels.get("namespace"), ["ci:k8s_namespace"])
    return tuple(out)


def _lookup(
    organization_id: int, wanted: set[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, str]]:
    """(kind, value) -> (CI id, CI name) for the candidates that exist."""
    found: dict[tuple[str, str], tuple[int, str]] = {}
    ident = [(k, v) for k, v in wanted if not k.startswith("ci:")]
    kinds = sorted({k for k, _ in ident})
    values = sorted({v for _, v in ident})
    for i in range(0, len(values), CHUNK):
        rows = CIIdentifier.objects.filter(
            organization_id=organization_id, kind__in=kinds, value__any=values[i : i + CHUNK]
        ).values_list("kind", "value", "ci_id", "ci__name")
        for kind, value, ci_id, name in rows:
            if (kind, value) in wanted:
                found[(kind, value)] = (ci_id, name)
    by_name = [(k[3:], v) for k, v in wanted if k.startswith("ci:")]
    if by_name:
        classes = sorted({c for c, _ in by_name})
        names = sorted({v for _, v in by_name})
        for i in range(0, len(names), CHUNK):
            rows = (
                ConfigurationItem.objects.filter(
                    organization_id=organization_id, ci_class__key__in=classes
                )
                .annotate(lname=Lower("name"))
                .filter(lname__any=names[i : i + CHUNK])
                .order_by("id")
                .values_list("ci_class__key", "lname", "id", "name")
            )
            for class_key, lname, ci_id, name in rows:
                found.setdefault((f"ci:{class_key}", lname), (ci_id, name))
    return found


def _kind_label(kind: str) -> str:
    return f"{kind[3:]} by name" if kind.startswith("ci:") else kind


@pipeline.stage("bind")
def run(batch: pipeline.Batch) -> None:
    todo: dict[int, Alert] = {}
    fallback: dict[int, int] = {}
    for item in batch.items:
        alert = item.alert
        if alert is None:
            continue
        if alert.ci_id is not None and not alert.binding.startswith(FALLBACK):
            continue
        todo.setdefault(alert.pk, alert)
        if item.default_service_id and alert.pk not in fallback:
            fallback[alert.pk] = item.default_service_id
    if not todo:
        return
    wanted_by_alert = {
        pk: _candidates(
            tuple((a.resource or {}).items()),
            tuple((a.labels or {}).get(k) for k in LABELS_USED),
        )
        for pk, a in todo.items()
    }
    # Alerts on the same resource share their (cached) candidates: each list counted once.
    distinct = {id(cands): cands for cands in wanted_by_alert.values()}
    wanted = {(k, v) for cands in distinct.values() for _, k, v in cands}
    found = _lookup(batch.organization_id, wanted) if wanted else {}
    services = (
        dict(
            ConfigurationItem.objects.filter(
                organization_id=batch.organization_id, pk__in=set(fallback.values())
            ).values_list("id", "name")
        )
        if fallback
        else {}
    )

    changed: list[Alert] = []
    for pk, alert in todo.items():
        ci_id, binding = None, ""
        for described, kind, value in wanted_by_alert[pk]:
            hit = found.get((kind, value))
            if hit is not None:
                ci_id, binding = hit[0], f"{described} → CI {hit[1]} ({_kind_label(kind)})"
                break
        if ci_id is None and fallback.get(pk) in services:
            ci_id = fallback[pk]
            binding = f"{FALLBACK}: {services[ci_id]} (nothing in the CMDB matched)"
        if ci_id is None and alert.ci_id is not None:
            continue  # bound by an earlier fallback: keep it
        binding = binding[:300]
        if (alert.ci_id, alert.binding) != (ci_id, binding):
            alert.ci_id, alert.binding = ci_id, binding
            changed.append(alert)
    if changed:
        batch.changed(changed, ["ci", "binding"])
