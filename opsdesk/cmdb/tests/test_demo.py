"""The demo CMDB: a few hundred believable CIs per organisation, idempotent, telling a story."""

from __future__ import annotations

import pytest

from opsdesk.cmdb.demo import load_cmdb_demo
from opsdesk.cmdb.impact import impact_analysis
from opsdesk.cmdb.models import ConfigurationItem, Relationship
from opsdesk.core.models import AuditRecord

pytestmark = pytest.mark.django_db


def test_demo_topology_is_large_idempotent_and_tells_a_story(cast):  # type: ignore[no-untyped-def]
    org = cast.org_a  # countries ZA, KE, NG
    from opsdesk.accounts.models import Team

    for name in ("Service Desk", "Platform", "Network", "Database", "Application Support"):
        Team.objects.create(organization=org, name=name, slug=name.lower().replace(" ", "-"))
    first = load_cmdb_demo(organization=org, acting_user=cast.admin)
    cis = ConfigurationItem.objects.filter(organization=org)
    count, rels, audit = cis.count(), Relationship.objects.count(), AuditRecord.objects.count()
    assert 250 <= count <= 500
    assert first["created"] == count
    assert rels > count  # a connected graph, not a list
    classes = set(cis.values_list("ci_class__key", flat=True))
    assert {
        "business_service",
        "service_offering",
        "application",
        "saas_application",
        "database",
        "server",
        "k8s_cluster",
        "k8s_namespace",
        "k8s_workload",
        "k8s_pod",
        "k8s_node",
        "k8s_service",
        "network_device",
        "storage",
        "cloud_resource",
        "end_user_device",
    } <= classes
    # Every CI is audited and owned by a demo team; countries are the organisation's.
    assert (
        AuditRecord.objects.filter(
            object_type="cmdb.configurationitem", organization_id=org.pk
        ).count()
        == count
    )
    assert not cis.filter(owner_team__isnull=True).exists()
    assert set(cis.values_list("country", flat=True)) == {"ZA", "KE", "NG"}
    assert cis.get(name="jnb-core-sw-01").location == "Johannesburg data centre"

    # Loading again changes nothing.
    second = load_cmdb_demo(organization=org, acting_user=cast.admin)
    assert (second["created"], second["updated"], second["relationships_created"]) == (0, 0, 0)
    assert (cis.count(), Relationship.objects.count(), AuditRecord.objects.count()) == (
        count,
        rels,
        audit,
    )

    # The story: one database server takes down two tier-1 services.
    server = cis.get(name="jnb-dbs-07")
    analysis = impact_analysis(server, 6)
    tier1 = {s["name"] for s in analysis["services"] if s["criticality"] == 1}
    assert {"Online banking", "Payments"} <= tier1
    banking = next(s for s in analysis["services"] if s["name"] == "Online banking")
    assert banking["path_names"][0] == "jnb-dbs-07"
    assert "corebank-db" in banking["path_names"]
    # A Kubernetes node reaches business services through pods, services and applications.
    node = cis.get(name="aks-prod-node-01")
    assert {s["name"] for s in impact_analysis(node, 6)["services"]} & {
        "Online banking",
        "Customer portal",
    }


def test_each_demo_organisation_gets_its_own_sites(cast):  # type: ignore[no-untyped-def]
    load_cmdb_demo(organization=cast.org_b, acting_user=cast.admin_b)  # DE, FR
    names = set(
        ConfigurationItem.objects.filter(organization=cast.org_b).values_list("name", flat=True)
    )
    assert {"fra-dbs-07", "par-core-sw-01", "fra-fw-01"} <= names
    assert not ConfigurationItem.objects.filter(organization=cast.org_a).exists()
