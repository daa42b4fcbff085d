"""The change API and the template catalogue: template actions first, then raising each type
of change, the filters of the list, every transition (with the workflow's 409 naming the
allowed transitions and 422 naming missing input), CIs, notes, and tenant isolation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from opsdesk.changes import template_actions
from opsdesk.changes.models import Change, ChangeTemplate
from opsdesk.changes.tests.factories import change, ci, template, when
from opsdesk.core.errors import FieldError, PermissionDenied
from opsdesk.core.models import AuditRecord
from opsdesk.core.testing.api import ApiClient, assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(cast, client):  # type: ignore[no-untyped-def]
    return ApiClient(client, cast.agent)


@pytest.fixture
def manager_api(cast, client):  # type: ignore[no-untyped-def]
    return ApiClient(client, cast.manager)


def iso(dt):  # type: ignore[no-untyped-def]
    return dt.isoformat()


def full_plan(cast, **extra):  # type: ignore[no-untyped-def]
    start = when(3)
    return {
        "organization_id": cast.org_a.pk,
        "title": "Upgrade the core switch",
        "implementation_plan": "Drain, upgrade, restore.",
        "backout_plan": "Boot the previous image.",
        "planned_start": iso(start),
        "planned_end": iso(start + timedelta(hours=2)),
        **extra,
    }


# --- template actions ----------------------------------------------------------------------


def test_managers_add_templates_agents_may_not(cast):
    srv = ci(cast.org_a, "web-01")
    tpl = template_actions.create_template(
        acting_user=cast.manager,
        organization=cast.org_a,
        name="  Restart a web server ",
        cis=[srv],
        match_environments=["production", " production", "staging"],
    )
    assert tpl.name == "Restart a web server"
    assert list(tpl.cis.all()) == [srv]
    assert tpl.match_environments == ["production", "staging"]
    assert AuditRecord.objects.filter(
        object_type="changes.changetemplate", object_id=str(tpl.pk)
    ).exists()
    with pytest.raises(PermissionDenied):
        template_actions.create_template(
            acting_user=cast.agent, organization=cast.org_a, name="Sneaky"
        )


def test_template_names_are_unique_per_organisation_and_cis_stay_home(cast):
    template_actions.create_template(acting_user=cast.manager, organization=cast.org_a, name="X")
    with pytest.raises(FieldError) as err:
        template_actions.create_template(
            acting_user=cast.manager, organization=cast.org_a, name="x"
        )
    assert "name" in err.value.errors
    # Another organisation may use the same name.
    template_actions.create_template(acting_user=cast.admin_b, organization=cast.org_b, name="X")
    with pytest.raises(FieldError) as err:
        template_actions.create_template(
            acting_user=cast.manager,
            organization=cast.org_a,
            name="Y",
            match_cis=[ci(cast.org_b, "b-srv")],
        )
    assert "match_ci_ids" in err.value.errors


def test_a_retired_template_raises_no_changes(cast):
    tpl = template(cast)
    template_actions.retire_template(acting_user=cast.manager, template=tpl)
    tpl.refresh_from_db()
    assert tpl.is_active is False
    with pytest.raises(FieldError) as err:
        change(cast, template=tpl, change_type="standard")
    assert "template_id" in err.value.errors


def test_template_duration_is_bounded(cast):
    tpl = template(cast)
    with pytest.raises(FieldError) as err:
        template_actions.update_template(
            acting_user=cast.manager, template=tpl, default_duration_minutes=0
        )
    assert "default_duration_minutes" in err.value.errors


# --- raising changes -----------------------------------------------------------------------


def test_raise_a_normal_change_with_cis(cast, api):
    db = ci(cast.org_a, "bank-db", "database")
    resp = api.post("/changes", full_plan(cast, ci_ids=[db.pk]))
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["number"].startswith("CHG")
    assert body["change_type"] == "normal" and body["state"] == "new"
    assert body["cis"] == [{"id": db.pk, "name": "bank-db", "ci_class": "database"}]
    assert body["allowed_transitions"] == ["assess", "cancel"]
    assert [t["name"] for t in body["transitions"]] == ["assess", "cancel"]
    assert body["requested_by"]["email"] == cast.agent.email
    assert body["conflicts"] == [] and body["risk_assessment"] == {}


def test_raise_an_emergency_change(cast, api):
    resp = api.post("/changes", full_plan(cast, change_type="emergency", justification="Outage"))
    assert resp.status_code == 201, resp.content
    assert resp.json()["allowed_transitions"] == ["request_authorisation", "cancel"]


def test_raise_a_standard_change_from_a_template(cast, api):
    srv = ci(cast.org_a, "web-01")
    tpl = template(cast, cis=[srv], default_duration_minutes=45, risk_class="low")
    start = when(2)
    resp = api.post("/changes", {"template_id": tpl.pk, "planned_start": iso(start)})
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["change_type"] == "standard" and body["template_id"] == tpl.pk
    assert body["title"] == tpl.name and body["risk_class"] == "low"
    assert body["cis"][0]["id"] == srv.pk
    assert body["planned_end"].startswith((start + timedelta(minutes=45)).isoformat()[:16])
    assert body["allowed_transitions"] == ["schedule", "cancel"]


def test_bad_input_when_raising_names_the_field(cast, api):
    assert_error(api.post("/changes", {"title": "No org"}), 422, "organization_id")
    assert_error(api.post("/changes", full_plan(cast, change_type="standard")), 422, "template_id")
    assert_error(api.post("/changes", full_plan(cast, change_type="routine")), 422, "change_type")
    assert_error(api.post("/changes", full_plan(cast, title="")), 422, "title")
    start = when(4)
    body = full_plan(cast, planned_start=iso(start), planned_end=iso(start - timedelta(hours=1)))
    assert_error(api.post("/changes", body), 422, "planned_end")
    assert_error(api.post("/changes", full_plan(cast, ci_ids=[999_999])), 422, "ci_ids")
    b_ci = ci(cast.org_b, "b-srv")
    assert_error(api.post("/changes", full_plan(cast, ci_ids=[b_ci.pk])), 422, "ci_ids")
    assert_error(api.post("/changes", full_plan(cast, service_id=b_ci.pk)), 422, "service_id")
    server = ci(cast.org_a, "plain-server")
    assert_error(api.post("/changes", full_plan(cast, service_id=server.pk)), 422, "service_id")
    assert_error(
        api.post("/changes", full_plan(cast, assignment_group_id=cast.team_b.pk)),
        422,
        "assignment_group_id",
    )
    assert Change.objects.count() == 0


def test_requesters_and_auditors_may_not_raise(cast, client):
    for user in (cast.requester, cast.auditor):
        assert_error(ApiClient(client, user).post("/changes", full_plan(cast)), 403)


# --- the list ------------------------------------------------------------------------------


def test_list_filters(cast, api):
    topo_db = ci(cast.org_a, "bank-db", "database")
    banking = ci(cast.org_a, "Online Banking", "business_service", criticality=1)
    a = change(cast, title="Upgrade the database", cis=[topo_db], service=banking)
    b = change(
        cast,
        title="Patch the mail server",
        change_type="emergency",
        justification="CVE",
        planned_start=when(20),
        planned_end=when(20) + timedelta(hours=1),
        assignment_group=cast.team_a,
    )
    c = change(cast, title="Retired idea")
    api.post(f"/changes/{c.pk}/cancel", {"reason": "Not needed"})
    b.risk_class = "high"  # set directly: scoring is the risk part's, not this test's
    b.save()

    def numbers(**params):  # type: ignore[no-untyped-def]
        resp = api.get("/changes", params)
        assert resp.status_code == 200, resp.content
        return {item["number"] for item in resp.json()["items"]}

    assert numbers() == {a.number, b.number, c.number}
    assert numbers(state="open") == {a.number, b.number}
    assert numbers(state="cancelled") == {c.number}
    assert numbers(change_type="emergency") == {b.number}
    assert numbers(risk_class="high") == {b.number}
    assert numbers(ci_id=topo_db.pk) == {a.number}
    assert numbers(service_id=banking.pk) == {a.number}
    assert numbers(assignment_group_id=cast.team_a.pk) == {b.number}
    assert numbers(q="mail") == {b.number}
    assert numbers(q=a.number) == {a.number}
    assert numbers(organization_id=cast.org_a.pk, state="open") == {a.number, b.number}
    # Planned between from and to: b is planned 20 days out, a and c 3 days out.
    assert numbers(**{"from": iso(when(10)), "to": iso(when(30))}) == {b.number}
    assert numbers(**{"to": iso(when(5))}) == {a.number, c.number}
    listed = api.get("/changes", {"sort": "-start"}).json()["items"]
    assert listed[0]["number"] == b.number


def test_list_bad_filters_name_the_parameter(cast, api):
    assert_error(api.get("/changes", {"state": "sideways"}), 422, "state")
    assert_error(api.get("/changes", {"risk_class": "extreme"}), 422, "risk_class")
    assert_error(api.get("/changes", {"from": "yesterday"}), 422, "from")
    assert_error(api.get("/changes", {"from": iso(when(5)), "to": iso(when(1))}), 422, "to")
    assert_error(api.get("/changes", {"sort": "colour"}), 422, "sort")


# --- transitions ---------------------------------------------------------------------------


def test_a_normal_change_walks_its_whole_path(cast, api):
    c = change(cast, change_manager=cast.manager)
    path = f"/changes/{c.pk}"
    resp = api.post(f"{path}/assess")
    assert resp.status_code == 200, resp.content
    assert resp.json()["state"] == "assess"
    resp = api.post(f"{path}/request_authorisation", {})
    assert resp.status_code == 200, resp.content
    assert resp.json()["state"] == "authorise"
    # Without an approvals policy nothing is outstanding: authorise moves it to scheduled.
    c.refresh_from_db()
    c.state = "scheduled"
    c.save()
    started = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    resp = api.post(f"{path}/implement", {"actual_start": iso(started)})
    assert resp.status_code == 200, resp.content
    assert resp.json()["state"] == "implement"
    assert resp.json()["actual_start"].startswith(started.isoformat()[:16])
    resp = api.post(f"{path}/complete", {"close_code": "successful_with_issues"})
    assert resp.status_code == 200, resp.content
    assert resp.json()["state"] == "review"
    assert resp.json()["close_code"] == "successful_with_issues"
    resp = api.post(f"{path}/close", {"close_notes": "Done; one retry needed."})
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["state"] == "closed" and body["closed_at"] and body["allowed_transitions"] == []
    kinds = [e["kind"] for e in api.get(f"{path}/timeline").json()["items"]]
    assert kinds.count("state") == 5  # assess, request, implement, complete, close
    assert kinds[0] == "created"


def test_refusals_are_409_naming_the_allowed_and_422_naming_the_input(cast, api):
    c = change(cast)
    path = f"/changes/{c.pk}"
    body = assert_error(api.post(f"{path}/implement", {}), 409)
    assert "assess" in body["detail"] and "cancel" in body["detail"]
    body = assert_error(api.post(f"{path}/schedule", {}), 409)
    assert "normal change cannot schedule" in body["detail"]
    assert_error(api.post(f"{path}/cancel", {}), 422, "reason")
    api.post(f"{path}/assess")
    c.refresh_from_db()
    c.backout_plan = ""
    c.save()
    assert_error(api.post(f"{path}/request_authorisation", {}), 422, "backout_plan")
    assert_error(api.post(f"{path}/complete", {"close_code": "meh"}), 422, "close_code")
    assert_error(api.post(f"{path}/implement", {"surprise": 1}), 422, "surprise")
    c.refresh_from_db()
    assert c.state == "assess"


def test_reject_revise_and_cancel_take_a_reason(cast, api):
    c = change(cast, change_manager=cast.manager)
    path = f"/changes/{c.pk}"
    api.post(f"{path}/assess")
    api.post(f"{path}/request_authorisation", {})
    assert_error(api.post(f"{path}/reject", {"reason": " "}), 422, "reason")
    resp = api.post(f"{path}/reject", {"reason": "Back-out plan is thin"})
    assert resp.status_code == 200 and resp.json()["state"] == "new"
    api.post(f"{path}/assess")
    resp = api.post(f"{path}/revise", {"reason": "New date"})
    assert resp.json()["state"] == "new"
    resp = api.post(f"{path}/cancel", {"reason": "Superseded"})
    assert resp.json()["state"] == "cancelled"
    entries = api.get(f"{path}/timeline").json()["items"]
    assert [e["data"].get("reason") for e in entries if e["kind"] == "state"][-1] == "Superseded"
    assert_error(api.patch(path, {"title": "Too late"}), 409)


def test_a_standard_change_is_scheduled_without_authorisation(cast, api):
    tpl = template(cast)
    c = change(cast, template=tpl, planned_start=when(1))
    path = f"/changes/{c.pk}"
    assert_error(api.post(f"{path}/request_authorisation", {}), 409)
    resp = api.post(f"{path}/schedule", {})
    assert resp.status_code == 200, resp.content
    assert resp.json()["state"] == "scheduled"


def test_an_emergency_change_needs_its_justification(cast, api):
    c = change(cast, change_type="emergency", change_manager=cast.manager)
    assert_error(api.post(f"/changes/{c.pk}/request_authorisation", {}), 422, "justification")
    api.patch(f"/changes/{c.pk}", {"justification": "Payments are down"})
    resp = api.post(f"/changes/{c.pk}/request_authorisation", {})
    assert resp.status_code == 200 and resp.json()["state"] == "authorise"


# --- update, CIs, notes, workflows ---------------------------------------------------------


def test_patch_replace_cis_and_notes(cast, api):
    c = change(cast)
    path = f"/changes/{c.pk}"
    resp = api.patch(
        path,
        {
            "description": "Database engine 15 -> 16",
            "assignment_group_id": cast.team_a.pk,
            "assignee_id": cast.agent.pk,
        },
    )
    assert resp.status_code == 200, resp.content
    assert resp.json()["assignee"]["id"] == cast.agent.pk
    assert_error(api.patch(path, {"title": None}), 422, "title")
    assert_error(api.patch(path, {"change_manager_id": cast.admin_b.pk}), 422, "change_manager_id")
    one, two = ci(cast.org_a, "db-01", "database"), ci(cast.org_a, "db-02", "database")
    resp = api.request("PUT", f"{path}/cis", {"ci_ids": [two.pk, one.pk]})
    assert resp.status_code == 200, resp.content
    assert [x["name"] for x in resp.json()["cis"]] == ["db-01", "db-02"]
    assert_error(api.request("PUT", f"{path}/cis", {"ci_ids": [10**9]}), 422, "ci_ids")
    resp = api.post(f"{path}/notes", {"body": "Vendor confirmed the version."})
    assert resp.status_code == 201 and resp.json()["kind"] == "work_note"
    assert_error(api.post(f"{path}/notes", {"body": ""}), 422, "body")
    entries = api.get(f"{path}/timeline").json()["items"]
    cis_entry = next(e for e in entries if "cis" in e["data"].get("changes", {}))
    assert cis_entry["data"]["added"] == ["db-01", "db-02"]


def test_workflows_are_published(cast, api):
    body = api.get("/change-workflows").json()
    assert set(body) == {"normal", "emergency", "standard"}
    names = [t["name"] for t in body["standard"]["transitions"]]
    assert "schedule" in names and "request_authorisation" not in names


# --- templates over the API ----------------------------------------------------------------


def test_template_catalogue_api(cast, api, manager_api):
    srv = ci(cast.org_a, "web-01")
    body = {
        "organization_id": cast.org_a.pk,
        "name": "Restart a web server",
        "risk_class": "low",
        "ci_ids": [srv.pk],
        "default_duration_minutes": 15,
    }
    assert_error(api.post("/change-templates", body), 403)
    resp = manager_api.post("/change-templates", body)
    assert resp.status_code == 201, resp.content
    tpl = resp.json()
    assert tpl["cis"][0]["name"] == "web-01" and tpl["is_active"] is True
    assert_error(manager_api.post("/change-templates", body), 422, "name")
    listed = api.get("/change-templates", {"is_active": True}).json()
    assert [t["name"] for t in listed["items"]] == ["Restart a web server"]
    resp = manager_api.patch(f"/change-templates/{tpl['id']}", {"is_active": False})
    assert resp.status_code == 200 and resp.json()["is_active"] is False
    assert api.get("/change-templates", {"is_active": True}).json()["total"] == 0
    assert_error(manager_api.patch(f"/change-templates/{tpl['id']}", {"name": None}), 422, "name")
    assert_error(api.post("/changes", {"template_id": tpl["id"]}), 422, "template_id")  # retired
    assert ChangeTemplate.objects.get(pk=tpl["id"]).name == "Restart a web server"


# --- tenants -------------------------------------------------------------------------------


def test_other_organisations_changes_are_404(cast, api):
    theirs = change(cast, org=cast.org_b)
    tpl = template(cast, org=cast.org_b)
    for path in (f"/changes/{theirs.pk}", f"/change-templates/{tpl.pk}"):
        assert_error(api.get(path), 404)
    assert_error(api.post(f"/changes/{theirs.pk}/assess"), 404)
    assert_error(api.post("/changes", {"template_id": tpl.pk}), 404)
    assert api.get("/changes").json()["total"] == 0
    theirs.refresh_from_db()
    assert theirs.state == "new"
