"""Google Cloud import: Cloud Asset Inventory exports.

A JSON array, newline-delimited JSON (one asset per line), a single asset, or an API
response wrapping ``assets`` (``batchGetAssetsHistory``); snake_case (``asset_type``) and
camelCase (``assetType``) both work. Compute instances become servers, GKE clusters
Kubernetes clusters, Cloud SQL instances databases, everything else a cloud resource.
"""

from __future__ import annotations

import json
import re
from typing import Any

from opsdesk.cmdb.importers.common import clean_text, last_segment, report
from opsdesk.cmdb.reconcile import DiscoveredCI, DiscoveredRelationship

CLASSES = {
    "compute.googleapis.com/Instance": "server",
    "container.googleapis.com/Cluster": "k8s_cluster",
    "sqladmin.googleapis.com/Instance": "database",
}


def _assets(payload: bytes, errors: list[dict[str, Any]]) -> list[tuple[int, Any]]:
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        report(errors, 0, "file", f"Not UTF-8 text (byte {exc.start}).")
        return []
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        doc = None
        lines = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                lines.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                report(errors, number, "file", f"Not valid JSON: {exc.msg} (column {exc.colno}).")
        return lines
    if isinstance(doc, dict) and isinstance(doc.get("assets"), list):
        doc = [a.get("asset", a) if isinstance(a, dict) else a for a in doc["assets"]]
    if isinstance(doc, dict):
        doc = [doc]
    if not isinstance(doc, list):
        report(errors, 0, "file", "Expected Cloud Asset Inventory assets.")
        return []
    return list(enumerate(doc, 1))


def _location(name: str, data: dict[str, Any]) -> str:
    for key in ("zone", "region", "location"):
        if data.get(key):
            return last_segment(data[key])
    match = re.search(r"/(?:zones|regions|locations)/([^/]+)", name)
    return match.group(1) if match else ""


def _project(name: str, asset: dict[str, Any], resource: dict[str, Any]) -> str:
    match = re.search(r"/projects/([^/]+)", name)
    if match:
        return match.group(1)
    for ancestor in asset.get("ancestors") or []:
        if str(ancestor).startswith("projects/"):
            return str(ancestor).split("/", 1)[1]
    match = re.search(r"/projects/([^/]+)", str(resource.get("parent") or ""))
    return match.group(1) if match else ""


def parse(payload: bytes, *, options: dict[str, Any]) -> tuple[list, list, list]:
    errors: list[dict[str, Any]] = []
    items: list[DiscoveredCI] = []
    rels: list[DiscoveredRelationship] = []
    seen: set[str] = set()
    for row, asset in _assets(payload, errors):
        if not isinstance(asset, dict):
            report(errors, row, "asset", "Not a JSON object.")
            continue
        asset_type = str(asset.get("asset_type") or asset.get("assetType") or "")
        name = str(asset.get("name") or "")
        resource = asset.get("resource")
        if not isinstance(resource, dict):
            if asset.get("iam_policy") or asset.get("iamPolicy") or asset.get("org_policy"):
                continue  # a policy record, not a resource
            report(errors, row, "resource", "An asset without its resource.")
            continue
        if not name or not asset_type:
            report(errors, row, "name" if not name else "asset_type", "Missing.")
            continue
        data = resource.get("data") if isinstance(resource.get("data"), dict) else {}
        key = name.lower()
        if key in seen:
            continue
        seen.add(key)
        class_key = CLASSES.get(asset_type, "cloud_resource")
        attrs: dict[str, Any] = {
            "provider": "gcp",
            "account": _project(name, asset, resource),
            "region": _location(name, data),
            "resource_id": key,
            "resource_type": asset_type,
        }
        labels = data.get("labels") or data.get("resourceLabels")
        if isinstance(labels, dict) and labels:
            attrs["cloud_tags"] = {clean_text(k, 200): clean_text(v) for k, v in labels.items()}
        fields: dict[str, Any] = {}
        if class_key == "server":
            attrs["virtual"] = True
            if data.get("machineType"):
                attrs["model"] = last_segment(data["machineType"])
            for disk in data.get("disks") or data.get("disk") or []:
                source = disk.get("source") if isinstance(disk, dict) else None
                if source:
                    target = re.sub(
                        r"^https://www\.googleapis\.com/compute/v1/",
                        "//compute.googleapis.com/",
                        source,
                    )
                    rels.append(
                        DiscoveredRelationship(
                            key,
                            "depends_on",
                            f"id:resource_id={target.lower()}",
                            row,
                            optional=True,
                        )
                    )
        elif class_key == "k8s_cluster":
            if data.get("currentMasterVersion"):
                attrs["version"] = clean_text(data["currentMasterVersion"])
        elif class_key == "database":
            if data.get("databaseVersion"):
                attrs["engine"] = clean_text(data["databaseVersion"])
            if data.get("connectionName"):
                attrs["fqdn"] = clean_text(data["connectionName"])
        if str(data.get("status") or data.get("state") or "").upper() in {"TERMINATED", "DELETED"}:
            fields["status"] = "retired"
        attrs = {k: v for k, v in attrs.items() if v not in ("", None)}
        display = data.get("name") if isinstance(data.get("name"), str) else None
        label = clean_text(data.get("displayName") or display or last_segment(name), 255)
        if "/" in label:
            label = last_segment(label)
        items.append(DiscoveredCI(key, class_key, label or last_segment(name), fields, attrs, row))
    return items, rels, errors
