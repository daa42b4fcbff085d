"""AWS import: AWS Config configuration items and ``ec2 describe-instances`` output.

Accepted shapes: ``{"configurationItems": [...]}`` (GetResourceConfigHistory), a single
configuration item, a change-notification envelope (``configurationItem``), an array of
items, ``SelectResourceConfig`` (``Results`` of JSON-encoded strings) and
``{"Reservations": [{"Instances": [...]}]}``. EC2 instances become servers, RDS instances
databases, EKS clusters Kubernetes clusters, everything else a cloud resource. Config
``relationships`` to resources in the same file become *depends on* / *member of*.
"""

from __future__ import annotations

from typing import Any

from opsdesk.cmdb.importers.common import clean_text, load_json, maybe_json, report
from opsdesk.cmdb.reconcile import DiscoveredCI, DiscoveredRelationship

CLASSES = {
    "AWS::EC2::Instance": "server",
    "AWS::RDS::DBInstance": "database",
    "AWS::RDS::DBCluster": "database",
    "AWS::EKS::Cluster": "k8s_cluster",
}


def _config_items(doc: Any, errors: list[dict[str, Any]]) -> list[tuple[int, Any]]:
    if isinstance(doc, list):
        return list(enumerate(doc, 1))
    if not isinstance(doc, dict):
        report(errors, 0, "file", "Expected a JSON object or array of AWS resources.")
        return []
    if isinstance(doc.get("configurationItems"), list):
        return list(enumerate(doc["configurationItems"], 1))
    if isinstance(doc.get("configurationItem"), dict):
        return [(1, doc["configurationItem"])]
    if isinstance(doc.get("Results"), list):
        out = []
        for row, text in enumerate(doc["Results"], 1):
            value = maybe_json(text)
            if not isinstance(value, dict):
                report(errors, row, "Results", "Not a JSON-encoded resource.")
                continue
            out.append((row, value))
        return out
    if "resourceType" in doc or "resourceId" in doc:
        return [(1, doc)]
    report(errors, 0, "file", "No AWS Config items or EC2 reservations found.")
    return []


def _arn_parts(arn: str) -> dict[str, str]:
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return {}
    return {"service": parts[2], "region": parts[3], "account": parts[4], "resource": parts[5]}


def _name_tag(tags: Any) -> str:
    if isinstance(tags, dict):
        return str(tags.get("Name") or "")
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, dict) and tag.get("Key") == "Name":
                return str(tag.get("Value") or "")
    return ""


def _tags(tags: Any) -> dict[str, str]:
    if isinstance(tags, dict):
        return {clean_text(k, 200): clean_text(v) for k, v in tags.items()}
    if isinstance(tags, list):
        return {
            clean_text(t.get("Key"), 200): clean_text(t.get("Value"))
            for t in tags
            if isinstance(t, dict) and t.get("Key")
        }
    return {}


def _from_config(
    row: int, ci: dict[str, Any], errors: list[dict[str, Any]]
) -> tuple[DiscoveredCI, list[dict]] | None:
    arn = str(ci.get("arn") or ci.get("ARN") or "")
    resource_id = str(ci.get("resourceId") or "")
    if not arn and resource_id.startswith("arn:"):
        arn = resource_id
    if not arn and not resource_id:
        report(errors, row, "resourceId", "A configuration item needs its resourceId or ARN.")
        return None
    parts = _arn_parts(arn)
    rtype = str(ci.get("resourceType") or "")
    if not rtype and parts:
        rtype = f"AWS::{parts['service'].upper()}"
    config = maybe_json(ci.get("configuration"))
    config = config if isinstance(config, dict) else {}
    tags = ci.get("tags") or config.get("tags") or config.get("Tags")
    name = (
        ci.get("resourceName")
        or _name_tag(tags)
        or (parts.get("resource", "").split(":")[-1].split("/")[-1] if parts else "")
        or resource_id
    )
    attrs: dict[str, Any] = {
        "provider": "aws",
        "account": str(ci.get("accountId") or ci.get("awsAccountId") or parts.get("account", "")),
        "region": str(ci.get("awsRegion") or parts.get("region", "")),
        "resource_id": (arn or resource_id).lower(),
        "resource_type": rtype,
    }
    if _tags(tags):
        attrs["cloud_tags"] = _tags(tags)
    class_key = CLASSES.get(rtype, "cloud_resource")
    fields: dict[str, Any] = {}
    if class_key == "server":
        attrs["virtual"] = True
        if config.get("privateDnsName"):
            attrs["fqdn"] = clean_text(config["privateDnsName"])
        if config.get("privateIpAddress"):
            attrs["ip_address"] = clean_text(config["privateIpAddress"])
        if config.get("instanceType"):
            attrs["model"] = clean_text(config["instanceType"])
    elif class_key == "database":
        if config.get("engine"):
            attrs["engine"] = clean_text(config["engine"])
    elif class_key == "k8s_cluster" and config.get("version"):
        attrs["version"] = clean_text(config["version"])
    if ci.get("configurationItemStatus") in {"ResourceDeleted", "ResourceDeletedNotRecorded"}:
        fields["status"] = "retired"
    attrs = {k: v for k, v in attrs.items() if v not in ("", None)}
    item = DiscoveredCI(attrs["resource_id"], class_key, clean_text(name, 255), fields, attrs, row)
    item.attributes["aws_resource_id"] = resource_id or arn
    return item, [r for r in ci.get("relationships") or [] if isinstance(r, dict)]


