"""CI and relationship actions: validation, identifiers, sources, permissions, audit."""

import pytest
from django.contrib.auth import get_user_model

from opsdesk.cmdb import actions
from opsdesk.cmdb.impact import impact_analysis
from opsdesk.cmdb.models import CIClass, CIIdentifier, ConfigurationItem, Relationship
from opsdesk.cmdb.tests.factories import ci
from opsdesk.core.errors import Conflict, FieldError, NotFound, PermissionDenied
from opsdesk.core.models import AuditRecord

pytestmark = pytest.mark.django_db


def server_class() -> CIClass:
    return CIClass.objects.get(key="server")


def make_server(cast, name="srv-01", **fields):  # type: ignore[no-untyped-def]
    return actions.create_ci(
        acting_user=cast.agent,
        organization=cast.org_a,
        ci_class=server_class(),
        name=name,
        **fields,
    )


def superuser():  # type: ignore[no-untyped-def]
    return get_user_model().objects.create_superuser(
        "root@platform.test", "pw-123456789", full_name="Root"
    )


# --- Creating and changing CIs --------------------------------------------------------------------


def test_agent_creates_a_server_with_attributes_identifiers_and_manual_sources(cast):
    srv = make_server(
        cast,
        attributes={"serial_number": "SN-123", "cpu_cores": 8, "fqdn": "srv-01.acme.test"},
        owner_team=cast.team_a,
        criticality=2,
        tags=["pci", "linux"],
        country="za",
    )
    srv.refresh_from_db()
    assert srv.owner_team == cast.team_a
    assert srv.country == "ZA"
    assert set(CIIdentifier.objects.filter(ci=srv).values_list("kind", "value")) == {
        ("serial_number", "sn-123"),
        ("fqdn", "srv-01.acme.test"),
        ("name:server", "srv-01"),
    }
    assert srv.attribute_sources["attributes.cpu_cores"] == "manual"
    assert srv.attribute_sources["owner_team"] == "manual"
    record = AuditRecord.objects.get(object_type="cmdb.configurationitem", object_id=str(srv.pk))
    assert record.action == "create"
    assert record.actor_id == cast.agent.pk
    assert record.after["attributes"]["cpu_cores"] == 8


def test_attributes_are_validated_against_the_class_schema(cast):
    with pytest.raises(FieldError) as exc:
        make_server(cast, attributes={"cpu_cores": "eight", "memory_gb": -1})
    assert set(exc.value.errors) == {"attributes.cpu_cores", "attributes.memory_gb"}
    assert not ConfigurationItem.objects.filter(name="srv-01").exists()


def test_bad_common_fields_are_named(cast):
    with pytest.raises(FieldError) as exc:
        make_server(cast, status="broken", country="XX", criticality=7, tags="pci")
    assert {"status", "country", "criticality", "tags"} <= set(exc.value.errors)


def test_owner_team_must_belong_to_the_organisation(cast):
    with pytest.raises(FieldError) as exc:
        make_server(cast, owner_team_id=cast.team_b.pk)
    assert "owner_team_id" in exc.value.errors
    with pytest.raises(FieldError) as exc:
        make_server(cast, support_team=cast.team_b)
    assert "support_team" in exc.value.errors


def test_admin_extends_a_class_schema_without_a_migration(cast):
    root = superuser()
    old = make_server(cast, "old-srv")
    cls = server_class()
    schema = dict(cls.attribute_schema)
    schema["properties"] = {
        **schema["properties"],
        "rack": {"type": "string", "pattern": "^R[0-9]{2}$"},
    }
    schema["required"] = ["rack"]
    actions.update_ci_class(acting_user=root, ci_class=cls, attribute_schema=schema)
    cls.refresh_from_db()
    # The new attribute is validated on new CIs ...
    with pytest.raises(FieldError) as exc:
        make_server(cast, "new-srv", attributes={"rack": "shelf 3"})
    assert "attributes.rack" in exc.value.errors
    with pytest.raises(FieldError) as exc:
        make_server(cast, "new-srv", attributes={})
    assert "attributes.rack" in exc.value.errors
    made = make_server(cast, "new-srv", attributes={"rack": "R07"})
    assert made.attributes == {"rack": "R07"}
    # ... existing CIs were not re-validated, but their next attribute edit is.
    old.refresh_from_db()
    actions.update_ci(acting_user=cast.agent, ci=old, description="still editable")
    with pytest.raises(FieldError) as exc:
        actions.update_ci(acting_user=cast.agent, ci=old, attributes={"os": "Linux"})
    assert "attributes.rack" in exc.value.errors


