"""Azure, AWS and GCP importers on the real sample exports; CSV/XLSX edge cases."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from opsdesk.cmdb import importers
from opsdesk.cmdb.models import ConfigurationItem, Relationship
from opsdesk.cmdb.reconcile import reconcile
from opsdesk.core.models import AuditRecord

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parent / "fixtures"


def run(cast, fmt: str, name: str):
    items, rels, report = importers.parse(fmt, (FIXTURES / fmt / name).read_bytes(), {})
    assert report == [], report
    return reconcile(
        organization=cast.org_a, source=fmt, items=items, relationships=rels, acting_user=cast.admin
    )


def twice(cast, fmt: str, name: str):
    first = run(cast, fmt, name)
    assert first.failed == 0, first.report
    audit = AuditRecord.objects.count()
    cis = ConfigurationItem.objects.count()
    second = run(cast, fmt, name)
    assert (second.created, second.updated, second.unchanged) == (
        0,
        0,
        first.created + first.updated + first.unchanged,
    )
    assert AuditRecord.objects.count() == audit
    assert ConfigurationItem.objects.count() == cis
    return first


@pytest.mark.parametrize(
    "fmt,name",
    [
        (p.parent.name, p.name)
        for p in sorted(FIXTURES.glob("*/*"))
        if p.parent.name in {"azure", "aws", "gcp"}
    ],
)
def test_every_cloud_sample_imports_twice_without_twins(cast, fmt, name):
    twice(cast, fmt, name)


def test_azure_vms_become_virtual_servers_depending_on_their_nics(cast):
    twice(cast, "azure", "network-networkinterfaces-list.json")
    twice(cast, "azure", "compute-virtualmachines-list.json")
    vm = ConfigurationItem.objects.get(name="cctestvm")
    assert vm.ci_class.key == "server" and vm.attributes["virtual"] is True
    assert vm.attributes["resource_id"] == vm.attributes["resource_id"].lower()
    deps = set(
        Relationship.objects.filter(source=vm, type__key="depends_on").values_list(
            "target__ci_class__key", flat=True
        )
    )
    assert deps == {"cloud_resource"}
    rg = Relationship.objects.get(source=vm, type__key="member_of").target
    assert rg.attributes["resource_type"] == "microsoft.resources/resourcegroups"


def test_azure_table_format_and_resource_groups_agree_on_identity(cast):
    twice(cast, "azure", "resourcegraph-resources-query.vm.json")
    twice(cast, "azure", "compute-virtualmachines-list.json")
    assert ConfigurationItem.objects.filter(name="cctestvm").count() == 1
    result = run(cast, "azure", "resourcegroups-list.json")
    assert result.failed == 0
    assert ConfigurationItem.objects.filter(name__iexact="test_vm").count() == 1


def test_aws_config_items_and_describe_instances(cast):
    twice(cast, "aws", "AWS_EC2_Instance.json")
    server = ConfigurationItem.objects.get(ci_class__key="server")
    assert (
        server.attributes["account"] == "681361479661"
        and server.attributes["region"] == "us-east-1"
    )
    twice(cast, "aws", "config-select-resource-config.sns_config.json")
    assert ConfigurationItem.objects.filter(attributes__resource_type="AWS::SNS").count() == 2
    first = twice(cast, "aws", "ec2-describe-instances.ec2_resize.json")
    assert first.created == 6
    assert run(cast, "aws", "AWS_RDS_DBInstance.json").failed == 0
    assert ConfigurationItem.objects.filter(ci_class__key="database").exists()
    assert run(cast, "aws", "AWS_EKS_Cluster.json").failed == 0
    assert ConfigurationItem.objects.filter(ci_class__key="k8s_cluster").exists()


def test_gcp_export_maps_classes_and_projects(cast):
    twice(cast, "gcp", "mock_cai_resources.ndjson")
    classes = dict(
        ConfigurationItem.objects.values_list("attributes__resource_type", "ci_class__key")
    )
    assert classes["compute.googleapis.com/Instance"] == "server"
    assert classes["container.googleapis.com/Cluster"] == "k8s_cluster"
    assert classes["sqladmin.googleapis.com/Instance"] == "database"
    assert classes["storage.googleapis.com/Bucket"] == "cloud_resource"
    instance = ConfigurationItem.objects.get(name="iap_instance1")
    assert instance.attributes["account"] == "project1"
    assert instance.attributes["region"] == "us-central1-c"
    assert Relationship.objects.filter(source=instance, type__key="depends_on").exists()


def test_malformed_cloud_files_are_reported():
    for fmt in ("azure", "aws", "gcp"):
        _, _, report = importers.parse(fmt, b"{not json", {})
        assert report and report[0]["field"] == "file", fmt
    _, _, report = importers.parse("azure", b'{"value": [{"name": "no-id"}]}', {})
    assert report == [{"row": 1, "field": "id", "message": "A resource needs its id."}]
    _, _, report = importers.parse(
        "gcp", b'{"name": "//x/y", "asset_type": "a/B", "resource": {}}\n{bad\n', {}
    )
    assert report[0]["row"] == 2


def test_xlsx_import_and_a_broken_workbook(cast):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["class", "name", "criticality", "attr:serial_number", "attr:cpu_cores", "tags"])
    sheet.append(["server", "xl-01", 1, "XL-1", 16, "a;b"])
    sheet.append([None, None, None, None, None, None])
    sheet.append(["server", "xl-02", 4, "XL-2", 2, None])
    buffer = io.BytesIO()
    book.save(buffer)
    items, rels, report = importers.parse("xlsx", buffer.getvalue(), {})
    assert report == []
    result = reconcile(
        organization=cast.org_a,
        source="xlsx",
        items=items,
        relationships=rels,
        acting_user=cast.admin,
    )
    assert result.created == 2
    xl = ConfigurationItem.objects.get(name="xl-01")
    assert xl.criticality == 1 and xl.attributes["cpu_cores"] == 16 and xl.tags == ["a", "b"]
    _, _, report = importers.parse("xlsx", b"PK\x03\x04 not really", {})
    assert report[0]["field"] == "file"


def test_csv_without_required_columns_names_them():
    _, _, report = importers.parse("csv", b"name,country\nx,ZA\n", {})
    assert report == [{"row": 1, "field": "class", "message": "The header has no 'class' column."}]
    _, _, report = importers.parse("csv", b"\xff\xfe\x00bad", {})
    assert report[0]["field"] == "file"
