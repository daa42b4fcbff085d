"""Reconciliation: identification without twins, precedence, all-or-nothing, stale CIs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from opsdesk.cmdb import importers
from opsdesk.cmdb.models import CIIdentifier, CISourceRecord, ConfigurationItem, Relationship
from opsdesk.cmdb.reconcile import DiscoveredCI, DiscoveredRelationship, reconcile, stale_cis
from opsdesk.cmdb.tests.factories import ci
from opsdesk.core.models import AuditRecord

pytestmark = pytest.mark.django_db


def run_csv(cast, text: str, **kwargs):
    items, rels, report = importers.parse("csv", text.encode(), {})
    assert report == []
    kwargs.setdefault("source", "csv")
    return reconcile(
        organization=cast.org_a,
        items=items,
        relationships=rels,
        acting_user=cast.admin,
        **kwargs,
    )


SERVERS = (
    "class,name,environment,criticality,country,tags,attr:serial_number,attr:cpu_cores,rel:depends_on\n"
    "server,web-01,production,2,ZA,web;dmz,SN-1,8,\n"
    "server,web-02,staging,3,KE,web,SN-2,4,web-01\n"
    "Application,shop,production,1,ZA,,,,web-01;web-02\n"
)


def test_csv_import_creates_cis_relationships_and_audit_then_second_run_is_unchanged(cast):
    first = run_csv(cast, SERVERS)
    assert (first.created, first.updated, first.unchanged, first.failed) == (3, 0, 0, 0)
    assert first.relationships_created == 3
    web = ConfigurationItem.objects.get(organization=cast.org_a, name="web-01")
    assert web.criticality == 2 and web.tags == ["web", "dmz"] and web.attributes["cpu_cores"] == 8
    assert web.attribute_sources["attributes.serial_number"] == "csv"
    shop = ConfigurationItem.objects.get(name="shop")
    assert shop.ci_class.key == "application"
    assert set(Relationship.objects.filter(source=shop).values_list("target__name", flat=True)) == {
        "web-01",
        "web-02",
    }
    created_records = AuditRecord.objects.filter(
        object_type="cmdb.configurationitem", action="create", actor=cast.admin
    )
    assert created_records.count() == 3
    assert CISourceRecord.objects.filter(source="csv").count() == 3

    audit_before = AuditRecord.objects.count()
    second = run_csv(cast, SERVERS)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 3)
    assert second.relationships_created == 0
    assert AuditRecord.objects.count() == audit_before
    assert ConfigurationItem.objects.filter(organization=cast.org_a).count() == 3


def test_serial_number_finds_the_existing_server_under_a_new_name(cast):
    server = ci(cast.org_a, "old-name", "server", attributes={"serial_number": "SN-77"})
    CIIdentifier.objects.create(
        organization=cast.org_a, ci=server, kind="serial_number", value="sn-77"
    )
    result = run_csv(
        cast,
        "class,name,attr:serial_number,attr:fqdn\nserver,new-name,SN-77,new.example.com\n",
    )
    assert (result.created, result.updated) == (0, 1)
    server.refresh_from_db()
    assert server.name == "new-name"
    assert server.attributes["fqdn"] == "new.example.com"
    assert ConfigurationItem.objects.filter(organization=cast.org_a).count() == 1
    # The CI gained its other identifiers.
    kinds = set(CIIdentifier.objects.filter(ci=server).values_list("kind", "value"))
    assert ("fqdn", "new.example.com") in kinds
    record = AuditRecord.objects.filter(object_id=str(server.pk), action="update").latest("pk")
    assert record.changes["name"] == ["old-name", "new-name"]


def test_two_identifiers_pointing_at_two_cis_is_a_row_error(cast):
    a = ci(cast.org_a, "a", "server")
    b = ci(cast.org_a, "b", "server")
    CIIdentifier.objects.create(organization=cast.org_a, ci=a, kind="serial_number", value="s1")
    CIIdentifier.objects.create(organization=cast.org_a, ci=b, kind="fqdn", value="b.example")
    result = run_csv(cast, "class,name,attr:serial_number,attr:fqdn\nserver,x,S1,b.example\n")
    assert result.failed == 1
    assert result.report[0]["row"] == 2
    assert result.report[0]["field"] == "attributes.fqdn"
    assert ConfigurationItem.objects.get(pk=a.pk).name == "a"


def test_bad_rows_are_reported_by_row_and_field_and_nothing_changes(cast):
    audit_before = AuditRecord.objects.count()
    text = (
        "class,name,country,criticality\n"
        "server,ok-1,ZA,1\n"
        "spaceship,bad-class,ZA,1\n"
        "server,bad-country,XX,1\n"
        "server,bad-criticality,ZA,9\n"
    )
    result = run_csv(cast, text)
    problems = {(r["row"], r["field"]) for r in result.report}
    assert problems == {(3, "class"), (4, "country"), (5, "criticality")}
    assert result.failed == 3 and result.created == 0
    assert not ConfigurationItem.objects.filter(organization=cast.org_a).exists()
    assert AuditRecord.objects.count() == audit_before


def test_partial_applies_the_valid_rows_and_reports_the_rest(cast):
    text = "class,name,country\nserver,ok-1,ZA\nserver,bad,XX\nserver,ok-2,KE\n"
    result = run_csv(cast, text, partial=True)
    assert (result.created, result.failed) == (2, 1)
    assert result.report == [
        {"row": 3, "field": "country", "message": "'XX' is not an ISO 3166-1 alpha-2 country code."}
    ]
    assert set(ConfigurationItem.objects.values_list("name", flat=True)) == {"ok-1", "ok-2"}


def test_dry_run_previews_and_changes_nothing(cast):
    result = run_csv(cast, SERVERS, dry_run=True)
    assert result.created == 3
    assert [p["action"] for p in result.preview] == ["create", "create", "create"]
    assert "attributes.serial_number" in result.preview[0]["changed"]
    assert not ConfigurationItem.objects.exists()


def test_a_more_trusted_source_is_not_overwritten(cast):
    run_csv(
        cast, "class,name,attr:serial_number,attr:os\nserver,db-1,SN-9,linux\n", source="manual"
    )
    result = run_csv(
        cast,
        "class,name,attr:serial_number,attr:os,attr:fqdn\nserver,db-1,SN-9,windows,db1.local\n",
        source="scanner",
    )
    server = ConfigurationItem.objects.get(name="db-1")
    assert server.attributes["os"] == "linux"  # "manual" outranks "scanner"
    assert server.attributes["fqdn"] == "db1.local"  # nobody more trusted set it
    assert result.updated == 1
    # The more trusted source still wins when it comes back.
    run_csv(cast, "class,name,attr:serial_number,attr:os\nserver,db-1,SN-9,bsd\n", source="manual")
    server.refresh_from_db()
    assert server.attributes["os"] == "bsd"


def test_relationship_to_itself_or_to_nothing_is_a_row_error(cast):
    result = run_csv(cast, "class,name,rel:depends_on\nserver,loop,loop\nserver,lost,nowhere\n")
    problems = {(r["row"], r["field"]) for r in result.report}
    assert problems == {(2, "rel:depends_on"), (3, "rel:depends_on")}
    assert not ConfigurationItem.objects.exists()


def test_a_row_without_identifier_is_an_error(cast):
    result = reconcile(
        organization=cast.org_a,
        source="x",
        items=[DiscoveredCI("k", "cloud_resource", "no-id", {}, {"provider": "aws"}, row=7)],
        relationships=[DiscoveredRelationship("k", "depends_on", "k", 7)],
        acting_user=cast.admin,
    )
    assert result.report[0]["row"] == 7
    assert result.report[0]["field"] == "attributes.resource_id"
    assert not ConfigurationItem.objects.exists()


def test_stale_cis_by_any_source_or_one_source(cast):
    run_csv(cast, "class,name\nserver,old\nserver,fresh\n", source="scanner")
    old = ConfigurationItem.objects.get(name="old")
    CISourceRecord.objects.filter(ci=old).update(last_seen=old.created_at - timedelta(days=40))
    assert [c.name for c in stale_cis(cast.org_a, 30)] == ["old"]
    assert [c.name for c in stale_cis(cast.org_a, 30, source="scanner")] == ["old"]
    assert list(stale_cis(cast.org_a, 30, source="other")) == []
    assert list(stale_cis(cast.org_b, 30)) == []


def test_an_edit_made_by_a_person_survives_the_next_import(cast):
    from opsdesk.cmdb.actions import update_ci

    run_csv(
        cast, "class,name,attr:serial_number,attr:os\nserver,db-2,SN-7,linux\n", source="scanner"
    )
    server = ConfigurationItem.objects.get(name="db-2")
    update_ci(
        acting_user=cast.agent,
        ci=server,
        attributes={**server.attributes, "os": "rhel-9"},
        criticality=1,
    )
    result = run_csv(
        cast,
        "class,name,criticality,attr:serial_number,attr:os\nserver,db-2,4,SN-7,linux\n",
        source="scanner",
    )
    server.refresh_from_db()
    assert server.attributes["os"] == "rhel-9"  # "manual" outranks the scanner
    assert server.criticality == 1
    assert result.unchanged == 1


def test_a_reimport_updates_only_what_changed_and_touches_last_seen(cast):
    from opsdesk.accounts.models import Team

    ops = Team.objects.create(organization=cast.org_a, name="Ops", slug="ops")
    header = (
        "class,name,environment,holds_personal_data,tags,owner_team,attr:serial_number,attr:os\n"
    )
    run_csv(
        cast,
        header + "server,app-1,production,no,a;b,,SN-5,linux\nserver,app-2,test,yes,,,SN-6,bsd\n",
    )
    app1 = ConfigurationItem.objects.get(name="app-1")
    CISourceRecord.objects.filter(ci=app1).update(last_seen=app1.created_at - timedelta(days=3))
    audit_before = AuditRecord.objects.order_by("-pk").values_list("pk", flat=True)[0]
    result = run_csv(
        cast,
        header + "server,app-1,staging,no,a;b,Ops,SN-5,linux\nserver,app-2,test,yes,,,SN-6,bsd\n",
    )
    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    app1.refresh_from_db()
    assert (app1.environment, app1.owner_team_id, app1.holds_personal_data) == (
        "staging",
        ops.pk,
        False,
    )
    assert app1.attribute_sources["owner_team"] == "csv"
    record = AuditRecord.objects.get(pk__gt=audit_before)  # one record: the changed CI's
    assert record.object_id == str(app1.pk) and record.action == "update"
    assert record.changes["environment"] == ["production", "staging"]
    assert record.changes["owner_team"] == [None, ops.pk]
    assert set(record.changes) == {"environment", "owner_team"}
    seen = CISourceRecord.objects.get(ci=app1, source="csv").last_seen
    assert seen > app1.created_at


def test_a_more_trusted_source_with_the_same_values_takes_them_over_without_an_update(cast):
    run_csv(
        cast, "class,name,attr:serial_number,attr:os\nserver,db-3,SN-3,linux\n", source="scanner"
    )
    audit_before = AuditRecord.objects.count()
    result = run_csv(
        cast, "class,name,attr:serial_number,attr:os\nserver,db-3,SN-3,linux\n", source="manual"
    )
    assert (result.updated, result.unchanged) == (0, 1)
    server = ConfigurationItem.objects.get(name="db-3")
    assert server.attribute_sources["attributes.os"] == "manual"
    assert AuditRecord.objects.count() == audit_before


def test_the_garbage_collector_resumes_after_an_import_even_one_that_fails(cast):
    import gc

    from opsdesk.cmdb.reconcile import paused_gc

    assert gc.isenabled()
    with pytest.raises(ValueError), paused_gc():
        assert not gc.isenabled()
        raise ValueError
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()
