"""Azure Monitor adapter (common alert schema): every sample, each alertContext fragment,
errors naming the field, HTTP end to end."""

from __future__ import annotations

import json

import pytest

from opsdesk.core.testing.api import assert_error
from opsdesk.events.models import InboxEntry
from opsdesk.events.sources import PayloadError, SourceRequest
from opsdesk.events.sources.azure_monitor import alert_context, parse
from opsdesk.events.tests.helpers import PAYLOADS, integration, payload, post

SUB = "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e"
RG = f"/subscriptions/{SUB}/resourcegroups/test-rg/providers"
VM = f"{RG}/microsoft.compute/virtualmachines/test-vm"
APPINSIGHTS = f"{RG}/microsoft.insights/components/test-applicationinsights"
STORAGE = f"{RG}/microsoft.storage/storageaccounts/test-storageaccount"
WORKSPACE = f"{RG}/microsoft.operationalinsights/workspaces/test-loganalyticsworkspace"
GEN2 = (
    "/subscriptions/<subscription id>/resourcegroups/pipelinealertrg/providers/"
    "microsoft.compute/virtualmachines/wcus-r2-gen2"
)

# file → (status, severity, title, expected resource attributes (subset), context kind)
FULL = {
    "full-metric-alert-static-resolved-with-customproperties.json": (
        "resolved",
        "warning",
        "WCUS-R2-Gen2",
        {"cloud.resource_id": GEN2, "host.name": "wcus-r2-gen2", "cloud.platform": "azure_vm"},
        "metric",
    ),
    "full-metric-alert-static-resolved.json": (
        "resolved",
        "warning",
        "WCUS-R2-Gen2",
        {"cloud.resource_id": GEN2, "cloud.provider": "azure"},
        "metric",
    ),
    "test-action-activity-log-alert.json": (
        "firing",
        "info",
        "test-activityLogAlertRule",
        {"cloud.resource_id": VM, "cloud.account.id": SUB, "host.name": "test-VM"},
        "activity-log",
    ),
    "test-action-availability-test-alert.json": (
        "firing",
        "info",
        "test-availabilityTest-test-applicationInsights",
        {"cloud.resource_id": APPINSIGHTS, "cloud.account.id": SUB},
        "availability",
    ),
    "test-action-budget-alert.json": (
        "firing",
        "info",
        "Budget Test_forcasted_budget: forecasted spend $1111.11 over $50.00",
        {
            "cloud.resource_id": f"/subscriptions/{SUB}/providers/microsoft.consumption/budgets/"
            "test_forcasted_budget",
            "cloud.account.id": SUB,
        },
        "budget",
    ),
    "test-action-cost-budget-alert.json": (
        "firing",
        "warning",
        "Budget Test_actual_cost_budget: actual spend $11,111.00 over $25.00",
        {"cloud.account.id": SUB},
        "budget",
    ),
    "test-action-forecasted-budget-alert.json": (
        "firing",
        "info",
        "Budget Test_forcasted_budget: forecasted spend $1111.11 over $50.00",
        {"cloud.account.id": SUB},
        "budget",
    ),
    "test-action-log-alert-v1-metric-measurement.json": (
        "firing",
        "info",
        "test-logAlertRule-v1-metricMeasurement",
        {"cloud.resource_id": WORKSPACE, "cloud.account.id": SUB},
        "log",
    ),
    "test-action-log-alert-v1-number-of-results.json": (
        "firing",
        "info",
        "test-logAlertRule-v1-numResults",
        {"cloud.resource_id": WORKSPACE, "host.name": "test-computer"},
        "log",
    ),
    "test-action-log-alert-v2.json": (
        "firing",
        "info",
        "test-logAlertRule-v2",
        {"cloud.resource_id": WORKSPACE, "host.name": "test-computer"},
        "log",
    ),
    "test-action-metric-alert-dynamic-threshold.json": (
        "firing",
        "info",
        "test-dynamicMetricAlertRule",
        {"cloud.resource_id": STORAGE},
        "metric",
    ),
    "test-action-metric-alert-static-threshold.json": (
        "firing",
        "info",
        "test-metricAlertRule",
        {"cloud.resource_id": STORAGE, "cloud.account.id": SUB},
        "metric",
    ),
    "test-action-resource-health-alert.json": (
        "firing",
        "info",
        "Rebooted by user",
        {"cloud.resource_id": VM, "host.name": "test-VM"},
        "resource-health",
    ),
    "test-action-service-health-alert-resolved.json": (
        "resolved",  # monitorCondition says Fired, the notice's stage says Resolved
        "info",
        "TestActionGroup-TestServiceHealthAlert",
        {"cloud.resource_id": f"/subscriptions/{SUB}", "cloud.account.id": SUB},
        "service-health",
    ),
    "test-action-smart-alert.json": (
        "firing",
        "info",
        "test-SmartAlertRule",
        {"cloud.resource_id": APPINSIGHTS},
        "smart-detection",
    ),
}

