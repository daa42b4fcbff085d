"""Azure import: Resource Graph exports and ARM list responses.

Accepted shapes: a plain array of resources, ``{"data": [...]}``, the table format
``{"data": {"columns": [...], "rows": [...]}}``, ``{"value": [...]}`` and a single resource.
Virtual machines become servers, AKS clusters Kubernetes clusters, SQL servers and
databases databases, everything else a cloud resource; each resource is *member of* a
resource-group CI, VMs *depend on* their NICs and disks, databases on their server.
"""

from __future__ import annotations

from typing import Any

from opsdesk.cmdb.importers.common import clean_text, load_json, report
from opsdesk.cmdb.reconcile import DiscoveredCI, DiscoveredRelationship

RESOURCE_GROUP = "microsoft.resources/resourcegroups"


def _resources(doc: Any, errors: list[dict[str, Any]]) -> list[Any]:
    if isinstance(doc, dict) and isinstance(doc.get("responses"), dict):  # API spec example
        doc = (doc["responses"].get("200") or {}).get("body", doc)
    if isinstance(doc, list):
        return doc
    if not isinstance(doc, dict):
        report(errors, 0, "file", "Expected a JSON array or object of Azure resources.")
        return []
    if isinstance(doc.get("value"), list):
        return doc["value"]
    data = doc.get("data")
    if isinstance(data, list):
        return data
    if (
        isinstance(data, dict)
        and isinstance(data.get("columns"), list)
        and isinstance(data.get("rows"), list)
    ):
        names = [c.get("name") if isinstance(c, dict) else str(c) for c in data["columns"]]
        table = []
        for index, row in enumerate(data["rows"], 1):
            if not isinstance(row, list) or len(row) != len(names):
                report(errors, index, "rows", "A table row does not match the columns.")
                continue
            table.append(dict(zip(names, row, strict=True)))
        return table
    if "id" in doc:
        return [doc]
    report(errors, 0, "file", "No Azure resources found (expected value, data or an array).")
    return []


def _rg_of(resource_id: str) -> tuple[str, str, str] | None:
    parts = resource_id.strip("/").split("/")
    low = [p.lower() for p in parts]
    if len(parts) >= 4 and low[0] == "subscriptions" and low[2] == "resourcegroups":
        return parts[1], parts[3], f"/subscriptions/{parts[1]}/resourcegroups/{parts[3]}".lower()
    return None


def parse(payload: bytes, *, options: dict[str, Any]) -> tuple[list, list, list]:
    errors: list[dict[str, Any]] = []
    doc = load_json(payload, errors)
    if doc is None:
        return [], [], errors
    items: list[DiscoveredCI] = []
    rels: list[DiscoveredRelationship] = []
    keys: set[str] = set()
    groups: dict[str, DiscoveredCI] = {}
    for row, res in enumerate(_resources(doc, errors), 1):
        if not isinstance(res, dict):
            report(errors, row, "resource", "Not a JSON object.")
            continue
        rid = res.get("id")
        if not isinstance(rid, str) or not rid.strip():
            report(errors, row, "id", "A resource needs its id.")
            continue
        rid_low = rid.strip().lower()
        rtype = str(res.get("type") or "").lower()
        rg = _rg_of(rid)
        if not rtype and rg is not None and rg[2] == rid_low:
            rtype = RESOURCE_GROUP
        name = clean_text(res.get("name") or rid.rsplit("/", 1)[-1], 255)
        props = res.get("properties") if isinstance(res.get("properties"), dict) else {}
        subscription = str(res.get("subscriptionId") or (rg[0] if rg else ""))
        attrs: dict[str, Any] = {
            "provider": "azure",
            "account": subscription,
            "region": clean_text(res.get("location")),
            "resource_id": rid_low,
            "resource_type": rtype,
        }
        if rg is not None and rtype != RESOURCE_GROUP:
            attrs["resource_group"] = rg[1]
        tags = res.get("tags")
        if isinstance(tags, dict) and tags:
            attrs["cloud_tags"] = {clean_text(k, 200): clean_text(v) for k, v in tags.items()}
        key = rid_low
        if rtype == "microsoft.compute/virtualmachines":
            class_key = "server"
            attrs["virtual"] = True
            storage = props.get("storageProfile") or {}
            os_disk = storage.get("osDisk") or {}
            if os_disk.get("osType"):
                attrs["os"] = clean_text(os_disk["osType"])
            size = (props.get("hardwareProfile") or {}).get("vmSize")
            if size:
                attrs["model"] = clean_text(size)
            for nic in (props.get("networkProfile") or {}).get("networkInterfaces") or []:
                if isinstance(nic, dict) and nic.get("id"):
                    rels.append(
                        DiscoveredRelationship(
                            key,
                            "depends_on",
                            f"id:resource_id={nic['id'].lower()}",
                            row,
                            optional=True,
                        )
                    )
            for disk in [os_disk, *(storage.get("dataDisks") or [])]:
                disk_id = (
                    ((disk or {}).get("managedDisk") or {}).get("id")
                    if isinstance(disk, dict)
                    else None
                )
                if disk_id:
                    rels.append(
                        DiscoveredRelationship(
                            key,
                            "depends_on",
                            f"id:resource_id={disk_id.lower()}",
                            row,
                            optional=True,
                        )
                    )
        elif rtype == "microsoft.containerservice/managedclusters":
            class_key = "k8s_cluster"
            if props.get("kubernetesVersion"):
                attrs["version"] = clean_text(props["kubernetesVersion"])
        elif rtype in {"microsoft.sql/servers", "microsoft.sql/servers/databases"}:
            class_key = "database"
            attrs["engine"] = "Azure SQL"
            if props.get("fullyQualifiedDomainName"):
                attrs["fqdn"] = clean_text(props["fullyQualifiedDomainName"])
            if props.get("version"):
                attrs["version"] = clean_text(props["version"])
            if rtype.endswith("/databases"):
                server_id = rid_low.rsplit("/databases/", 1)[0]
                rels.append(
                    DiscoveredRelationship(
                        key, "depends_on", f"id:resource_id={server_id}", row, optional=True
                    )
                )
        else:
            class_key = "cloud_resource"
        attrs = {k: v for k, v in attrs.items() if v not in ("", None)}
        if key in keys:
            continue  # the same resource twice in one export: the first one stands
        keys.add(key)
        if rtype == RESOURCE_GROUP:
            if key in groups:
                groups[key].attributes.update(attrs)
                groups[key].row = row
                continue
            groups[key] = DiscoveredCI(key, "cloud_resource", name, {}, attrs, row)
            continue
        items.append(DiscoveredCI(key, class_key, name, {}, attrs, row))
        if rg is not None:
            if rg[2] not in groups:
                groups[rg[2]] = DiscoveredCI(
                    rg[2],
                    "cloud_resource",
                    rg[1],
                    {},
                    {
                        "provider": "azure",
                        "account": rg[0],
                        "resource_id": rg[2],
                        "resource_type": RESOURCE_GROUP,
                    },
                    row,
                )
            rels.append(DiscoveredRelationship(key, "member_of", rg[2], row))
    return [*groups.values(), *items], rels, errors