def test_class_schema_must_stay_valid_and_only_superusers_change_it(cast):
    cls = server_class()
    with pytest.raises(PermissionDenied):
        actions.update_ci_class(acting_user=cast.admin, ci_class=cls, label="Box")
    root = superuser()
    with pytest.raises(FieldError) as exc:
        actions.update_ci_class(
            acting_user=root, ci_class=cls, attribute_schema={"type": "object", "properties": 3}
        )
    assert "attribute_schema" in exc.value.errors
    with pytest.raises(FieldError) as exc:
        actions.update_ci_class(acting_user=root, ci_class=cls, identifiers="serial")
    assert "identifiers" in exc.value.errors
    with pytest.raises(FieldError) as exc:
        actions.update_ci_class(acting_user=root, ci_class=cls, key="renamed")
    assert "key" in exc.value.errors
    actions.update_ci_class(acting_user=root, ci_class=cls, label="Host", is_service=False)
    cls.refresh_from_db()
    assert cls.label == "Host"
    assert AuditRecord.objects.filter(object_type="cmdb.ciclass", object_id=str(cls.pk)).exists()


def test_identifier_conflict_names_the_attribute_and_makes_no_twin(cast):
    make_server(cast, "srv-01", attributes={"serial_number": "SN-1"})
    with pytest.raises(Conflict) as exc:
        make_server(cast, "srv-02", attributes={"serial_number": " sn-1 "})
    assert exc.value.field == "attributes.serial_number"
    assert not ConfigurationItem.objects.filter(name="srv-02").exists()
    with pytest.raises(Conflict) as exc:
        make_server(cast, "SRV-01")
    assert exc.value.field == "name"
    # The same serial in another organisation is a different machine.
    actions.create_ci(
        acting_user=cast.admin_b,
        organization=cast.org_b,
        ci_class=server_class(),
        name="srv-01",
        attributes={"serial_number": "SN-1"},
    )


def test_update_keeps_identifiers_in_sync_and_marks_changes_manual(cast):
    srv = make_server(cast, attributes={"serial_number": "SN-1", "os": "Linux"})
    srv.attribute_sources = {
        "attributes.os": "azure",
        "attributes.serial_number": "azure",
    }  # as an import left them
    srv = actions.update_ci(
        acting_user=cast.agent,
        ci=srv,
        attributes={"serial_number": "SN-2", "os": "Linux"},
        name="srv-01b",
    )
    srv.refresh_from_db()
    assert set(CIIdentifier.objects.filter(ci=srv).values_list("kind", "value")) == {
        ("serial_number", "sn-2"),
        ("name:server", "srv-01b"),
    }
    assert srv.attribute_sources["attributes.serial_number"] == "manual"
    assert srv.attribute_sources["attributes.os"] == "azure"  # unchanged: the import still owns it
    assert srv.attribute_sources["name"] == "manual"
    record = AuditRecord.objects.filter(object_id=str(srv.pk), action="update").latest("pk")
    assert record.changes["name"] == ["srv-01", "srv-01b"]
    assert record.before["attributes"]["serial_number"] == "SN-1"
    assert record.after["attributes"]["serial_number"] == "SN-2"
    # The old serial is free again.
    make_server(cast, "srv-03", attributes={"serial_number": "SN-1"})


def test_unchanged_update_writes_no_audit_record(cast):
    srv = make_server(cast, description="x")
    before = AuditRecord.objects.count()
    actions.update_ci(acting_user=cast.agent, ci=srv, description="x")
    assert AuditRecord.objects.count() == before


def test_unknown_fields_are_refused(cast):
    srv = make_server(cast)
    with pytest.raises(FieldError) as exc:
        actions.update_ci(acting_user=cast.agent, ci=srv, organization=cast.org_b)
    assert "organization" in exc.value.errors


