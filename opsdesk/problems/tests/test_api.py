"""The problem and known-error API: raise from incidents, explicit transitions with the
workflow's errors, linking, known errors from problems, suggestions, and what requesters
(nothing) and other organisations (404) see."""

from __future__ import annotations

import pytest

from opsdesk.cmdb.tests.factories import ci
from opsdesk.core.testing.api import ApiClient, assert_error
from opsdesk.problems.models import KnownError, Problem
from opsdesk.problems.tests.factories import incident, known_error, problem
from opsdesk.servicedesk.models import Incident

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(cast, client):  # type: ignore[no-untyped-def]
    return ApiClient(client, cast.agent)


def test_raise_from_incidents_and_list_them(cast, api):
    db = ci(cast.org_a, "db-07", "database")
    first = incident(cast, title="Payments slow", ci=db)
    second = incident(cast, title="Payments down", ci=db)
    resp = api.post("/problems", {"incident_ids": [first.pk, second.pk]})
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["organization_id"] == cast.org_a.pk
    assert body["title"] == "Payments slow"
    assert body["ci"] == {"id": db.pk, "name": "db-07"}
    assert body["incident_count"] == 2
    assert body["allowed_transitions"] == ["assess", "analyse", "cancel"]
    linked = api.get(f"/problems/{body['id']}/incidents").json()
    assert {i["number"] for i in linked["items"]} == {first.number, second.number}
    listed = api.get("/problems", {"state": "open", "ci": db.pk}).json()
    assert [p["number"] for p in listed["items"]] == [body["number"]]
    assert api.get("/problems", {"state": "closed"}).json()["total"] == 0


def test_create_needs_an_organisation_or_incidents_and_refuses_foreign_ones(cast, api):
    assert_error(api.post("/problems", {"title": "x"}), 422, "organization_id")
    theirs = incident(cast, org=cast.org_b)
    resp = api.post("/problems", {"organization_id": cast.org_a.pk, "incident_ids": [theirs.pk]})
    assert_error(resp, 422, "incident_ids")
    assert_error(api.post("/problems", {"incident_ids": [theirs.pk]}), 422, "incident_ids")
    resp = api.post("/problems", {"organization_id": cast.org_a.pk, "title": "x", "bogus": 1})
    assert_error(resp, 422)
    assert not Problem.objects.exists()


def test_patch_with_assignment_rule(cast, api):
    prb = problem(cast)
    resp = api.patch(
        f"/problems/{prb.pk}",
        {"assignment_group_id": cast.team_a.pk, "assignee_id": cast.auditor.pk},
    )
    assert_error(resp, 422, "assignee_id")
    resp = api.patch(f"/problems/{prb.pk}", {"assignee_id": cast.agent_b.pk})
    body = assert_error(resp, 422, "assignee_id")
    assert "Bruno" not in str(body)  # B's people are not named to A
    resp = api.patch(
        f"/problems/{prb.pk}",
        {
            "assignment_group_id": cast.team_a.pk,
            "assignee_id": cast.manager.pk,
            "rca_notes": "Pool exhausted.",
            "workaround": "Restart.",
        },
    )
    assert resp.status_code == 200, resp.content
    assert resp.json()["assignee"]["id"] == cast.manager.pk
    assert resp.json()["workaround"] == "Restart."


def test_transitions_obey_the_workflow(cast, api):
    prb = problem(cast)
    body = assert_error(api.post(f"/problems/{prb.pk}/close"), 409, "state")
    assert "Allowed from new: assess, analyse, cancel" in body["detail"]
    assert api.post(f"/problems/{prb.pk}/assess").json()["state"] == "assess"
    assert api.post(f"/problems/{prb.pk}/analyse").json()["state"] == "root_cause_analysis"
    assert_error(api.post(f"/problems/{prb.pk}/fix", {}), 422, "root_cause")
    resp = api.post(f"/problems/{prb.pk}/fix", {"root_cause": "Pool too small."})
    assert resp.json()["state"] == "fix_in_progress"
    assert_error(api.post(f"/problems/{prb.pk}/resolve", {}), 422, "resolution_notes")
    assert_error(api.post(f"/problems/{prb.pk}/cancel", {}), 422, "reason")
    resp = api.post(f"/problems/{prb.pk}/resolve", {"resolution_notes": "Pool x4."})
    assert resp.json()["state"] == "resolved"
    assert_error(api.post(f"/problems/{prb.pk}/reopen", {}), 422, "reason")
    assert api.post(f"/problems/{prb.pk}/reopen", {"reason": "Back"}).json()["state"] == (
        "root_cause_analysis"
    )


