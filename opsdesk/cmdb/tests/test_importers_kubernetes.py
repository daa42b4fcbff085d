"""The Kubernetes importer on real kubectl output: CIs, relationships, idempotence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opsdesk.cmdb import importers
from opsdesk.cmdb.models import ConfigurationItem, Relationship
from opsdesk.cmdb.reconcile import reconcile
from opsdesk.core.models import AuditRecord

pytestmark = pytest.mark.django_db
K8S = Path(__file__).parent / "fixtures" / "kubernetes"


def load(cast, *names: str, cluster: str = "kind"):
    payload = (
        b"\n---\n".join((K8S / n).read_bytes() for n in names)
        if len(names) > 1
        else (K8S / names[0]).read_bytes()
    )
    items, rels, report = importers.parse("kubernetes", payload, {"cluster": cluster})
    result = reconcile(
        organization=cast.org_a,
        source="kubernetes",
        items=items,
        relationships=rels,
        acting_user=cast.admin,
    )
    return result, report


def rels(type_key: str) -> set[tuple[str, str]]:
    return set(
        Relationship.objects.filter(type__key=type_key).values_list("source__name", "target__name")
    )


def test_nodes_and_pods_of_a_kind_cluster(cast):
    for name in ("nodes.NodeList.json", "pods-kube-system.PodList.json"):
        result, report = load(cast, name)
        assert report == [] and result.failed == 0, result.report
    nodes = ConfigurationItem.objects.filter(ci_class__key="k8s_node")
    assert set(nodes.values_list("name", flat=True)) == {
        "kind-control-plane",
        "kind-worker",
        "kind-worker2",
    }
    assert ConfigurationItem.objects.filter(ci_class__key="k8s_pod").count() == 14
    runs_on = rels("runs_on")
    assert ("kube-system/kindnet-hknk7", "kind-worker2") in runs_on
    # The two Pending coredns pods are not scheduled: no runs_on.
    assert not any(src.startswith("kube-system/coredns-74ff55c5b-ppjrs") for src, _ in runs_on)
    assert len(runs_on) == 12
    cluster = ConfigurationItem.objects.get(ci_class__key="k8s_cluster")
    assert cluster.name == "kind"
    assert Relationship.objects.filter(target=cluster, type__key="member_of").count() == 17


def test_deployment_replicaset_pods_service_namespace(cast):
    result, report = load(
        cast,
        "namespaces.List.yaml",
        "deployments.List.yaml",
        "replicasets.List.yaml",
        "pods.List.yaml",
        "services.List.yaml",
        "nodes.List.yaml",
        cluster="popeye",
    )
    assert report == [] and result.failed == 0, result.report
    workloads = set(
        ConfigurationItem.objects.filter(ci_class__key="k8s_workload").values_list(
            "name", flat=True
        )
    )
    # ReplicaSets owned by a Deployment fold into it: only the Deployments are workloads.
    assert workloads == {"default/dp1", "default/dp2", "default/dp3"}
    member = rels("member_of")
    assert ("default/p1", "default") in member
    assert ("default/dp1", "default") in member
    assert ("default/svc1", "default") in member
    # namespaced objects reach the cluster through their namespace
    assert ("default", "popeye") in member
    assert ("default/p1", "popeye") not in member
    assert ("n1", "popeye") in member
    # Services select the pods whose labels include their selector.
    assert rels("selects") == {("default/svc1", "default/p1")}


def test_pods_of_a_replicaset_are_members_of_its_deployment(cast):
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": "kube-system", "uid": "dep-coredns"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"k8s-app": "kube-dns"}}},
    }
    pods = json.loads((K8S / "pods-kube-system.PodList.json").read_text())
    payload = json.dumps({"kind": "List", "items": [deployment, *pods["items"]]}).encode()
    items, relationships, report = importers.parse("kubernetes", payload, {"cluster": "kind"})
    assert report == []
    result = reconcile(
        organization=cast.org_a,
        source="kubernetes",
        items=items,
        relationships=relationships,
        acting_user=cast.admin,
    )
    assert result.failed == 0, result.report
    members = {s for s, t in rels("member_of") if t == "kube-system/coredns"}
    assert members == {
        "kube-system/coredns-74ff55c5b-cpfqs",
        "kube-system/coredns-74ff55c5b-vk77h",
        "kube-system/coredns-74ff55c5b-ppjrs",
        "kube-system/coredns-74ff55c5b-s89p7",
    }


def test_popeye_nodes_without_spec_and_openshift_objects_without_kind(cast):
    result, report = load(cast, "nodes.List.yaml", cluster="popeye")
    assert report == [] and result.failed == 0
    assert ConfigurationItem.objects.filter(ci_class__key="k8s_node").count() == 5
    result, report = load(
        cast,
        "node-worker-0.json",
        "pod-openshift-ingress-router-default.json",
        "clusterversion.json",
        cluster="ocp",
    )
    assert report == [] and result.failed == 0, result.report
    router = ConfigurationItem.objects.get(ci_class__key="k8s_pod")
    assert router.name.startswith("openshift-ingress/router-default")
    assert not Relationship.objects.filter(source=router, type__key="runs_on").exists()
    ocp = ConfigurationItem.objects.get(ci_class__key="k8s_cluster", name="ocp")
    assert ocp.attributes.get("cluster_uid")


def test_importing_twice_changes_nothing(cast):
    load(cast, "nodes.NodeList.json", "pods-kube-system.PodList.json", "pods-sonobuoy.PodList.json")
    counts = (
        ConfigurationItem.objects.count(),
        Relationship.objects.count(),
        AuditRecord.objects.count(),
    )
    result, _ = load(
        cast, "nodes.NodeList.json", "pods-kube-system.PodList.json", "pods-sonobuoy.PodList.json"
    )
    assert (result.created, result.updated, result.relationships_created) == (0, 0, 0)
    assert result.unchanged == counts[0]
    assert (
        ConfigurationItem.objects.count(),
        Relationship.objects.count(),
        AuditRecord.objects.count(),
    ) == counts


def test_malformed_kubernetes_files_are_reported_not_raised():
    _, _, report = importers.parse("kubernetes", b'{"kind": "PodList", "items": [', {})
    assert report[0]["field"] == "file" and "JSON" in report[0]["message"]
    _, _, report = importers.parse("kubernetes", b"kind: List\nitems: [\n  - {", {})
    assert report[0]["field"] == "file"
    _, _, report = importers.parse(
        "kubernetes",
        json.dumps({"items": [{"metadata": {"name": "x"}, "data": 1}, 5]}).encode(),
        {},
    )
    assert [(r["row"], r["field"]) for r in report] == [(1, "kind"), (2, "metadata")]
