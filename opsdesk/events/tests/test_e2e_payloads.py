"""The issue's "done when": real payloads from every source in shared/data/payloads become
correlated alert groups and incidents with ranked root causes.

For each source, every sample file its adapter accepts as alerts is posted through HTTP with
an integration of that source. The CMDB knows the hosts, cloud resources and services the
payloads name (created through the CMDB actions, as discovery would), and each of them runs
on one shared database server. The worker then drains the inbox through every stage. (The
samples were recorded years apart, so whether they correlate with each other says nothing;
correlation is measured by benchmarks/correlation.py.)
"""

from __future__ import annotations

import pytest

from opsdesk.cmdb.actions import create_ci
from opsdesk.cmdb.models import CIClass, ConfigurationItem
from opsdesk.cmdb.tests.factories import ci as make_ci
from opsdesk.cmdb.tests.factories import relate
from opsdesk.events import inbox
from opsdesk.events.choices import EventStatus
from opsdesk.events.models import Alert, AlertGroup
from opsdesk.events.sources import PayloadError, SourceRequest, parse
from opsdesk.events.tests.helpers import PAYLOADS, integration, post

pytestmark = pytest.mark.django_db

#: Source key -> its folder of samples and the integration options its samples need (the
#: public SNS samples carry signatures that cannot be checked offline).
SOURCES = {
    "alertmanager": ("alertmanager", {}),
    "grafana": ("grafana", {}),
    "azure-monitor": ("azure-monitor", {}),
    "cloudwatch": ("cloudwatch-sns", {"verify_signatures": False}),
    "zabbix": ("zabbix", {}),
    "datadog": ("datadog", {}),
    "cloudevents": ("cloudevents", {}),
}


def _content_type(path: str) -> str:
    if path.endswith(".json") and "batch" in path:
        return "application/cloudevents-batch+json"
    return "application/json"


def alert_samples(source: str) -> list[tuple[str, bytes, list]]:
    """(file, body, firing events) of every sample the adapter accepts with a firing alert."""
    folder, options = SOURCES[source]
    found = []
    for path in sorted((PAYLOADS / folder).rglob("*.json")):
        body = path.read_bytes()
        headers = {"content-type": _content_type(path.name)}
        if source == "cloudwatch":
            headers["x-amz-sns-message-type"] = "Notification"
        try:
            parsed = parse(source, SourceRequest(body=body, headers=headers, options=options))
        except (PayloadError, Exception):
            continue
        firing = [e for e in parsed.events if e.status == EventStatus.FIRING]
        if firing:
            found.append((str(path.relative_to(PAYLOADS)), body, firing))
    return found


def _cmdb_for(org, admin, events) -> ConfigurationItem:  # type: ignore[no-untyped-def]
    """The CIs the events name, each depending on one database server (the shared cause)."""
    db_server = make_ci(org, "shared-dbs-01", "server", criticality=1)
    service = make_ci(org, "Monitoring estate", "business_service", criticality=1)
    relate(service, "depends_on", db_server)
    seen: set[tuple[str, str]] = set()
    for event in events:
        res = event.resource
        if res.get("cloud.resource_id"):
            key = ("cloud_resource", res["cloud.resource_id"].lower())
            attrs = {"resource_id": res["cloud.resource_id"].lower()}
            name = res["cloud.resource_id"].rsplit("/", 1)[-1] or "resource"
        elif res.get("host.name"):
            key = ("server", res["host.name"].lower())
            attrs = {"fqdn": res["host.name"].lower()}
            name = res["host.name"]
        elif res.get("service.name"):
            key = ("application", res["service.name"])
            attrs = {}
            name = res["service.name"]
        else:
            continue
        if key in seen:
            continue
        seen.add(key)
        made = create_ci(
            acting_user=admin,
            organization=org,
            ci_class=CIClass.objects.get(key=key[0]),
            name=f"{name}"[:200] if key[0] != "cloud_resource" else f"{name}-{len(seen)}"[:200],
            attributes=attrs,
        )
        relate(made, "depends_on", db_server)
    return service


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_real_payloads_become_groups_incidents_and_root_causes(cast, api_client, source):
    samples = alert_samples(source)
    assert samples, f"no alert sample for {source}"
    service = _cmdb_for(cast.org_a, cast.admin, [e for _, _, events in samples for e in events])
    _, options = SOURCES[source]
    _, token, _ = integration(cast.org_a, source, options=options, default_service=service)
    for name, body, events in samples:
        extra = {"HTTP_X_AMZ_SNS_MESSAGE_TYPE": "Notification"} if source == "cloudwatch" else {}
        resp = post(api_client, source, body, token, content_type=_content_type(name), **extra)
        assert resp.status_code == 202, (name, resp.content)
        assert resp.json()["firing"] == len(events), name
    inbox.drain("test")
    alerts = Alert.objects.filter(organization=cast.org_a)
    assert alerts.filter(status=EventStatus.FIRING).exists()
    # Every alert found a CI (its own, or the integration's default service).
    assert not alerts.filter(ci__isnull=True).exists()
    groups = AlertGroup.objects.filter(organization=cast.org_a, alert_count__gt=0)
    assert groups.exists()
    for group in groups.filter(firing_count__gt=0):
        assert group.root_causes, (source, group.title)
        if group.severity in ("critical", "major", "minor", "warning"):
            assert group.incident is not None, (source, group.title, group.severity)
