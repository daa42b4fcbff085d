"""Azure Monitor action-group webhook with the common alert schema
(``schemaId: azureMonitorCommonAlertSchema``; ``data.essentials`` + ``data.alertContext``).

- status: ``monitorCondition`` Fired → firing, Resolved → resolved; a service-health
  notice whose stage (or status) is Resolved, and a resource-health event back to
  Available, are resolved too (activity-log alerts are always "Fired").
- severity: Sev0 critical, Sev1 major, Sev2 minor, Sev3 warning, Sev4 info. Alerts without a
  severity (budget / cost alerts) take the context's: actual spend over the threshold →
  warning, forecasted → info.
- title: the service-health notice's title, the resource-health event's title or the budget
  ("Budget X: actual spend $Y over $Z"); else the alert rule's name.
- resource: the first ``alertTargetIDs`` entry → ``cloud.resource_id`` (lower-cased),
  its subscription → ``cloud.account.id``, ``cloud.provider`` azure, and by resource type
  ``cloud.platform`` plus ``host.name`` (virtual machines), ``k8s.cluster.name`` (AKS) or
  ``service.name`` (App Service, Container Apps, Functions); a ``Computer`` dimension of a
  log alert → ``host.name``; Prometheus rule labels as in Alertmanager.
- fingerprint: derived from ``alertId`` (Azure keeps it from Fired to Resolved).

`alert_context` parses an ``alertContext`` on its own (metric, dynamic threshold,
availability test, log search v1 and v2, activity log, service health, resource health,
budget, smart detection, Prometheus).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from opsdesk.events.choices import EventStatus, Severity, Source
from opsdesk.events.normal import NormalisedEvent
from opsdesk.events.sources import Parsed, PayloadError, SourceRequest, adapter
from opsdesk.events.sources.common import (
    LABEL_SEVERITY,
    first_text,
    load_json,
    obj,
    prometheus_resource,
    severity_of,
    source_key,
    string_map,
    text,
    timestamp,
)

SCHEMA_ID = "azureMonitorCommonAlertSchema"
SEVERITY = {
    "sev0": Severity.CRITICAL,
    "sev1": Severity.MAJOR,
    "sev2": Severity.MINOR,
    "sev3": Severity.WARNING,
    "sev4": Severity.INFO,
}
CONDITIONS = {"fired": EventStatus.FIRING, "resolved": EventStatus.RESOLVED}
ACTIVITY_LEVEL = {
    "critical": Severity.CRITICAL,
    "error": Severity.MAJOR,
    "warning": Severity.WARNING,
    "informational": Severity.INFO,
    "verbose": Severity.INFO,
}
SECURITY_SEVERITY = {"high": Severity.MAJOR, "medium": Severity.MINOR, "low": Severity.WARNING}
HEALTH_SEVERITY = {
    "unavailable": Severity.MAJOR,
    "degraded": Severity.MINOR,
    "unknown": Severity.WARNING,
    "available": Severity.INFO,
}
SERVICE_HEALTH_SEVERITY = {
    "incident": Severity.MAJOR,
    "actionrequired": Severity.WARNING,
    "security": Severity.MAJOR,
}
#: Resource type → (cloud.platform, the attribute the resource's name fills).
PLATFORMS = {
    "microsoft.compute/virtualmachines": ("azure_vm", "host.name"),
    "microsoft.compute/virtualmachinescalesets": ("azure_vm", ""),
    "microsoft.containerservice/managedclusters": ("azure_aks", "k8s.cluster.name"),
    "microsoft.web/sites": ("azure_app_service", "service.name"),
    "microsoft.app/containerapps": ("azure_container_apps", "service.name"),
    "microsoft.redhatopenshift/openshiftclusters": ("azure_openshift", "k8s.cluster.name"),
}
RESOURCE_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)(?:/resourcegroups/(?P<rg>[^/]+))?"
    r"(?:/providers/(?P<ns>[^/]+)/(?P<type>[^/]+)/(?P<name>[^/]+))?",
    re.IGNORECASE,
)


def loose(value: Any) -> str:
    """A scalar as text, anything else as "" (alert contexts vary; they never fail a request)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float):
        return str(value)
    return ""


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def items(value: Any) -> list[Any]:
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return value if isinstance(value, list) else []


