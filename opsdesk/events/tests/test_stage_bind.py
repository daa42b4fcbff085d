"""Stage ``bind`` on its own (after dedup): CIs found by identifiers and names."""

from __future__ import annotations

import pytest

from opsdesk.cmdb.actions import create_ci
from opsdesk.cmdb.models import CIClass
from opsdesk.events import pipeline
from opsdesk.events.models import Alert
from opsdesk.events.stages.bind import FALLBACK, candidates
from opsdesk.events.tests.helpers import batch, event

pytestmark = pytest.mark.django_db
STAGES = ("dedup", "bind")


def _ci(cast, name, class_key="server", org=None, **attributes):
    return create_ci(
        acting_user=cast.admin if org is None else cast.admin_b,
        organization=org or cast.org_a,
        ci_class=CIClass.objects.get(key=class_key),
        name=name,
        attributes=attributes,
    )


def _bind(cast, *events, org=None, default_service=None):
    b = batch(org or cast.org_a, list(events))
    for item in b.items:
        item.default_service_id = default_service.pk if default_service else None
    return pipeline.run(b, only=STAGES)


def _alert(done, i=0):
    alert = Alert.objects.get(pk=done.items[i].alert.pk)
    return alert.ci_id, alert.binding


def test_host_name_binds_by_fqdn_then_by_name(cast):
    db = _ci(cast, "db-07", fqdn="db-07.bank.example")
    web = _ci(cast, "web-01")
    done = _bind(
        cast,
        event("Disk full", resource={"host.name": "DB-07.bank.example"}),
        event("CPU high", resource={"host.name": "web-01"}),
        event("CPU high", resource={"host.name": "web-01.bank.example"}),
    )
    assert _alert(done, 0) == (db.pk, "host.name=DB-07.bank.example → CI db-07 (fqdn)")
    assert _alert(done, 1) == (web.pk, "host.name=web-01 → CI web-01 (name:server)")
    assert _alert(done, 2) == (web.pk, "host.name=web-01.bank.example → CI web-01 (name:server)")


def test_cloud_and_kubernetes_identifiers(cast):
    rid = "/subscriptions/1/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm1"
    vm = _ci(cast, "vm1", resource_id=rid)
    pod = _ci(cast, "api-7d9f-xk2lp", "k8s_pod", k8s_uid="5f0c6c1e-1234-4abc-8def-0123456789ab")
    node = _ci(cast, "aks-node-3", "k8s_node", k8s_uid="node-uid-3")
    done = _bind(
        cast,
        event("VM down", resource={"cloud.resource_id": rid.upper(), "host.name": "other"}),
        event(
            "Pod crash",
            resource={
                "k8s.pod.uid": "5F0C6C1E-1234-4ABC-8DEF-0123456789AB",
                "k8s.node.name": "aks-node-3",
            },
        ),
        event("Pod crash", labels={"pod": "api-7d9f-xk2lp", "instance": "10.1.2.3:8080"}),
        event("Node pressure", labels={"node": "AKS-NODE-3"}),
    )
    assert _alert(done, 0)[0] == vm.pk
    assert _alert(done, 0)[1].endswith("(resource_id)")
    assert _alert(done, 1)[0] == pod.pk
    assert _alert(done, 1)[1].startswith("k8s.pod.uid=")
    assert _alert(done, 2) == (pod.pk, "pod=api-7d9f-xk2lp → CI api-7d9f-xk2lp (k8s_pod by name)")
    assert _alert(done, 3)[0] == node.pk


def test_labels_instance_with_port_and_service_names(cast):
    db = _ci(cast, "db-07")
    banking = _ci(cast, "Online Banking", "business_service")
    done = _bind(
        cast,
        event("Exporter down", labels={"instance": "db-07:9100", "job": "node"}),
        event("Checkout slow", resource={"service.name": "online banking"}),
    )
    assert _alert(done, 0) == (db.pk, "instance=db-07:9100 → CI db-07 (name:server)")
    assert _alert(done, 1)[0] == banking.pk
    assert "(name:business_service)" in _alert(done, 1)[1]


def test_the_most_specific_candidate_wins(cast):
    pod = _ci(cast, "api-1", "k8s_pod", k8s_uid="uid-1")
    _ci(cast, "worker-3")
    done = _bind(cast, event("x", resource={"k8s.pod.uid": "uid-1", "host.name": "worker-3"}))
    assert _alert(done)[0] == pod.pk


def test_unbound_alerts_stay_unbound_and_are_tried_again(cast):
    done = _bind(cast, event("Disk full", resource={"host.name": "ghost-01"}))
    assert _alert(done) == (None, "")
    assert Alert.objects.filter(ci__isnull=True).count() == 1
    ghost = _ci(cast, "ghost-01")
    done = _bind(cast, event("Disk full", resource={"host.name": "ghost-01"}))
    assert _alert(done)[0] == ghost.pk


def test_default_service_is_the_fallback_until_the_cmdb_knows_better(cast):
    service = _ci(cast, "Payments", "business_service")
    done = _bind(
        cast, event("Queue full", resource={"host.name": "mq-01"}), default_service=service
    )
    assert _alert(done) == (service.pk, f"{FALLBACK}: Payments (nothing in the CMDB matched)")
    mq = _ci(cast, "mq-01")
    done = _bind(
        cast, event("Queue full", resource={"host.name": "mq-01"}), default_service=service
    )
    assert _alert(done)[0] == mq.pk
    # A bound alert keeps its CI.
    mq.name = "renamed"
    done = _bind(cast, event("Queue full", resource={"host.name": "mq-01"}))
    assert _alert(done)[0] == mq.pk


def test_cis_of_other_organisations_are_never_bound(cast):
    _ci(cast, "db-07", org=cast.org_b)
    done = _bind(cast, event("Disk full", resource={"host.name": "db-07"}))
    assert _alert(done) == (None, "")


def test_candidates_strip_ports_and_try_short_names():
    found = candidates({}, {"instance": "db-07.bank.example:9100"})
    assert ("instance=db-07.bank.example:9100", "fqdn", "db-07.bank.example") in found
    assert ("instance=db-07.bank.example:9100", "name:server", "db-07") in found
    assert candidates({}, {"instance": "[::1]:9100"})[0][2] == "::1"
    assert not [c for c in candidates({}, {"instance": "10.0.0.1:9100"}) if c[2] == "10"]


def test_queries_do_not_grow_with_the_batch(cast, django_assert_max_num_queries):
    for n in range(20):
        _ci(cast, f"host-{n:02d}")
    events = [
        event(f"Disk {n}", resource={"host.name": f"host-{n % 30:02d}", "k8s.pod.name": "p"})
        for n in range(300)
    ]
    done = pipeline.run(batch(cast.org_a, events), only=("dedup",))
    with django_assert_max_num_queries(4):
        pipeline.run(done, only=("bind",))
    # 30 hosts, so 30 alerts; the 20 the CMDB knows are bound.
    assert Alert.objects.filter(ci__isnull=False).count() == 20
    assert Alert.objects.filter(ci__isnull=True, binding="").count() == 10
