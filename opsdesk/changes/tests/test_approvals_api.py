"""The API of approval policies, approvals and CAB meetings."""

from __future__ import annotations

import pytest

from opsdesk.changes import approvals as engine
from opsdesk.changes.choices import ChangeState
from opsdesk.changes.models import ApprovalPolicy
from opsdesk.changes.tests.approvals_helpers import person, policy, team, to_authorise
from opsdesk.core.testing.api import ApiClient, assert_error

pytestmark = pytest.mark.django_db


def test_a_manager_creates_and_patches_a_policy(cast, client):
    ann = person(cast, "Ann One")
    network = team(cast, "Network", ann)
    api = ApiClient(client, cast.manager)
    resp = api.post(
        "/approval-policies",
        {
            "organization_id": cast.org_a.pk,
            "name": "High risk",
            "change_types": ["normal"],
            "risk_classes": ["high", "very_high"],
            "order": 10,
            "steps": [
                {"approver_kind": "team", "team_id": network.pk},
                {"approver_kind": "cab", "name": "Weekly CAB"},
            ],
        },
    )
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert [s["name"] for s in body["steps"]] == ["Network", "Weekly CAB"]
    assert body["steps"][0]["team"]["id"] == network.pk
    resp = api.patch(f"/approval-policies/{body['id']}", {"is_active": False, "order": 3})
    assert resp.status_code == 200 and resp.json()["is_active"] is False
    assert ApprovalPolicy.objects.get(pk=body["id"]).order == 3
    listed = api.get("/approval-policies", {"organization": cast.org_a.pk}).json()
    assert [p["name"] for p in listed["items"]] == ["High risk"]


@pytest.mark.parametrize(
    ("step", "field"),
    [
        ({"approver_kind": "team"}, "steps.0.team_id"),
        ({"approver_kind": "users"}, "steps.0.user_ids"),
        ({"approver_kind": "users", "user_ids": [999999]}, "steps.0.user_ids"),
        ({"approver_kind": "change_manager", "quorum": 2}, "steps.0.quorum"),
    ],
)
def test_bad_steps_name_the_field(cast, client, step, field):
    api = ApiClient(client, cast.manager)
    resp = api.post(
        "/approval-policies",
        {"organization_id": cast.org_a.pk, "name": "Bad", "steps": [step]},
    )
    assert_error(resp, 422, field)


def test_a_step_naming_another_organisations_team_is_refused(cast, client):
    api = ApiClient(client, cast.manager)
    resp = api.post(
        "/approval-policies",
        {
            "organization_id": cast.org_a.pk,
            "name": "Foreign",
            "steps": [{"approver_kind": "team", "team_id": cast.team_b.pk}],
        },
    )
    assert_error(resp, 422, "steps.0.team_id")


def test_agents_read_policies_but_do_not_write_them(cast, client):
    policy(cast, "Existing", [{"approver_kind": "cab"}])
    api = ApiClient(client, cast.agent)
    assert api.get("/approval-policies").json()["total"] == 1
    resp = api.post(
        "/approval-policies",
        {"organization_id": cast.org_a.pk, "name": "x", "steps": [{"approver_kind": "cab"}]},
    )
    assert_error(resp, 403)


def test_my_approvals_and_approving_through_the_api(cast, client):
    c = to_authorise(cast, change_manager=cast.manager)
    api = ApiClient(client, cast.manager)
    mine = api.get("/change-approvals", {"mine": "true"}).json()
    assert [a["change"]["number"] for a in mine["items"]] == [c.number]
    assert (
        ApiClient(client, cast.agent).get("/change-approvals", {"mine": "true"}).json()["total"]
        == 0
    )
    approval_id = mine["items"][0]["id"]
    assert_error(
        ApiClient(client, cast.agent).post(f"/change-approvals/{approval_id}/approve", {}), 403
    )
    resp = api.post(f"/change-approvals/{approval_id}/approve", {"comment": "Go ahead"})
    assert resp.status_code == 200, resp.content
    assert resp.json()["state"] == "approved" and resp.json()["change"]["state"] == "scheduled"
    assert_error(api.post(f"/change-approvals/{approval_id}/approve", {}), 409, "state")
    listed = api.get(f"/changes/{c.pk}/approvals").json()
    assert [(a["step_name"], a["state"]) for a in listed] == [("Change manager", "approved")]


