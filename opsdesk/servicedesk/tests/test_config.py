"""Service-desk configuration: settings an admin edits (the priority matrix above all) and
incident categories."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsdesk.core.errors import FieldError, PermissionDenied
from opsdesk.core.testing.api import ApiTest, assert_error
from opsdesk.servicedesk import actions, config_actions
from opsdesk.servicedesk.models import Category, ServiceDeskSettings

pytestmark = pytest.mark.django_db

KEYS = config_actions.MATRIX_KEYS
matrices = st.fixed_dictionaries({k: st.integers(min_value=1, max_value=5) for k in KEYS})


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(matrix=matrices, impact=st.integers(1, 3), urgency=st.integers(1, 3))
def test_any_matrix_gives_each_incident_its_cell(cast, matrix, impact, urgency):
    """Whatever matrix an admin saves, an incident of any impact and urgency gets exactly the
    priority of its cell (and only a P1 becomes a major incident)."""
    config_actions.update_settings(
        acting_user=cast.admin, organization=cast.org_a, priority_matrix=matrix
    )
    incident = actions.create_incident(
        acting_user=cast.agent,
        organization=cast.org_a,
        title="generated",
        impact=impact,
        urgency=urgency,
    )
    assert incident.priority == matrix[f"{impact},{urgency}"]
    assert incident.is_major == (incident.priority == 1)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    matrix=st.dictionaries(
        st.sampled_from([*KEYS, "4,1", "1", "x"]),
        st.one_of(st.integers(-2, 8), st.text(max_size=2), st.booleans(), st.none()),
        max_size=11,
    )
)
def test_incomplete_or_wrong_matrices_are_refused_naming_the_matrix(cast, matrix):
    complete = set(matrix) == set(KEYS) and all(
        type(v) is int and 1 <= v <= 5 for v in matrix.values()
    )
    if complete:
        assert config_actions.check_priority_matrix(matrix) == matrix
        return
    with pytest.raises(FieldError) as exc:
        config_actions.update_settings(
            acting_user=cast.admin, organization=cast.org_a, priority_matrix=matrix
        )
    assert list(exc.value.errors) == ["priority_matrix"]


def test_only_admins_change_settings(cast):
    for user in (cast.requester, cast.agent, cast.manager, cast.auditor, cast.admin_b):
        with pytest.raises(PermissionDenied):
            config_actions.update_settings(
                acting_user=user, organization=cast.org_a, auto_close_days=3
            )
    config_actions.update_settings(
        acting_user=cast.admin, organization=cast.org_a, auto_close_days=3
    )
    assert ServiceDeskSettings.for_org(cast.org_a.pk).auto_close_days == 3


def test_email_address_is_unique_across_organisations(cast):
    config_actions.update_settings(
        acting_user=cast.admin_b, organization=cast.org_b, email_address="help@b.test"
    )
    with pytest.raises(FieldError) as exc:
        config_actions.update_settings(
            acting_user=cast.admin, organization=cast.org_a, email_address="HELP@b.test"
        )
    assert "email_address" in exc.value.errors
    with pytest.raises(FieldError) as exc:
        config_actions.update_settings(
            acting_user=cast.admin, organization=cast.org_a, email_address="not an address"
        )
    assert "email_address" in exc.value.errors


def test_default_team_must_be_of_the_organisation(cast):
    with pytest.raises(FieldError) as exc:
        config_actions.update_settings(
            acting_user=cast.admin, organization=cast.org_a, default_team=cast.team_b
        )
    assert "default_team_id" in exc.value.errors
    config_actions.update_settings(
        acting_user=cast.admin, organization=cast.org_a, default_team=cast.team_a
    )
    incident = actions.create_incident(acting_user=cast.agent, organization=cast.org_a, title="x")
    assert incident.assignment_group == cast.team_a


def test_categories_two_levels_unique_names_and_deactivation(cast):
    hw = config_actions.create_category(
        acting_user=cast.admin, organization=cast.org_a, name="Hardware"
    )
    laptop = config_actions.create_category(
        acting_user=cast.admin, organization=cast.org_a, name="Laptop", parent=hw
    )
    with pytest.raises(FieldError) as exc:
        config_actions.create_category(
            acting_user=cast.admin, organization=cast.org_a, name="hardware"
        )
    assert "name" in exc.value.errors
    with pytest.raises(FieldError) as exc:
        config_actions.create_category(
            acting_user=cast.admin, organization=cast.org_a, name="Screen", parent=laptop
        )
    assert "parent_id" in exc.value.errors
    with pytest.raises(PermissionDenied):
        config_actions.create_category(acting_user=cast.agent, organization=cast.org_a, name="X")
    config_actions.deactivate_category(acting_user=cast.admin, category=hw)
    assert not Category.objects.get(pk=laptop.pk).is_active


class TestConfigApi(ApiTest):
    def test_settings_read_and_patch(self):
        c = self.cast
        path = f"/service-desk-settings/{c.org_a.pk}"
        resp = self.as_user(c.agent).get(path)
        assert resp.status_code == 200
        assert resp.json()["priority_matrix"]["1,1"] == 1
        assert resp.json()["auto_declare_p1"] is True
        assert_error(self.as_user(c.agent).patch(path, {"auto_close_days": 3}), 403)
        admin = self.as_user(c.admin)
        matrix = {k: 3 for k in KEYS}
        resp = admin.patch(
            path,
            {
                "priority_matrix": matrix,
                "resolution_codes": ["fixed", "workaround"],
                "auto_declare_p1": False,
                "default_team_id": c.team_a.pk,
                "attachment_types": ["text/plain"],
            },
        )
        assert resp.status_code == 200, resp.content
        assert resp.json()["priority_matrix"] == matrix
        assert resp.json()["default_team_id"] == c.team_a.pk
        bad = dict(matrix)
        del bad["2,2"]
        assert_error(admin.patch(path, {"priority_matrix": bad}), 422, "priority_matrix")
        assert_error(
            admin.patch(path, {"priority_matrix": {**matrix, "2,2": 6}}), 422, "priority_matrix"
        )
        assert_error(admin.patch(path, {"default_team_id": c.team_b.pk}), 422, "default_team_id")
        assert_error(admin.patch(path, {"auto_close_days": 0}), 422, "auto_close_days")
        assert_error(admin.patch(path, {"resolution_codes": []}), 422, "resolution_codes")
        assert_error(admin.patch(path, {"colour": "red"}), 422, "colour")
        assert_error(admin.get(f"/service-desk-settings/{c.org_b.pk}"), 404)
        # the new codes are the ones a resolution must use
        incident = actions.create_incident(acting_user=c.agent, organization=c.org_a, title="x")
        resp = self.as_user(c.agent).post(
            f"/incidents/{incident.pk}/resolve",
            {"resolution_code": "solved_permanently", "resolution_notes": "done"},
        )
        assert_error(resp, 422, "resolution_code")

    def test_categories_api(self):
        c = self.cast
        admin = self.as_user(c.admin)
        resp = admin.post("/categories", {"organization_id": c.org_a.pk, "name": "Network"})
        assert resp.status_code == 201, resp.content
        parent_id = resp.json()["id"]
        resp = admin.post(
            "/categories", {"organization_id": c.org_a.pk, "name": "VPN", "parent_id": parent_id}
        )
        assert resp.status_code == 201 and resp.json()["parent_id"] == parent_id
        foreign = Category.objects.create(organization=c.org_b, name="B")
        resp = admin.post(
            "/categories", {"organization_id": c.org_a.pk, "name": "X", "parent_id": foreign.pk}
        )
        assert_error(resp, 422, "parent_id")
        listed = self.as_user(c.agent).get("/categories", {"parent": parent_id}).json()["items"]
        assert [i["name"] for i in listed] == ["VPN"]
        resp = admin.patch(f"/categories/{parent_id}", {"is_active": False})
        assert resp.status_code == 200 and resp.json()["is_active"] is False
        inactive = self.as_user(c.agent).get("/categories", {"is_active": "false"}).json()
        assert {i["name"] for i in inactive["items"]} == {"Network", "VPN"}
        assert_error(self.as_user(c.agent).patch(f"/categories/{parent_id}", {"name": "Y"}), 403)