# fragment → (kind, title or fallback title, resolved, context severity, resource subset)
FRAGMENTS = {
    "fragment-alertcontext-activity-log-administrative.json": (
        "activity-log",
        "Microsoft.Compute/virtualMachines/restart/action Succeeded",
        False,
        "info",
        {"host.name": "WCUS-R2-ActLog", "cloud.platform": "azure_vm"},
    ),
    "fragment-alertcontext-activity-log-autoscale.json": (
        "activity-log",
        "Microsoft.Insights/AutoscaleSettings/Scaleup/Action Succeeded",
        False,
        "info",
        {
            "cloud.resource_id": "/subscriptions/<guid>/resourcegroups/voiceassistancedemo/"
            "providers/microsoft.compute/virtualmachinescalesets/alexademo"
        },
    ),
    "fragment-alertcontext-activity-log-policy.json": (
        "activity-log",
        "Microsoft.Authorization/policies/audit/action Succeeded",
        False,
        "warning",
        {"cloud.region": "eastus2"},
    ),
    "fragment-alertcontext-activity-log-security.json": (
        "activity-log",
        "Microsoft.Security/locations/alerts/activate/action Active",
        False,
        "warning",  # the security alert's own severity Low
        {"host.name": "testVM"},
    ),
    "fragment-alertcontext-log-search-application-insights.json": (
        "log",
        'requests | where resultCode == "500" | summarize AggregatedValue = Count by '
        "bin(Timestamp, 5m), IP",
        False,
        "",
        {},
    ),
    "fragment-alertcontext-log-search-log-alerts-v2.json": (
        "log",
        "Heartbeat LowerThan 1 (Count over PT10M): 0.0",
        False,
        "",
        {"host.name": "TestComputer"},
    ),
    "fragment-alertcontext-log-search-log-analytics.json": (
        "log",
        'Perf | where ObjectName == "Processor" and CounterName == "% Processor Time" | '
        "summarize AggregatedValue = avg(CounterValue) by bin(TimeGenerated, 5m), Computer",
        False,
        "warning",
        {"host.name": "INC-Gen2Alert"},
    ),
    "fragment-alertcontext-log-search-simple-log-alert.json": (
        "log",
        "exceptions | where timestamp > ago(5m) | project timestamp, operation_Name, problemId, "
        "type, outerMessage: 1.0",
        False,
        "",
        {},
    ),
    "fragment-alertcontext-metric-availability-test.json": (
        "availability",
        "Failed Location GreaterThan 2 (Sum over PT5M): 5",
        False,
        "",
        {},
    ),
    "fragment-alertcontext-metric-dynamic-threshold.json": (
        "metric",
        "Egress GreaterThan 47658 (Total over PT5M): 50101",
        False,
        "",
        {},
    ),
    "fragment-alertcontext-metric-static-threshold.json": (
        "metric",
        "Percentage CPU GreaterThan 25 (Average over PT5M): 31.1105",
        False,
        "",
        {},
    ),
    "fragment-alertcontext-prometheus.json": (
        "prometheus",
        "alert on SQL availability",
        False,
        "",
        {"k8s.cluster.name": "myCluster1"},
    ),
    "fragment-alertcontext-resource-health.json": (
        "resource-health",
        "This virtual machine is stopping and deallocating as requested by an authorized user "
        "or process",
        False,
        "major",
        {},
    ),
    "fragment-alertcontext-service-health-maintenance-string-enums.json": (
        "service-health",
        "Azure Synapse Analytics Scheduled Maintenance Pending",
        False,
        "info",
        {"cloud.region": "eastus"},
    ),
    "fragment-alertcontext-service-health-maintenance.json": (
        "service-health",
        "Azure Synapse Analytics Scheduled Maintenance Pending",
        False,
        "info",
        {"cloud.region": "eastus"},
    ),
}
NOT_ALERTS = {
    # An ARM request body that creates an action group: configuration, not a notification.
    "action-group-create-request-use-common-alert-schema.json": "schemaId",
}


def run(body: bytes | dict) -> list:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse(SourceRequest(body=raw, headers={})).events


def test_every_sample_file_is_covered():
    names = {p.name for p in (PAYLOADS / "azure-monitor").iterdir()}
    assert names == set(FULL) | set(FRAGMENTS) | set(NOT_ALERTS)


@pytest.mark.parametrize("name", sorted(FULL))
def test_full_payloads(name):
    status, severity, title, resource, kind = FULL[name]
    events = run(payload(f"azure-monitor/{name}"))
    assert len(events) == 1
    (event,) = events
    assert event.source == "azure-monitor"
    assert (event.status, event.severity, event.title) == (status, severity, title)
    assert resource.items() <= event.resource.items(), event.resource
    assert event.resource["cloud.provider"] == "azure"
    assert event.resource["cloud.resource_id"] == event.resource["cloud.resource_id"].lower()
    assert event.labels["azure.context"] == kind
    data = json.loads(payload(f"azure-monitor/{name}"))["data"]
    assert event.external_id == data["essentials"]["alertId"]
    assert event.fingerprint.startswith("azure:") and len(event.fingerprint) <= 64
    assert event.starts_at is not None
    assert (event.ends_at is not None) == (data["essentials"].get("resolvedDateTime") is not None)
    for key, value in (data.get("customProperties") or {}).items():
        assert event.labels[key] == value