def _from_instances(doc: dict[str, Any], errors: list[dict[str, Any]]) -> list[DiscoveredCI]:
    items = []
    row = 0
    for reservation in doc.get("Reservations") or []:
        if not isinstance(reservation, dict):
            continue
        owner = str(reservation.get("OwnerId") or "")
        for inst in reservation.get("Instances") or []:
            row += 1
            if not isinstance(inst, dict) or not inst.get("InstanceId"):
                report(errors, row, "InstanceId", "An instance needs its InstanceId.")
                continue
            zone = str((inst.get("Placement") or {}).get("AvailabilityZone") or "")
            region = zone[:-1] if zone and zone[-1].isalpha() else zone
            instance_id = str(inst["InstanceId"])
            arn = f"arn:aws:ec2:{region}:{owner}:instance/{instance_id}"
            attrs: dict[str, Any] = {
                "provider": "aws",
                "account": owner,
                "region": region,
                "resource_id": arn.lower(),
                "resource_type": "AWS::EC2::Instance",
                "aws_resource_id": instance_id,
                "virtual": True,
                "model": clean_text(inst.get("InstanceType")),
                "fqdn": clean_text(inst.get("PrivateDnsName")),
                "ip_address": clean_text(inst.get("PrivateIpAddress")),
            }
            if _tags(inst.get("Tags")):
                attrs["cloud_tags"] = _tags(inst.get("Tags"))
            attrs = {k: v for k, v in attrs.items() if v not in ("", None)}
            fields: dict[str, Any] = {}
            if (inst.get("State") or {}).get("Name") == "terminated":
                fields["status"] = "retired"
            name = _name_tag(inst.get("Tags")) or instance_id
            items.append(
                DiscoveredCI(
                    attrs["resource_id"], "server", clean_text(name, 255), fields, attrs, row
                )
            )
    return items


def parse(payload: bytes, *, options: dict[str, Any]) -> tuple[list, list, list]:
    errors: list[dict[str, Any]] = []
    doc = load_json(payload, errors)
    if doc is None:
        return [], [], errors
    if isinstance(doc, dict) and isinstance(doc.get("Reservations"), list):
        return _from_instances(doc, errors), [], errors
    items: list[DiscoveredCI] = []
    pending: list[tuple[DiscoveredCI, list[dict]]] = []
    for row, ci in _config_items(doc, errors):
        if not isinstance(ci, dict):
            report(errors, row, "configurationItem", "Not a JSON object.")
            continue
        found = _from_config(row, ci, errors)
        if found is not None:
            items.append(found[0])
            pending.append(found)
    by_resource_id = {str(i.attributes.get("aws_resource_id")): i.key for i in items}
    rels: list[DiscoveredRelationship] = []
    for item, relationships in pending:
        for rel in relationships:
            target = by_resource_id.get(str(rel.get("resourceId") or rel.get("resourceName") or ""))
            if target is None or target == item.key:
                continue  # only resources of the same file
            label = str(rel.get("relationshipName") or rel.get("name") or "")
            if label.startswith("Is contained in"):
                rels.append(DiscoveredRelationship(item.key, "member_of", target, item.row))
            elif label.startswith("Contains"):
                rels.append(DiscoveredRelationship(target, "member_of", item.key, item.row))
            else:
                rels.append(DiscoveredRelationship(item.key, "depends_on", target, item.row))
    return items, rels, errors