def test_rejecting_needs_a_comment_and_returns_the_change_to_new(cast, client):
    c = to_authorise(cast, change_manager=cast.manager)
    [approval] = engine.outstanding(c)
    api = ApiClient(client, cast.manager)
    assert_error(api.post(f"/change-approvals/{approval.pk}/reject", {}), 422, "comment")
    assert_error(
        api.post(f"/change-approvals/{approval.pk}/reject", {"comment": " "}), 422, "comment"
    )
    resp = api.post(
        f"/change-approvals/{approval.pk}/reject", {"comment": "Too risky at month end"}
    )
    assert resp.status_code == 200
    c.refresh_from_db()
    assert c.state == ChangeState.NEW


def test_authorise_is_refused_while_approvals_are_outstanding(cast, client):
    c = to_authorise(cast, change_manager=cast.manager)
    resp = ApiClient(client, cast.manager).post(f"/changes/{c.pk}/authorise", {})
    body = assert_error(resp, 409, "state")
    assert "Mandla Manager" in body["detail"]


def test_other_organisations_approvals_are_not_found(cast, client):
    b_change = to_authorise(cast, user=cast.agent_b, org=cast.org_b, change_manager=cast.admin_b)
    [b_approval] = engine.outstanding(b_change)
    api = ApiClient(client, cast.admin)
    assert_error(api.get(f"/change-approvals/{b_approval.pk}"), 404)
    assert_error(api.post(f"/change-approvals/{b_approval.pk}/approve", {}), 404)
    assert_error(api.get(f"/changes/{b_change.pk}/approvals"), 404)
    assert api.get("/change-approvals").json()["total"] == 0
    assert api.get("/change-approvals", {"change_id": b_change.pk}).json()["total"] == 0


def test_a_cab_meeting_through_the_api_schedules_the_change(cast, client):
    policy(cast, "CAB", [{"approver_kind": "cab"}])
    c = to_authorise(cast)
    api = ApiClient(client, cast.manager)
    resp = api.post(
        "/cab-meetings",
        {
            "organization_id": cast.org_a.pk,
            "title": "Weekly CAB",
            "starts_at": "2030-01-07T10:00:00Z",
            "ends_at": "2030-01-07T11:00:00Z",
            "member_ids": [cast.agent.pk],
        },
    )
    assert resp.status_code == 201, resp.content
    meeting = resp.json()
    assert meeting["chair"]["id"] == cast.manager.pk and meeting["state"] == "planned"
    mid = meeting["id"]
    items = api.post(f"/cab-meetings/{mid}/agenda").json()["items"]
    assert [i["change"]["number"] for i in items] == [c.number]
    assert items[0]["change"]["conflicts"] == len(c.conflicts or [])
    item_id = items[0]["id"]
    decision = f"/cab-meetings/{mid}/items/{item_id}/decision"
    assert_error(api.post(decision, {"decision": "approved"}), 409, "state")
    assert api.post(f"/cab-meetings/{mid}/start").json()["state"] == "in_progress"
    assert_error(api.post(decision, {"decision": "rejected"}), 422, "notes")
    assert_error(api.post(decision, {"decision": "maybe"}), 422)
    resp = api.post(decision, {"decision": "approved", "notes": "Agreed"})
    assert resp.status_code == 200 and resp.json()["decision"] == "approved"
    c.refresh_from_db()
    assert c.state == ChangeState.SCHEDULED
    done = api.post(f"/cab-meetings/{mid}/complete").json()
    assert done["state"] == "completed" and done["items"][0]["decision_notes"] == "Agreed"
    assert_error(api.post(f"/cab-meetings/{mid}/start"), 409, "state")
    resp = api.patch(f"/cab-meetings/{mid}", {"notes": "One change approved."})
    assert resp.status_code == 200 and resp.json()["notes"] == "One change approved."


def test_meeting_input_names_the_field(cast, client):
    api = ApiClient(client, cast.manager)
    base = {
        "organization_id": cast.org_a.pk,
        "title": "CAB",
        "starts_at": "2030-01-07T10:00:00Z",
        "ends_at": "2030-01-07T09:00:00Z",
    }
    assert_error(api.post("/cab-meetings", base), 422, "ends_at")
    fixed = {**base, "ends_at": "2030-01-07T11:00:00Z"}
    assert_error(
        api.post("/cab-meetings", {**fixed, "member_ids": [cast.agent_b.pk]}), 422, "member_ids"
    )
    assert_error(
        api.post("/cab-meetings", {**fixed, "chair_id": cast.requester.pk}), 422, "chair_id"
    )