def test_roles(cast):
    with pytest.raises(PermissionDenied):
        actions.create_ci(
            acting_user=cast.requester,
            organization=cast.org_a,
            ci_class=server_class(),
            name="x",
        )
    srv = make_server(cast)
    with pytest.raises(PermissionDenied):
        actions.update_ci(acting_user=cast.auditor, ci=srv, name="y")
    with pytest.raises(PermissionDenied):
        actions.delete_ci(acting_user=cast.agent, ci=srv)  # agents do not delete
    with pytest.raises(PermissionDenied):
        actions.update_ci(acting_user=cast.admin_b, ci=srv, name="y")
    actions.delete_ci(acting_user=cast.manager, ci=srv)
    assert not ConfigurationItem.objects.filter(pk=srv.pk).exists()


def test_delete_removes_relationships_with_audit(cast):
    app = ci(cast.org_a, "app", "application")
    srv = make_server(cast)
    rel = actions.add_relationship(
        acting_user=cast.agent, source=app, type_key="runs_on", target=srv
    )
    actions.delete_ci(acting_user=cast.manager, ci=srv)
    assert not Relationship.objects.filter(pk=rel.pk).exists()
    deleted = AuditRecord.objects.filter(action="delete").values_list("object_type", flat=True)
    assert {"cmdb.relationship", "cmdb.configurationitem"} <= set(deleted)
    assert not CIIdentifier.objects.filter(ci_id=srv.pk).exists()


# --- Relationships ---------------------------------------------------------------------------------


def test_relationship_rules(cast):
    app = ci(cast.org_a, "app", "application")
    srv = ci(cast.org_a, "srv", "server")
    rel = actions.add_relationship(
        acting_user=cast.agent, source=app, type_key="runs_on", target=srv, discovered_by="k8s"
    )
    assert (rel.source, rel.type.key, rel.target, rel.discovered_by) == (
        app,
        "runs_on",
        srv,
        "k8s",
    )
    record = AuditRecord.objects.get(object_type="cmdb.relationship", object_id=str(rel.pk))
    assert record.after["source"] == app.pk and record.after["target"] == srv.pk

    with pytest.raises(Conflict):
        actions.add_relationship(acting_user=cast.agent, source=app, type_key="runs_on", target=srv)
    with pytest.raises(FieldError) as exc:
        actions.add_relationship(acting_user=cast.agent, source=app, type_key="runs_on", target=app)
    assert "target_id" in exc.value.errors
    with pytest.raises(FieldError) as exc:
        actions.add_relationship(acting_user=cast.agent, source=app, type_key="loves", target=srv)
    assert "type" in exc.value.errors
    b_srv = ci(cast.org_b, "b-srv", "server")
    with pytest.raises(NotFound):
        actions.add_relationship(
            acting_user=cast.agent, source=app, type_key="runs_on", target=b_srv
        )
    with pytest.raises(PermissionDenied):
        actions.add_relationship(
            acting_user=cast.auditor, source=srv, type_key="depends_on", target=app
        )
    assert Relationship.objects.count() == 1
    with pytest.raises(PermissionDenied):
        actions.remove_relationship(acting_user=cast.agent, relationship=rel)
    rel_id = rel.pk
    actions.remove_relationship(acting_user=cast.manager, relationship=rel)
    assert not Relationship.objects.exists()
    assert AuditRecord.objects.filter(
        object_type="cmdb.relationship", object_id=str(rel_id), action="delete"
    ).exists()


def test_cycles_made_through_actions_do_not_hang_impact(cast):
    svc = ci(cast.org_a, "svc", "business_service", criticality=1)
    a = ci(cast.org_a, "a", "application")
    b = ci(cast.org_a, "b", "application")
    srv = ci(cast.org_a, "srv", "server")
    for source, key, target in [
        (svc, "depends_on", a),
        (a, "depends_on", b),
        (b, "depends_on", a),  # a cycle between two applications is allowed
        (b, "runs_on", srv),
        (srv, "connects_to", a),
    ]:
        actions.add_relationship(acting_user=cast.agent, source=source, type_key=key, target=target)
    result = impact_analysis(srv, depth=10)
    assert [s["name"] for s in result["services"]] == ["svc"]
    assert result["services"][0]["path_names"][0] == "srv"
    assert result["services"][0]["path_names"][-1] == "svc"
    assert result["truncated"] is False
