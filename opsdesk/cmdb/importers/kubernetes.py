"""Kubernetes import: ``kubectl get ... -o json`` or ``-o yaml`` output.

Lists (``kind: List``, ``NodeList``, ``PodList``, ...), single objects and several YAML
documents. Nodes, namespaces, workloads (Deployments, StatefulSets, DaemonSets, Jobs,
CronJobs, and ReplicaSets not owned by a Deployment), pods and services become CIs;
relationships: pod *runs on* node, pod *member of* workload (a ReplicaSet owned by a
Deployment folds into it), workload/pod/service *member of* namespace, service *selects*
pods, and everything *member of* the cluster CI (option ``cluster``).
Objects exported without ``apiVersion``/``kind`` (OpenShift Insights) are recognised by shape.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from opsdesk.cmdb.importers.common import clean_text, report
from opsdesk.cmdb.reconcile import DiscoveredCI, DiscoveredRelationship

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}
#: Kinds that are valid Kubernetes objects but not CIs: skipped quietly.
IGNORED_KINDS = {
    "Endpoints",
    "EndpointSlice",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "ConfigMap",
    "Secret",
    "Event",
    "ServiceAccount",
    "ClusterVersion",
    "Infrastructure",
    "Machine",
    "Ingress",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "Lease",
}
CLUSTER_LABELS = (
    "kubernetes.azure.com/cluster",
    "alpha.eksctl.io/cluster-name",
    "eks.amazonaws.com/cluster-name",
    "cloud.google.com/gke-cluster",
)


def _documents(payload: bytes, errors: list[dict[str, Any]]) -> list[Any]:
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        report(errors, 0, "file", f"Not UTF-8 text (byte {exc.start}).")
        return []
    json_error = None
    if text.lstrip()[:1] in "{[":
        try:
            return [orjson.loads(text)]  # fast; what it refuses, json reads or explains
        except orjson.JSONDecodeError:
            pass
        try:
            return [json.loads(text)]
        except json.JSONDecodeError as exc:
            json_error = exc  # perhaps several documents; YAML reads JSON too
    import yaml

    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        docs = [d for d in yaml.load_all(text, Loader=loader) if d is not None]
    except yaml.YAMLError as exc:
        if json_error is not None:
            report(
                errors,
                json_error.lineno,
                "file",
                f"Not valid JSON: {json_error.msg} (line {json_error.lineno}, column {json_error.colno}).",
            )
            return []
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        report(
            errors, line, "file", f"Not valid JSON or YAML: {getattr(exc, 'problem', None) or exc}."
        )
        return []
    if not docs:
        report(errors, 0, "file", "The file holds no Kubernetes objects.")
    return docs


def _guess_kind(obj: dict[str, Any]) -> str | None:
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    if "clusterID" in spec:
        return "ClusterVersion"
    if "containers" in spec or "containerStatuses" in status:
        return "Pod"
    if "nodeInfo" in status or "providerID" in spec or "podCIDR" in spec:
        return "Node"
    if "clusterIP" in spec or ("ports" in spec and "selector" in spec and "template" not in spec):
        return "Service"
    return None


def _objects(
    docs: list[Any], errors: list[dict[str, Any]]
) -> list[tuple[int, str, dict[str, Any]]]:
    objects: list[tuple[int, str, dict[str, Any]]] = []
    row = 0
    for doc in docs:
        if isinstance(doc, list):
            candidates, list_kind = doc, ""
        elif isinstance(doc, dict) and isinstance(doc.get("items"), list):
            candidates, list_kind = doc["items"], str(doc.get("kind") or "")
        else:
            candidates, list_kind = [doc], ""
        default_kind = list_kind[:-4] if list_kind.endswith("List") and list_kind != "List" else ""
        for obj in candidates:
            row += 1
            if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
                report(errors, row, "metadata", "Not a Kubernetes object (no metadata).")
                continue
            kind = str(obj.get("kind") or default_kind or _guess_kind(obj) or "")
            if not kind:
                report(errors, row, "kind", "Object without a kind that could not be recognised.")
                continue
            if not obj["metadata"].get("name"):
                report(errors, row, "metadata.name", "Object without a name.")
                continue
            objects.append((row, kind, obj))
    return objects


def _cluster_name(objects: list[tuple[int, str, dict[str, Any]]], options: dict[str, Any]) -> str:
    if options.get("cluster"):
        return str(options["cluster"])
    for _, _, obj in objects:
        meta = obj["metadata"]
        if meta.get("clusterName"):
            return str(meta["clusterName"])
        labels = meta.get("labels") or {}
        for label in CLUSTER_LABELS:
            if labels.get(label):
                return str(labels[label])
    return "kubernetes"


def _cpu(value: Any) -> int | None:
    text = str(value or "")
    return int(text) if text.isdigit() else None


def parse(payload: bytes, *, options: dict[str, Any]) -> tuple[list, list, list]:
    errors: list[dict[str, Any]] = []
    objects = _objects(_documents(payload, errors), errors)
    cluster = _cluster_name(objects, options)
    items: list[DiscoveredCI] = []
    rels: list[DiscoveredRelationship] = []
    cluster_key = "cluster"
    cluster_attrs: dict[str, Any] = {}
    for _row, kind, obj in objects:
        if kind == "ClusterVersion" and isinstance(obj.get("spec"), dict):
            cluster_attrs["cluster_uid"] = clean_text(obj["spec"].get("clusterID"))
    cluster_attrs = {k: v for k, v in cluster_attrs.items() if v}
    items.append(DiscoveredCI(cluster_key, "k8s_cluster", cluster, {}, cluster_attrs, row=0))

    def uid_of(kind: str, obj: dict[str, Any]) -> str:
        meta = obj["metadata"]
        return str(
            meta.get("uid") or f"{cluster}/{kind}/{meta.get('namespace') or ''}/{meta['name']}"
        )

    # Index first: replica sets folded into their deployments, names and uids to keys.
    by_uid: dict[str, str] = {}
    node_keys: dict[str, str] = {}
    ns_keys: dict[str, str] = {}
    workload_keys: dict[tuple[str, str, str], str] = {}
    folded: dict[str, str] = {}  # replica set uid or ns/name -> deployment key
    for _row, kind, obj in objects:
        meta = obj["metadata"]
        ns = meta.get("namespace") or ""
        key = f"{kind}:{ns}/{meta['name']}"
        if kind == "Node":
            node_keys[meta["name"]] = key
        elif kind == "Namespace":
            ns_keys[meta["name"]] = key
        elif kind in WORKLOAD_KINDS:
            workload_keys[(kind, ns, meta["name"])] = key
        by_uid[uid_of(kind, obj)] = key
    for _row, kind, obj in objects:
        if kind != "ReplicaSet":
            continue
        meta = obj["metadata"]
        ns = meta.get("namespace") or ""
        for owner in meta.get("ownerReferences") or []:
            if owner.get("kind") == "Deployment":
                target = by_uid.get(str(owner.get("uid"))) or workload_keys.get(
                    ("Deployment", ns, str(owner.get("name")))
                )
                if target:
                    folded[uid_of(kind, obj)] = target
                    folded[f"{ns}/{meta['name']}"] = target

    pods_by_ns: dict[str, list[tuple[str, dict[str, str]]]] = {}
    for row, kind, obj in objects:
        meta = obj["metadata"]
        name = clean_text(meta["name"], 200)
        ns = meta.get("namespace") or ""
        key = f"{kind}:{ns}/{meta['name']}"
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
        labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else {}
        uid = uid_of(kind, obj)
        attrs: dict[str, Any] = {"k8s_uid": uid, "cluster": cluster}
        if kind == "Node":
            info = status.get("nodeInfo") or {}
            attrs.update(
                {
                    "kubelet_version": clean_text(info.get("kubeletVersion")),
                    "os_image": clean_text(info.get("osImage")),
                }
            )
            if spec.get("providerID"):
                attrs["provider_id"] = clean_text(spec["providerID"])
            cpu = _cpu((status.get("capacity") or {}).get("cpu"))
            if cpu is not None:
                attrs["cpu_cores"] = cpu
            attrs = {k: v for k, v in attrs.items() if v != ""}
            items.append(DiscoveredCI(key, "k8s_node", name, {}, attrs, row))
        elif kind == "Namespace":
            items.append(DiscoveredCI(key, "k8s_namespace", name, {}, attrs, row))
        elif kind in WORKLOAD_KINDS:
            if uid in folded:
                continue  # a Deployment's ReplicaSet: the Deployment stands for it
            attrs.update({"kind": kind, "namespace": ns})
            if isinstance(spec.get("replicas"), int) and spec["replicas"] >= 0:
                attrs["replicas"] = spec["replicas"]
            items.append(DiscoveredCI(key, "k8s_workload", f"{ns}/{name}", {}, attrs, row))
        elif kind == "Pod":
            attrs.update({"namespace": ns, "phase": clean_text(status.get("phase"))})
            if spec.get("nodeName"):
                attrs["node"] = clean_text(spec["nodeName"])
                node = node_keys.get(spec["nodeName"])
                target = node or f"name:{spec['nodeName']}"
                rels.append(
                    DiscoveredRelationship(key, "runs_on", target, row, optional=node is None)
                )
            attrs = {k: v for k, v in attrs.items() if v != ""}
            items.append(DiscoveredCI(key, "k8s_pod", f"{ns}/{name}", {}, attrs, row))
            pods_by_ns.setdefault(ns, []).append((key, {str(k): str(v) for k, v in labels.items()}))
            for owner in meta.get("ownerReferences") or []:
                okind, oname, ouid = (
                    owner.get("kind"),
                    str(owner.get("name")),
                    str(owner.get("uid")),
                )
                if okind not in WORKLOAD_KINDS:
                    continue  # e.g. a static pod owned by its Node
                target = folded.get(ouid) or folded.get(f"{ns}/{oname}") or by_uid.get(ouid)
                if target is None and okind == "ReplicaSet":
                    template_hash = labels.get("pod-template-hash")
                    deployment = (
                        re.sub(rf"-{re.escape(str(template_hash))}$", "", oname)
                        if template_hash
                        else None
                    )
                    target = workload_keys.get(("Deployment", ns, deployment or ""))
                if target is not None:
                    rels.append(DiscoveredRelationship(key, "member_of", target, row))
                else:
                    rels.append(
                        DiscoveredRelationship(
                            key, "member_of", f"id:k8s_uid={ouid}", row, optional=True
                        )
                    )
        elif kind == "Service":
            attrs.update(
                {
                    "namespace": ns,
                    "cluster_ip": clean_text(spec.get("clusterIP")),
                    "service_type": clean_text(spec.get("type")),
                }
            )
            attrs = {k: v for k, v in attrs.items() if v != ""}
            items.append(DiscoveredCI(key, "k8s_service", f"{ns}/{name}", {}, attrs, row))
        elif kind in IGNORED_KINDS:
            continue
        else:
            continue  # other kinds (custom resources) are not CIs
        # Cluster-scoped objects belong to the cluster; namespaced ones to their namespace,
        # which belongs to the cluster (impact still reaches them, with 1 edge fewer per pod).
        ns_key = ns_keys.get(ns) if ns and kind != "Namespace" else None
        if ns_key is None:
            rels.append(DiscoveredRelationship(key, "member_of", cluster_key, row))
        if ns and kind != "Namespace":
            rels.append(
                DiscoveredRelationship(
                    key, "member_of", ns_key or f"name:{ns}", row, optional=ns_key is None
                )
            )
    # Services select the pods (of their namespace) whose labels include the selector. An index
    # of (namespace, label, value) -> pods keeps this linear in pods, not services x pods.
    by_label: dict[tuple[str, str, str], list[str]] = {}
    pod_labels: dict[str, dict[str, str]] = {}
    for ns, pods in pods_by_ns.items():
        for pod_key, labels in pods:
            pod_labels[pod_key] = labels
            for k, v in labels.items():
                by_label.setdefault((ns, k, v), []).append(pod_key)
    for row, kind, obj in objects:
        if kind != "Service":
            continue
        selector = (obj.get("spec") or {}).get("selector") or {}
        if not isinstance(selector, dict) or not selector:
            continue
        meta = obj["metadata"]
        ns = meta.get("namespace") or ""
        wanted = {str(k): str(v) for k, v in selector.items()}
        key = f"Service:{ns}/{meta['name']}"
        candidates = min((by_label.get((ns, k, v), []) for k, v in wanted.items()), key=len)
        for pod_key in candidates:
            labels = pod_labels[pod_key]
            if all(labels.get(k) == v for k, v in wanted.items()):
                rels.append(DiscoveredRelationship(key, "selects", pod_key, row))
    return items, rels, errors