def azure_resource(resource_id: str) -> dict[str, str]:
    """OpenTelemetry attributes of an Azure resource id (lower-cased, as Azure compares)."""
    rid = resource_id.strip().rstrip("/").lower()
    if not rid:
        return {}
    resource = {"cloud.provider": "azure", "cloud.resource_id": rid}
    match = RESOURCE_ID.match(rid)
    if match:
        resource["cloud.account.id"] = match["sub"]
        if match["type"]:
            platform, attribute = PLATFORMS.get(f"{match['ns']}/{match['type']}", ("", ""))
            if platform:
                resource["cloud.platform"] = platform
            if attribute:
                # the original spelling of the name (resource ids are case-insensitive)
                original = resource_id.strip().rstrip("/").split("/")[-1]
                resource[attribute] = original
    return resource


def region_code(name: str) -> str:
    """Azure region display names to their codes ("East US" → "eastus"); "Global" → ""."""
    code = name.strip().lower().replace(" ", "")
    return "" if code in ("", "global") else code


def strip_html(value: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", value)).strip()


@dataclass
class Context:
    """What an alertContext adds to the essentials."""

    kind: str
    title: str = ""  # preferred over the rule's name
    fallback_title: str = ""  # when the alert has no rule name
    description: str = ""
    resolved: bool = False
    severity: str = ""  # used when essentials.severity is null
    resource: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


def _criteria(ctx: dict[str, Any], kind: str) -> Context:
    condition = mapping(ctx.get("condition"))
    lines: list[str] = []
    labels: dict[str, str] = {"azure.condition_type": loose(ctx.get("conditionType"))}
    resource: dict[str, str] = {}
    window = loose(condition.get("windowSize"))
    for criterion in items(condition.get("allOf")):
        c = mapping(criterion)
        what = first_text(
            loose(c.get("metricName")), loose(c.get("searchQuery")), loose(c.get("webTestName"))
        )
        parts = [what]
        if loose(c.get("operator")):
            parts.append(f"{loose(c.get('operator'))} {loose(c.get('threshold'))}")
        if loose(c.get("timeAggregation")):
            parts.append(
                f"({loose(c.get('timeAggregation'))}" + (f" over {window})" if window else ")")
            )
        value = loose(c.get("metricValue"))
        lines.append(" ".join(p for p in parts if p) + (f": {value}" if value else ""))
        for key in ("metricName", "metricNamespace", "webTestName"):
            if loose(c.get(key)):
                labels[f"azure.{key}"] = loose(c.get(key))
        for dim in items(c.get("dimensions")):
            d = mapping(dim)
            name, val = loose(d.get("name")), loose(d.get("value"))
            if name and val:
                labels[f"dimension.{name}"] = val
                if name.lower() == "computer":
                    resource["host.name"] = val
        for row in items(c.get("event")):  # simple log alerts carry the matching record
            for cell in items(row):
                cell = mapping(cell)
                if loose(cell.get("name")) in ("problemId", "outerMessage", "operation_Name"):
                    lines.append(f"{loose(cell.get('name'))}: {loose(cell.get('value'))}")
    return Context(
        kind=kind,
        fallback_title=lines[0] if lines else "",
        description="\n".join(line for line in lines if line),
        resource=resource,
        labels={k: v for k, v in labels.items() if v},
    )


def _log_v1(ctx: dict[str, Any]) -> Context:
    resource: dict[str, str] = {}
    labels: dict[str, str] = {}
    for key in ("WorkspaceId", "ApplicationId", "AlertType", "SeverityDescription"):
        if loose(ctx.get(key)):
            labels[f"azure.{key}"] = loose(ctx.get(key))
    for dim in items(ctx.get("Dimensions")):
        d = mapping(dim)
        name, val = loose(d.get("name")), loose(d.get("value"))
        if name and val:
            labels[f"dimension.{name}"] = val
            if name.lower() == "computer":
                resource["host.name"] = val
    affected = [loose(x) for x in items(ctx.get("AffectedConfigurationItems")) if loose(x)]
    if affected:
        resource.setdefault("host.name", affected[0])
    query = loose(ctx.get("SearchQuery"))
    count = loose(ctx.get("ResultCount"))
    description = f"{query}\n{count} result(s)" if count else query
    threshold = loose(ctx.get("Threshold"))
    if threshold:
        description += f"; threshold {loose(ctx.get('Operator'))} {threshold}".rstrip()
    return Context(
        kind="log",
        fallback_title=query[:200],
        description=description,
        severity=severity_of(loose(ctx.get("SeverityDescription")), LABEL_SEVERITY, ""),
        resource=resource,
        labels=labels,
    )


def _activity(ctx: dict[str, Any]) -> Context:
    operation = loose(ctx.get("operationName"))
    props = mapping(ctx.get("properties"))
    status = loose(ctx.get("status"))
    lowered = operation.lower()
    labels = {
        k: v
        for k, v in {
            "azure.operation": operation,
            "azure.event_source": loose(ctx.get("eventSource")),
            "azure.status": status,
            "azure.caller": loose(ctx.get("caller")),
            "azure.correlation_id": loose(ctx.get("correlationId")),
        }.items()
        if v
    }
    if lowered.startswith("microsoft.servicehealth/"):
        stage = loose(props.get("stage"))
        incident_type = loose(props.get("incidentType"))
        services = []
        regions = []
        for impacted in items(props.get("impactedServices")):
            i = mapping(impacted)
            services.append(loose(i.get("ServiceName")))
            regions.extend(
                loose(mapping(r).get("RegionName")) for r in items(i.get("ImpactedRegions"))
            )
        labels.update(
            {
                k: v
                for k, v in {
                    "azure.service": loose(props.get("service")),
                    "azure.incident_type": incident_type,
                    "azure.tracking_id": loose(props.get("trackingId")),
                    "azure.stage": stage,
                    "azure.impacted_services": ", ".join(s for s in services if s),
                    "azure.impacted_regions": ", ".join(r for r in regions if r),
                }.items()
                if v
            }
        )
        region = region_code(loose(props.get("region")))
        return Context(
            kind="service-health",
            title=first_text(loose(props.get("title")), loose(props.get("defaultLanguageTitle"))),
            description=strip_html(
                first_text(
                    loose(props.get("communication")), loose(props.get("defaultLanguageContent"))
                )
            ),
            resolved=stage.lower() in ("resolved", "complete") or status.lower() == "resolved",
            severity=SERVICE_HEALTH_SEVERITY.get(incident_type.lower(), Severity.INFO),
            resource={"cloud.provider": "azure", **({"cloud.region": region} if region else {})},
            labels=labels,
        )
    if lowered.startswith("microsoft.resourcehealth/"):
        current = loose(props.get("currentHealthStatus"))
        labels.update(
            {
                k: v
                for k, v in {
                    "azure.health_status": current,
                    "azure.previous_health_status": loose(props.get("previousHealthStatus")),
                    "azure.health_cause": loose(props.get("cause")),
                    "azure.health_type": loose(props.get("type")),
                }.items()
                if v
            }
        )
        return Context(
            kind="resource-health",
            title=loose(props.get("title")),
            description=first_text(
                loose(props.get("details")),
                f"Health {loose(props.get('previousHealthStatus'))} → {current}",
            ),
            resolved=current.lower() == "available" or "/resolved/" in lowered,
            severity=HEALTH_SEVERITY.get(current.lower(), Severity.WARNING),
            labels=labels,
        )
    # Administrative, autoscale, policy, security, recommendation ... activity-log events.
    target = first_text(
        loose(mapping(ctx.get("authorization")).get("scope")),
        loose(props.get("entity")),
        loose(props.get("resourceName")),
    )
    resource = azure_resource(target) if target.lower().startswith("/subscriptions/") else {}
    location = region_code(loose(props.get("resourceLocation")))
    if location:
        resource["cloud.region"] = location
    if loose(props.get("compromisedEntity")):
        resource["host.name"] = loose(props.get("compromisedEntity"))
    severity = SECURITY_SEVERITY.get(loose(props.get("severity")).lower()) or ACTIVITY_LEVEL.get(
        loose(ctx.get("level")).lower(), Severity.INFO
    )
    message = first_text(loose(props.get("message")), loose(props.get("description")), operation)
    return Context(
        kind="activity-log",
        fallback_title=f"{operation} {status}".strip(),
        description="\n".join(
            p for p in (message, f"by {loose(ctx.get('caller'))}" if ctx.get("caller") else "") if p
        ),
        severity=severity,
        resource=resource,
        labels=labels,
    )


def _budget(ctx: dict[str, Any]) -> Context:
    data = mapping(ctx.get("AlertData"))
    name = loose(data.get("BudgetName"))
    kind = loose(data.get("ThresholdType")) or "Actual"
    spent = first_text(loose(data.get("ForecastedTotalForPeriod")), loose(data.get("SpentAmount")))
    if kind.lower() != "forecasted":
        spent = loose(data.get("SpentAmount"))
    limit = first_text(
        loose(data.get("NotificationThresholdAmount")), loose(data.get("BudgetThreshold"))
    )
    scope = loose(data.get("Scope"))
    resource = azure_resource(scope)
    budget_id = loose(data.get("BudgetId"))
    if budget_id:
        resource["cloud.resource_id"] = budget_id.lower()
    return Context(
        kind="budget",
        title=f"Budget {name}: {kind.lower()} spend {spent} over {limit}".strip(),
        description=f"Budget {loose(data.get('BudgetThreshold'))} {loose(data.get('Unit'))}".strip(),
        severity=Severity.INFO if kind.lower() == "forecasted" else Severity.WARNING,
        resource=resource,
        labels={
            k: v
            for k, v in {
                "azure.budget": name,
                "azure.threshold_type": kind,
                "azure.budget_type": loose(data.get("BudgetType")),
            }.items()
            if v
        },
    )


def _smart(ctx: dict[str, Any]) -> Context:
    detected, normal = loose(ctx.get("DetectedValue")), loose(ctx.get("NormalValue"))
    return Context(
        kind="smart-detection",
        fallback_title=loose(ctx.get("SmartDetectorName")),
        description="\n".join(
            p
            for p in (
                loose(ctx.get("DetectionSummary")),
                f"Detected {detected}, normally {normal}" if detected else "",
            )
            if p
        ),
        labels={"azure.smart_detector": loose(ctx.get("SmartDetectorId"))}
        if ctx.get("SmartDetectorId")
        else {},
    )


def _prometheus(ctx: dict[str, Any]) -> Context:
    labels = {k: loose(v) for k, v in mapping(ctx.get("labels")).items() if loose(v)}
    annotations = {k: loose(v) for k, v in mapping(ctx.get("annotations")).items() if loose(v)}
    expression = loose(ctx.get("expression"))
    return Context(
        kind="prometheus",
        fallback_title=first_text(annotations.get("summary"), labels.get("alertname"), expression),
        description="\n".join(
            p
            for p in (
                annotations.get("description", ""),
                f"{expression} = {loose(ctx.get('expressionValue'))}" if expression else "",
            )
            if p
        ),
        severity=severity_of(labels.get("severity"), LABEL_SEVERITY, ""),
        resource=prometheus_resource(labels),
        labels={**labels, "azure.rule_group": loose(ctx.get("ruleGroup"))}
        if ctx.get("ruleGroup")
        else labels,
    )


def alert_context(context: Any, where: str = "data.alertContext") -> Context:
    """Parse one alertContext (any kind); unknown kinds give an empty `Context`."""
    if context is None:
        return Context(kind="none")
    ctx = obj(context, where)
    if "conditionType" in ctx:
        condition_type = loose(ctx.get("conditionType"))
        if condition_type == "LogQueryCriteria":
            return _criteria(ctx, "log")
        if condition_type == "WebtestLocationAvailabilityCriteria":
            return _criteria(ctx, "availability")
        return _criteria(ctx, "metric")
    if "SearchQuery" in ctx:
        return _log_v1(ctx)
    if "AlertData" in ctx or loose(ctx.get("AlertCategory")).lower() == "budgets":
        return _budget(ctx)
    if "SmartDetectorId" in ctx or "DetectionSummary" in ctx:
        return _smart(ctx)
    if "expression" in ctx and ("ruleGroup" in ctx or "labels" in ctx):
        return _prometheus(ctx)
    if "operationName" in ctx or "eventSource" in ctx:
        return _activity(ctx)
    return Context(kind="unknown")


@adapter(Source.AZURE_MONITOR)
def parse(request: SourceRequest) -> Parsed:
    body = obj(load_json(request.body), "body")
    schema = text(body.get("schemaId"), "schemaId")
    if schema != SCHEMA_ID:
        raise PayloadError(
            f"schemaId: must be {SCHEMA_ID!r} (turn on the common alert schema for the "
            "action group's webhook)" + (f", not {schema!r}." if schema else ".")
        )
    data = obj(body.get("data"), "data")
    ess = obj(data.get("essentials"), "data.essentials")
    condition = text(ess.get("monitorCondition"), "data.essentials.monitorCondition", required=True)
    if condition.lower() not in CONDITIONS:
        raise PayloadError(
            f"data.essentials.monitorCondition: one of Fired, Resolved (not {condition!r})."
        )
    ctx = alert_context(data.get("alertContext"))
    status = CONDITIONS[condition.lower()]
    if ctx.resolved:
        status = EventStatus.RESOLVED
    raw_severity = text(ess.get("severity"), "data.essentials.severity").strip()
    if raw_severity and raw_severity.lower() not in SEVERITY:
        raise PayloadError(
            f"data.essentials.severity: one of Sev0, Sev1, Sev2, Sev3, Sev4 (not {raw_severity!r})."
        )
    severity = SEVERITY.get(raw_severity.lower()) or ctx.severity or Severity.WARNING
    targets = ess.get("alertTargetIDs")
    if targets is not None and not isinstance(targets, list):
        raise PayloadError("data.essentials.alertTargetIDs: must be an array.")
    target_ids = [
        text(t, f"data.essentials.alertTargetIDs[{i}]") for i, t in enumerate(targets or [])
    ]
    resource = {**(azure_resource(target_ids[0]) if target_ids else {}), **ctx.resource}
    resource.setdefault("cloud.provider", "azure")
    if "cloud.account.id" not in resource:
        alert_id_match = RESOURCE_ID.match(text(ess.get("alertId"), "data.essentials.alertId"))
        if alert_id_match and not alert_id_match["sub"].startswith("<"):
            resource["cloud.account.id"] = alert_id_match["sub"].lower()
    rule = text(ess.get("alertRule"), "data.essentials.alertRule").strip()
    monitoring = text(ess.get("monitoringService"), "data.essentials.monitoringService")
    alert_id = text(ess.get("alertId"), "data.essentials.alertId").strip()
    labels = {
        **string_map(data.get("customProperties"), "data.customProperties"),
        **ctx.labels,
        **{
            k: v
            for k, v in {
                "azure.alert_rule": rule,
                "azure.signal_type": text(ess.get("signalType"), "data.essentials.signalType"),
                "azure.monitoring_service": monitoring,
                "azure.context": ctx.kind,
                "azure.configuration_items": ", ".join(
                    loose(c) for c in ess.get("configurationItems") or [] if loose(c)
                )
                if isinstance(ess.get("configurationItems"), list)
                else "",
                "azure.other_targets": ", ".join(t.lower() for t in target_ids[1:]),
            }.items()
            if v
        },
    }
    description = "\n".join(
        p
        for p in (
            text(ess.get("description"), "data.essentials.description").strip(),
            ctx.description,
        )
        if p
    )
    return Parsed(
        [
            NormalisedEvent(
                source=Source.AZURE_MONITOR,
                status=status,
                severity=severity,
                title=first_text(
                    ctx.title, rule, ctx.fallback_title, monitoring, "Azure Monitor alert"
                ),
                description=description,
                external_id=alert_id,
                fingerprint=source_key("azure", alert_id.lower()) if alert_id else "",
                resource=resource,
                labels=labels,
                starts_at=timestamp(ess.get("firedDateTime"), "data.essentials.firedDateTime"),
                ends_at=timestamp(ess.get("resolvedDateTime"), "data.essentials.resolvedDateTime")
                if status == EventStatus.RESOLVED
                else None,
            )
        ]
    )