def test_resolve_with_incidents_says_which(cast, api):
    a = incident(cast, title="VPN drops")
    b = incident(cast, title="VPN drops too")
    prb = problem(cast, incidents=[a, b])
    api.post(f"/problems/{prb.pk}/analyse")
    resp = api.post(
        f"/problems/{prb.pk}/resolve",
        {"root_cause": "Firmware.", "resolution_notes": "Upgraded.", "resolve_incidents": True},
    )
    assert resp.status_code == 200, resp.content
    assert sorted(resp.json()["resolved_incidents"]) == sorted([a.number, b.number])
    assert set(Incident.objects.values_list("state", flat=True)) == {"resolved"}


def test_link_more_incidents(cast, api):
    prb = problem(cast)
    inc = incident(cast)
    resp = api.post(f"/problems/{prb.pk}/incidents", {"incident_ids": [inc.pk]})
    assert resp.status_code == 200
    assert [i["number"] for i in resp.json()] == [inc.number]
    assert api.post(f"/problems/{prb.pk}/incidents", {"incident_ids": [inc.pk]}).json() == []
    theirs = incident(cast, org=cast.org_b)
    assert_error(
        api.post(f"/problems/{prb.pk}/incidents", {"incident_ids": [theirs.pk]}),
        422,
        "incident_ids",
    )


def test_known_errors_from_problem_and_standalone(cast, api):
    db = ci(cast.org_a, "db-07", "database")
    prb = problem(cast, ci=db, root_cause="Index missing.")
    assert_error(api.post("/known-errors", {"problem_id": prb.pk}), 422, "workaround")
    api.patch(f"/problems/{prb.pk}", {"workaround": "Run at night."})
    resp = api.post("/known-errors", {"problem_id": prb.pk, "symptoms": "Report hangs"})
    assert resp.status_code == 201, resp.content
    ke = resp.json()
    assert (ke["root_cause"], ke["workaround"], ke["problem_id"]) == (
        "Index missing.",
        "Run at night.",
        prb.pk,
    )
    assert ke["cis"] == [{"id": db.pk, "name": "db-07"}]
    resp = api.post(
        "/known-errors",
        {
            "organization_id": cast.org_a.pk,
            "title": "VPN timeout",
            "workaround": "Reconnect.",
            "ci_ids": [db.pk],
            "state": "draft",
        },
    )
    assert resp.status_code == 201
    other = resp.json()
    theirs = ci(cast.org_b, "b-db", "database")
    assert_error(api.patch(f"/known-errors/{other['id']}", {"ci_ids": [theirs.pk]}), 422, "ci_ids")
    assert api.patch(f"/known-errors/{other['id']}", {"ci_ids": []}).json()["cis"] == []
    assert api.post(f"/known-errors/{other['id']}/publish").json()["state"] == "published"
    assert api.get("/known-errors", {"state": "published"}).json()["total"] == 2
    resp = api.post(f"/known-errors/{other['id']}/retire", {"reason": "Fixed"})
    assert resp.json()["state"] == "retired"
    assert_error(api.post(f"/known-errors/{other['id']}/retire", {}), 409, "state")
    assert_error(api.patch(f"/known-errors/{other['id']}", {"title": "x"}), 409, "state")


def test_suggested_known_errors_endpoint(cast, api):
    db = ci(cast.org_a, "db-07", "database")
    ke = known_error(cast, title="Archive log full", cis=[db])
    inc = incident(cast, title="Payments fail", ci=db)
    resp = api.get(f"/incidents/{inc.pk}/suggested-known-errors")
    assert resp.status_code == 200
    assert resp.json() == [
        {
            "known_error": api.get(f"/known-errors/{ke.pk}").json(),
            "score": 10,
            "reasons": ["same CI db-07"],
        }
    ]
    lonely = incident(cast, title="Printer jam")
    assert api.get(f"/incidents/{lonely.pk}/suggested-known-errors").json() == []


def test_requesters_see_nothing_of_problems(cast, client):
    own = incident(cast, title="VPN timeout", user=cast.requester)
    prb = problem(cast, incidents=[own])
    ke = known_error(cast, title="VPN timeout")
    api = ApiClient(client, cast.requester)
    assert api.get("/problems").json()["total"] == 0
    assert api.get("/known-errors").json()["total"] == 0
    assert_error(api.get(f"/problems/{prb.pk}"), 404)
    assert_error(api.get(f"/known-errors/{ke.pk}"), 404)
    assert_error(api.get(f"/incidents/{own.pk}/suggested-known-errors"), 403)
    assert_error(api.post("/problems", {"incident_ids": [own.pk]}), 403)
    assert Problem.objects.count() == 1


def test_auditors_read_but_do_not_write(cast, client):
    prb = problem(cast)
    api = ApiClient(client, cast.auditor)
    assert api.get(f"/problems/{prb.pk}").status_code == 200
    assert_error(api.post(f"/problems/{prb.pk}/assess"), 403)
    assert_error(
        api.post(
            "/known-errors",
            {"organization_id": cast.org_a.pk, "title": "x", "workaround": "y"},
        ),
        403,
    )
    assert not KnownError.objects.exists()
