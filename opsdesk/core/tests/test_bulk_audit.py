"""Bulk writes used by imports leave the same audit records as one-by-one saves."""

from opsdesk.cmdb.models import CIClass, ConfigurationItem, Relationship, RelationshipType
from opsdesk.core.audit import audited_bulk_create, audited_insert_rows
from opsdesk.core.context import acting_as
from opsdesk.core.models import AuditRecord


def _record(obj_type: str, object_id: int) -> AuditRecord:
    return AuditRecord.objects.get(object_type=obj_type, object_id=str(object_id))


def test_bulk_created_rows_are_audited_like_saved_ones(cast):
    server = CIClass.objects.get(key="server")
    with acting_as(cast.agent):
        saved = ConfigurationItem.objects.create(
            organization=cast.org_a, name="one-by-one", ci_class=server, attributes={"os": "linux"}
        )
        bulk = ConfigurationItem(
            organization=cast.org_a, name="in-bulk", ci_class=server, attributes={"os": "linux"}
        )
        audited_bulk_create(ConfigurationItem, [bulk])
    assert bulk.pk is not None and ConfigurationItem.objects.get(pk=bulk.pk).name == "in-bulk"
    one, many = (
        _record("cmdb.configurationitem", saved.pk),
        _record("cmdb.configurationitem", bulk.pk),
    )
    assert many.action == one.action == "create"
    assert many.actor_email == "agent@a.test" and many.organization_id == cast.org_a.pk
    assert set(many.after) == set(one.after)
    assert many.after["attributes"] == {"os": "linux"} and many.after["name"] == "in-bulk"
    assert many.changes["name"] == [None, "in-bulk"]
    # a later save of the bulk-created row diffs against what was inserted
    with acting_as(cast.agent):
        bulk.name = "renamed"
        bulk.save()
    update = AuditRecord.objects.get(
        object_type="cmdb.configurationitem", object_id=str(bulk.pk), action="update"
    )
    assert update.changes == {"name": ["in-bulk", "renamed"]}


def test_rows_inserted_without_instances_are_audited(cast):
    server = CIClass.objects.get(key="server")
    a = ConfigurationItem.objects.create(organization=cast.org_a, name="a", ci_class=server)
    b = ConfigurationItem.objects.create(organization=cast.org_a, name="b", ci_class=server)
    runs_on = RelationshipType.objects.get(key="runs_on")
    rows = [
        {
            "organization_id": cast.org_a.pk,
            "source_id": a.pk,
            "target_id": b.pk,
            "type_id": runs_on.pk,
        }
    ]
    with acting_as(cast.manager):
        (key,) = audited_insert_rows(
            Relationship, rows, lambda r: f"{r['source_id']}->{r['target_id']}"
        )
    rel = Relationship.objects.get(pk=key)
    assert (rel.source, rel.target, rel.type) == (a, b, runs_on)
    assert rel.discovered_by == "" and rel.created_at is not None  # defaults filled in
    record = _record("cmdb.relationship", key)
    assert record.actor_email == "manager@a.test"
    assert record.after["source"] == a.pk and record.after["id"] == key
    assert record.object_repr == f"{a.pk}->{b.pk}"
    assert AuditRecord.objects.restrict(cast.auditor).filter(pk=record.pk).exists()


def test_rows_loaded_with_only_are_audited_without_phantom_changes(cast):
    from opsdesk.accounts.models import Team

    team = Team.objects.only("id", "name", "organization_id").get(pk=cast.team_a.pk)
    with acting_as(cast.manager):
        team.name = "Service Desk Africa"
        team.save()
    record = AuditRecord.objects.filter(object_type="accounts.team", action="update").latest("id")
    # only the field that changed, although most fields were never loaded
    assert record.changes == {"name": ["Service Desk A", "Service Desk Africa"]}
    assert record.before["slug"] == "service-desk-a"


def test_rows_inserted_as_tuples_are_audited_like_saved_ones(cast):
    from opsdesk.core.bulk import audited_insert_tuples

    server = CIClass.objects.get(key="server")
    with acting_as(cast.agent):
        saved = ConfigurationItem.objects.create(
            organization=cast.org_a,
            name="one-by-one",
            ci_class=server,
            tags=["web"],
            attributes={"os": "linux"},
        )
        (key,) = audited_insert_tuples(
            ConfigurationItem,
            ("organization_id", "ci_class_id", "name", "tags", "attributes"),
            [(cast.org_a.pk, server.pk, "as-tuple", ["web"], {"os": "linux"})],
            lambda row: row[2],
        )
    row = ConfigurationItem.objects.get(pk=key)
    assert (row.name, row.tags, row.attributes, row.status) == (
        "as-tuple",
        ["web"],
        {"os": "linux"},
        saved.status,  # a default
    )
    one, many = (
        _record("cmdb.configurationitem", saved.pk),
        _record("cmdb.configurationitem", key),
    )
    assert (many.action, many.actor_email, many.organization_id) == (
        "create",
        "agent@a.test",
        cast.org_a.pk,
    )
    assert many.object_repr == "as-tuple" and many.before is None
    assert list(many.after) == list(one.after)  # the same fields, in the same order
    differ = {"id", "name", "created_at"}
    assert {k: v for k, v in many.after.items() if k not in differ} == {
        k: v for k, v in one.after.items() if k not in differ
    }
    assert many.after["id"] == key and many.after["created_at"].endswith("Z")
    assert set(many.changes) == set(one.changes)
    assert many.changes["name"] == [None, "as-tuple"] and many.changes["tags"] == [None, ["web"]]
    # a later save diffs against what was inserted
    with acting_as(cast.agent):
        row.name = "renamed"
        row.save()
    update = AuditRecord.objects.get(
        object_type="cmdb.configurationitem", object_id=str(key), action="update"
    )
    assert update.changes == {"name": ["as-tuple", "renamed"]}