@pytest.mark.parametrize("name", sorted(FRAGMENTS))
def test_alert_context_fragments(name):
    kind, title, resolved, severity, resource = FRAGMENTS[name]
    ctx = alert_context(json.loads(payload(f"azure-monitor/{name}"))["alertContext"])
    assert ctx.kind == kind
    assert (ctx.title or ctx.fallback_title) == title
    assert ctx.resolved is resolved
    assert ctx.severity == severity
    assert resource.items() <= ctx.resource.items(), ctx.resource


def test_metric_fragment_describes_the_criterion_and_dimensions():
    ctx = alert_context(
        json.loads(payload("azure-monitor/fragment-alertcontext-metric-static-threshold.json"))[
            "alertContext"
        ]
    )
    assert ctx.labels["azure.metricName"] == "Percentage CPU"
    assert ctx.labels["dimension.ResourceId"] == "b1b1b1b1-cccc-dddd-eeee-f2f2f2f2f2f2"


def test_simple_log_alert_keeps_the_matching_record():
    ctx = alert_context(
        json.loads(payload("azure-monitor/fragment-alertcontext-log-search-simple-log-alert.json"))[
            "alertContext"
        ]
    )
    assert "System.NullReferenceException at OrdersController.GetOrder" in ctx.description


def test_resource_health_back_to_available_resolves():
    data = json.loads(payload("azure-monitor/test-action-resource-health-alert.json"))
    data["data"]["alertContext"]["properties"]["currentHealthStatus"] = "Available"
    (event,) = run(data)
    assert event.status == "resolved"


def test_null_severity_takes_the_context_default_and_sev_levels_map():
    data = json.loads(payload("azure-monitor/test-action-metric-alert-static-threshold.json"))
    for sev, expected in [
        ("Sev0", "critical"),
        ("Sev1", "major"),
        ("Sev2", "minor"),
        ("Sev3", "warning"),
        ("Sev4", "info"),
        (None, "warning"),
    ]:
        data["data"]["essentials"]["severity"] = sev
        assert run(data)[0].severity == expected


def test_the_action_group_request_is_refused_naming_schema_id():
    with pytest.raises(PayloadError, match=r"^schemaId: must be 'azureMonitorCommonAlertSchema'"):
        run(payload("azure-monitor/action-group-create-request-use-common-alert-schema.json"))


BASE = json.loads(payload("azure-monitor/test-action-metric-alert-static-threshold.json"))


def with_essentials(**changes):
    data = json.loads(json.dumps(BASE))
    data["data"]["essentials"].update(changes)
    return data


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"schemaId": "azureMonitorCommonAlertSchema"}, "data: must be an object"),
        ({"schemaId": "azureMonitorCommonAlertSchema", "data": {}}, "data.essentials:"),
        (with_essentials(monitorCondition="Exploded"), "data.essentials.monitorCondition: one of"),
        (with_essentials(monitorCondition=None), "data.essentials.monitorCondition: is required"),
        (with_essentials(severity="Sev9"), "data.essentials.severity: one of Sev0"),
        (with_essentials(alertTargetIDs="x"), "data.essentials.alertTargetIDs: must be an array"),
        (with_essentials(alertTargetIDs=[{}]), "data.essentials.alertTargetIDs[0]: must be"),
        (with_essentials(firedDateTime="yesterday"), "data.essentials.firedDateTime:"),
        ({**BASE, "data": {**BASE["data"], "alertContext": []}}, "data.alertContext: must be"),
        ({**BASE, "data": {**BASE["data"], "customProperties": 1}}, "data.customProperties:"),
    ],
)
def test_errors_name_the_field(body, field):
    with pytest.raises(PayloadError) as info:
        run(body)
    assert str(info.value).startswith(field)


@pytest.mark.django_db
def test_http_end_to_end(cast, api_client):
    _, token, _ = integration(cast.org_a, source="azure-monitor")
    resp = post(
        api_client, "azure-monitor", payload("azure-monitor/test-action-log-alert-v2.json"), token
    )
    assert resp.status_code == 202, resp.content
    body = resp.json()
    assert (body["accepted"], body["firing"], body["resolved"]) == (1, 1, 0)
    stored = InboxEntry.objects.get(pk=body["inbox_id"]).events[0]
    assert stored["resource"]["host.name"] == "test-computer"
    resp = post(
        api_client,
        "azure-monitor",
        payload("azure-monitor/full-metric-alert-static-resolved.json"),
        token,
    )
    assert (resp.status_code, resp.json()["resolved"]) == (202, 1)
    bad = post(
        api_client,
        "azure-monitor",
        payload("azure-monitor/action-group-create-request-use-common-alert-schema.json"),
        token,
    )
    assert_error(bad, 400, "schemaId")
