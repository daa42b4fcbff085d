"""The incident API: the queue with its filters, create and change with references resolved in
the incident's organisation, the workflow as explicit operations (409 listing what is
allowed, 422 naming missing fields), assignment, timeline, comments, attachments, watchers
and links."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsdesk.cmdb.tests.factories import ci
from opsdesk.core.testing.api import ApiClient, ApiTest, assert_error, error_fields
from opsdesk.problems.models import KnownError, Problem
from opsdesk.servicedesk import actions
from opsdesk.servicedesk.models import Activity, Category, Incident, ServiceDeskSettings, Watcher
from opsdesk.servicedesk.workflows import INCIDENT

pytestmark = pytest.mark.django_db


def _incident(cast, user=None, **fields):
    fields.setdefault("title", "Printer on fire")
    return actions.create_incident(
        acting_user=user or cast.agent, organization=cast.org_a, **fields
    )


class TestCreateAndRead(ApiTest):
    def test_agent_raises_an_incident_with_references(self):
        c = self.cast
        service = ci(c.org_a, "Email", "business_service")
        server = ci(c.org_a, "mx1", "server")
        cat = Category.objects.create(organization=c.org_a, name="Email")
        sub = Category.objects.create(organization=c.org_a, name="Delivery", parent=cat)
        resp = self.as_user(c.agent).post(
            "/incidents",
            {
                "organization_id": c.org_a.pk,
                "title": "Mail bounces",
                "requester_id": c.requester.pk,
                "service_id": service.pk,
                "ci_id": server.pk,
                "category_id": cat.pk,
                "subcategory_id": sub.pk,
                "impact": 2,
                "urgency": 1,
                "assignment_group_id": c.team_a.pk,
                "assignee_id": c.agent.pk,
            },
        )
        assert resp.status_code == 201, resp.content
        body = resp.json()
        assert body["number"] == "INC0000001"
        assert body["priority"] == 2
        assert body["channel"] == "api"
        assert body["requester"]["id"] == c.requester.pk
        assert body["service"]["name"] == "Email"
        assert body["subcategory"]["name"] == "Delivery"
        assert body["assignee"]["id"] == c.agent.pk
        assert [t["name"] for t in body["transitions"]] == INCIDENT.allowed_names("new")

    def test_references_of_another_organisation_are_named(self):
        c = self.cast
        foreign_ci = ci(c.org_b, "b-box", "server")
        foreign_cat = Category.objects.create(organization=c.org_b, name="B")
        resp = self.as_user(c.agent).post(
            "/incidents",
            {
                "organization_id": c.org_a.pk,
                "title": "x",
                "ci_id": foreign_ci.pk,
                "category_id": foreign_cat.pk,
                "requester_id": c.agent_b.pk,
            },
        )
        body = assert_error(resp, 422)
        assert {"ci_id", "category_id", "requester_id"} <= set(error_fields(body))
        # Nothing about B's rows leaks into the messages.
        assert "b-box" not in resp.content.decode() and "Bruno" not in resp.content.decode()
        assert not Incident.objects.exists()

    def test_assignee_outside_the_group_is_refused(self):
        c = self.cast
        resp = self.as_user(c.agent).post(
            "/incidents",
            {
                "organization_id": c.org_a.pk,
                "title": "x",
                "assignment_group_id": c.team_a.pk,
                "assignee_id": c.admin.pk,
            },
        )
        assert_error(resp, 422, "assignee_id")

    def test_requester_raises_for_themselves_and_cannot_prioritise(self):
        c = self.cast
        resp = self.as_user(c.requester).post(
            "/incidents", {"organization_id": c.org_a.pk, "title": "My laptop", "impact": 1}
        )
        assert resp.status_code == 201, resp.content
        assert resp.json()["requester"]["id"] == c.requester.pk
        assert resp.json()["impact"] == 3
        # Only the requester's transitions are offered to them.
        names = [t["name"] for t in resp.json()["transitions"]]
        assert names == ["cancel"]

    def test_auditor_may_not_raise(self):
        c = self.cast
        resp = self.as_user(c.auditor).post(
            "/incidents", {"organization_id": c.org_a.pk, "title": "x"}
        )
        assert_error(resp, 403)

    def test_requester_sees_only_their_own(self):
        c = self.cast
        mine = _incident(c, c.requester)
        other = _incident(c)
        api = self.as_user(c.requester)
        assert [i["id"] for i in api.all_items("/incidents")] == [mine.pk]
        assert_error(api.get(f"/incidents/{other.pk}"), 404)

    def test_patch_changes_fields_and_priority(self):
        c = self.cast
        incident = _incident(c)
        cat = Category.objects.create(organization=c.org_a, name="Hardware")
        resp = self.as_user(c.agent).patch(
            f"/incidents/{incident.pk}", {"impact": 1, "urgency": 2, "category_id": cat.pk}
        )
        assert resp.status_code == 200, resp.content
        assert resp.json()["priority"] == 2
        assert resp.json()["category"]["name"] == "Hardware"
        assert_error(
            self.as_user(c.agent).patch(f"/incidents/{incident.pk}", {"ci_id": 10**9}), 422, "ci_id"
        )
        assert_error(
            self.as_user(c.agent).patch(f"/incidents/{incident.pk}", {"state": "closed"}),
            422,
            "state",
        )
        assert_error(
            self.as_user(c.agent).patch(f"/incidents/{incident.pk}", {"title": None}), 422, "title"
        )
        # null clears a reference
        resp = self.as_user(c.agent).patch(f"/incidents/{incident.pk}", {"category_id": None})
        assert resp.json()["category"] is None

    def test_subcategory_must_belong_to_the_category(self):
        c = self.cast
        incident = _incident(c)
        a = Category.objects.create(organization=c.org_a, name="A")
        b = Category.objects.create(organization=c.org_a, name="B")
        sub_b = Category.objects.create(organization=c.org_a, name="b1", parent=b)
        resp = self.as_user(c.agent).patch(
            f"/incidents/{incident.pk}", {"category_id": a.pk, "subcategory_id": sub_b.pk}
        )
        assert_error(resp, 422, "subcategory_id")


class TestQueue(ApiTest):
    def test_filters(self):
        c = self.cast
        p1 = _incident(c, impact=1, urgency=1, assignment_group=c.team_a, assignee=c.agent)
        p5 = _incident(c, title="Toner low")
        actions.transition_incident(acting_user=c.agent, incident=p5, transition="start")
        closed = _incident(c, title="Old")
        actions.transition_incident(
            acting_user=c.agent, incident=closed, transition="cancel", reason="dup"
        )
        api = self.as_user(c.agent)

        def ids(**params):
            resp = api.get("/incidents", params)
            assert resp.status_code == 200, resp.content
            return [i["id"] for i in resp.json()["items"]]

        assert set(ids(state=["new", "in_progress"])) == {p1.pk, p5.pk}
        assert ids(state="open", priority=1) == [p1.pk]
        assert ids(state="cancelled") == [closed.pk]
        assert ids(assigned_to_me="true") == [p1.pk]
        assert ids(q="toner") == [p5.pk]
        assert ids(q=p1.number) == [p1.pk]
        assert ids(is_major="true") == [p1.pk]  # a P1 is declared major automatically
        assert set(ids(unassigned="true")) == {p5.pk, closed.pk}
        assert ids(sort=["-number"]) == [closed.pk, p5.pk, p1.pk]
        assert ids(sort=["number"]) == [p1.pk, p5.pk, closed.pk]
        assert ids(organization=c.org_b.pk) == []

    def test_bad_filters_name_the_parameter(self):
        api = self.as_user(self.cast.agent)
        assert_error(api.get("/incidents", {"state": "sleeping"}), 422, "state.0")
        assert_error(api.get("/incidents", {"sort": "colour"}), 422, "sort.0")
        assert_error(api.get("/incidents", {"priority": 9}), 422, "priority.0")
        assert_error(api.get("/incidents", {"opened_after": "soon"}), 422, "opened_after")

    def test_query_count_does_not_grow_with_page_size(self):
        c = self.cast
        service = ci(c.org_a, "Payroll", "business_service")
        for n in range(12):
            _incident(
                c,
                title=f"n{n}",
                requester=c.requester,
                service=service,
                ci=service,
                assignment_group=c.team_a,
                assignee=c.agent,
            )
        api = ApiClient(self.client, c.agent)
        api.get("/incidents", {"limit": 1})  # warm up (token, roles)
        counts = []
        for limit in (2, 12):
            with CaptureQueriesContext(connection) as ctx:
                resp = api.get("/incidents", {"limit": limit})
            assert len(resp.json()["items"]) == limit
            counts.append(len(ctx.captured_queries))
        assert counts[0] == counts[1], counts


class TestWorkflow(ApiTest):
    def test_full_story_through_the_api(self):
        c = self.cast
        incident = _incident(c, assignment_group=c.team_a)
        api = self.as_user(c.agent)
        path = f"/incidents/{incident.pk}"
        assert api.post(f"{path}/start").json()["state"] == "in_progress"
        resp = api.post(f"{path}/hold", {"hold_reason": "awaiting_vendor"})
        assert resp.json()["state"] == "on_hold" and resp.json()["hold_reason"] == "awaiting_vendor"
        resp = api.post(
            f"{path}/resolve",
            {"resolution_code": "solved_permanently", "resolution_notes": "Replaced the fuser"},
        )
        assert resp.status_code == 200, resp.content
        assert resp.json()["state"] == "resolved"
        assert [t["name"] for t in api.get(f"{path}/transitions").json()] == ["close", "reopen"]
        assert api.post(f"{path}/reopen", {"reason": "Still smoking"}).json()["reopen_count"] == 1
        assert api.post(f"{path}/cancel", {"reason": "dup"}).json()["state"] == "cancelled"
        entries = api.get(f"{path}/timeline").json()["items"]
        kinds = [e["data"].get("to") or e["data"].get("state") for e in entries]
        assert [k for k in kinds if k] == [
            "new",
            "in_progress",
            "on_hold",
            "resolved",
            "in_progress",
            "cancelled",
        ]

    def test_closing_a_new_incident_is_409_listing_the_allowed(self):
        incident = _incident(self.cast)
        body = assert_error(
            self.as_user(self.cast.agent).post(f"/incidents/{incident.pk}/close"), 409
        )
        assert "start, hold, resolve, cancel" in body["detail"]

    def test_resolving_without_notes_is_422_naming_them(self):
        incident = _incident(self.cast)
        api = self.as_user(self.cast.agent)
        body = assert_error(api.post(f"/incidents/{incident.pk}/resolve", {}), 422)
        assert set(error_fields(body)) == {"resolution_code", "resolution_notes"}
        resp = api.post(
            f"/incidents/{incident.pk}/resolve", {"resolution_code": "solved_permanently"}
        )
        assert error_fields(assert_error(resp, 422)) == ["resolution_notes"]
        assert_error(
            api.post(f"/incidents/{incident.pk}/hold", {"hold_reason": "bored"}), 422, "hold_reason"
        )
        incident.refresh_from_db()
        assert incident.state == "new"

    def test_workflow_as_data(self):
        resp = self.as_user(self.cast.requester).get("/workflows/incident")
        assert resp.status_code == 200
        body = resp.json()
        assert body["name"] == "incident" and body["initial"] == "new"
        assert body["final"] == ["cancelled", "closed"]
        names = {t["name"]: t for t in body["transitions"]}
        assert list(names) == [t.name for t in INCIDENT.transitions]
        assert names["resolve"]["requires"] == ["resolution_code", "resolution_notes"]
        assert names["close"]["sources"] == ["resolved"]
        assert names["start"]["sources"] == ["new", "on_hold"]

    def test_requester_may_not_start_but_may_cancel_their_own(self):
        c = self.cast
        incident = _incident(c, c.requester)
        api = self.as_user(c.requester)
        assert_error(api.post(f"/incidents/{incident.pk}/start"), 403)
        assert (
            api.post(f"/incidents/{incident.pk}/cancel", {"reason": "fixed it"}).status_code == 200
        )


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    path=st.lists(st.sampled_from([t.name for t in INCIDENT.transitions]), max_size=5),
    attempt=st.sampled_from([t.name for t in INCIDENT.transitions]),
)
def test_any_illegal_transition_is_409_with_the_allowed_list(cast, client, path, attempt):
    """Walk a random legal path, then try any transition: a legal one succeeds, an illegal
    one is a 409 whose message lists exactly the transitions allowed from the state.
    (Each example works on a fresh incident, so examples sharing the test database do not
    interfere.)"""
    incident = _incident(cast, title="walk")
    api = ApiClient(client, cast.agent)
    inputs = {
        "hold": {"hold_reason": "awaiting_requester"},
        "resolve": {"resolution_code": "solved_remotely", "resolution_notes": "done"},
        "reopen": {"reason": "again"},
        "cancel": {"reason": "dup"},
    }
    for name in path:
        if name in INCIDENT.allowed_names(incident.state):
            api.post(f"/incidents/{incident.pk}/{name}", inputs.get(name))
            incident.refresh_from_db()
    state = incident.state
    resp = api.post(f"/incidents/{incident.pk}/{attempt}", inputs.get(attempt))
    allowed = INCIDENT.allowed_names(state)
    if attempt in allowed:
        assert resp.status_code == 200, resp.content
        assert resp.json()["state"] == INCIDENT.get(attempt).target
    else:
        body = assert_error(resp, 409, "state")
        listed = ", ".join(allowed) if allowed else "none (this is a final state)"
        assert body["detail"].endswith(f"Allowed from {INCIDENT.label(state).lower()}: {listed}.")
        incident.refresh_from_db()
        assert incident.state == state


class TestAssignmentCommentsAndTimeline(ApiTest):
    def test_assign_and_refuse_outsiders(self):
        c = self.cast
        incident = _incident(c)
        api = self.as_user(c.manager)
        path = f"/incidents/{incident.pk}/assign"
        resp = api.post(path, {"assignment_group_id": c.team_a.pk, "assignee_id": c.agent.pk})
        assert resp.status_code == 200, resp.content
        assert resp.json()["assignee"]["id"] == c.agent.pk
        body = assert_error(
            api.post(path, {"assignment_group_id": c.team_a.pk, "assignee_id": c.auditor.pk}),
            422,
            "assignee_id",
        )
        assert "not a member" in body["errors"][0]["message"]
        assert_error(
            api.post(path, {"assignment_group_id": c.team_b.pk}), 422, "assignment_group_id"
        )
        assert_error(api.post(path, {"assignee_id": c.agent_b.pk}), 422, "assignee_id")

    def test_requester_sees_public_entries_only(self):
        c = self.cast
        incident = _incident(c, c.requester)
        agent = self.as_user(c.agent)
        path = f"/incidents/{incident.pk}"
        assert (
            agent.post(f"{path}/comments", {"body": "On our way", "public": True}).status_code
            == 201
        )
        resp = agent.post(f"{path}/comments", {"body": "User is grumpy", "public": False})
        assert resp.status_code == 201 and resp.json()["kind"] == "work_note"
        agent.post(f"{path}/assign", {"assignment_group_id": c.team_a.pk})
        requester = self.as_user(c.requester)
        seen = requester.get(f"{path}/timeline").json()["items"]
        assert all(e["public"] for e in seen)
        bodies = [e["body"] for e in seen]
        assert "On our way" in bodies and "User is grumpy" not in bodies
        agent_seen = [e["body"] for e in agent.get(f"{path}/timeline").json()["items"]]
        assert "User is grumpy" in agent_seen
        # a requester may comment, but not write a work note
        assert requester.post(f"{path}/comments", {"body": "Thanks"}).status_code == 201
        assert_error(requester.post(f"{path}/comments", {"body": "psst", "public": False}), 403)
        assert_error(agent.post(f"{path}/comments", {"body": ""}), 422, "body")


class TestAttachments(ApiTest):
    def _upload(self, user, incident, name="log.txt", content=b"hello", kind="text/plain", **form):
        return self.client.post(
            f"/api/v1/incidents/{incident.pk}/attachments",
            {"file": SimpleUploadedFile(name, content, content_type=kind), **form},
            HTTP_AUTHORIZATION=ApiClient(self.client, user).headers["HTTP_AUTHORIZATION"],
        )

    def test_upload_list_download(self):
        c = self.cast
        incident = _incident(c, c.requester)
        resp = self._upload(c.agent, incident)
        assert resp.status_code == 201, resp.content
        att = resp.json()
        assert att["size"] == 5 and not att["quarantined"]
        listed = self.as_user(c.requester).get(f"/incidents/{incident.pk}/attachments").json()
        assert [a["id"] for a in listed["items"]] == [att["id"]]
        download = self.as_user(c.requester).get(f"/attachments/{att['id']}/content")
        assert download.status_code == 200
        assert b"".join(download.streaming_content) == b"hello"
        assert "attachment" in download["Content-Disposition"]

    def test_size_and_type_rules_name_file(self):
        c = self.cast
        incident = _incident(c)
        settings_ = ServiceDeskSettings.for_org(c.org_a.pk)
        settings_.attachment_max_bytes = 10
        settings_.save()
        assert_error(self._upload(c.agent, incident, content=b"x" * 11), 422, "file")
        assert_error(
            self._upload(
                c.agent, incident, name="run.exe", content=b"MZ", kind="application/x-msdownload"
            ),
            422,
            "file",
        )
        assert_error(self._upload(c.agent, incident, colour="red"), 422, "colour")
        missing = self.as_user(c.agent).post(f"/incidents/{incident.pk}/attachments", {})
        assert_error(missing, 422, "file")

    def test_quarantined_files_are_for_agents_only(self):
        c = self.cast
        incident = _incident(c, c.requester)
        kept = actions.add_attachment(
            acting_user=None,
            subject=incident,
            filename="virus.exe",
            content=b"MZ",
            content_type="application/x-msdownload",
            keep_for_review=True,
        )
        assert kept.quarantined
        resp = self.as_user(c.agent).get(f"/attachments/{kept.pk}/content")
        assert resp.status_code == 200
        assert resp["Content-Type"] == "application/octet-stream"
        assert_error(self.as_user(c.requester).get(f"/attachments/{kept.pk}/content"), 404)
        assert_error(self.as_user(c.auditor).get(f"/attachments/{kept.pk}/content"), 403)
        listed = self.as_user(c.requester).get(f"/incidents/{incident.pk}/attachments").json()
        assert listed["items"] == []


class TestWatchersAndLinks(ApiTest):
    def test_watchers(self):
        c = self.cast
        incident = _incident(c, c.requester)
        path = f"/incidents/{incident.pk}/watchers"
        resp = self.as_user(c.agent).post(path, {"user_id": c.manager.pk})
        assert resp.status_code == 200, resp.content
        assert [w["user_id"] for w in resp.json()] == [c.manager.pk]
        assert_error(self.as_user(c.agent).post(path, {"user_id": c.agent_b.pk}), 422, "user_id")
        # a requester may watch for themselves but not add others
        assert self.as_user(c.requester).post(path, {"user_id": c.requester.pk}).status_code == 200
        assert_error(self.as_user(c.requester).post(path, {"user_id": c.auditor.pk}), 403)
        resp = self.as_user(c.agent).delete(f"{path}/{c.manager.pk}")
        assert resp.status_code == 204
        assert_error(self.as_user(c.agent).delete(f"{path}/{c.manager.pk}"), 404)
        assert list(Watcher.objects.values_list("user_id", flat=True)) == [c.requester.pk]

    def test_link_and_unlink(self):
        c = self.cast
        incident = _incident(c)
        problem = Problem.objects.create(organization=c.org_a, title="Fuser overheats")
        known = KnownError.objects.create(organization=c.org_a, title="Fuser KE")
        foreign = Problem.objects.create(organization=c.org_b, title="B's problem")
        api = self.as_user(c.agent)
        path = f"/incidents/{incident.pk}/links"
        assert api.post(path, {"problem_id": problem.pk}).json()["problem_id"] == problem.pk
        assert api.post(path, {"known_error_id": known.pk}).json()["known_error_id"] == known.pk
        assert_error(api.post(path, {"problem_id": foreign.pk}), 422, "problem_id")
        assert_error(api.post(path, {}), 422, "problem_id")
        resp = api.request("delete", path, params={"problem_id": problem.pk})
        assert resp.status_code == 200, resp.content
        assert resp.json()["problem_id"] is None
        assert_error(api.request("delete", path, params={"problem_id": problem.pk}), 409)
        kinds = list(
            Activity.objects.filter(
                subject_id=incident.pk, kind__in=["link", "unlink"]
            ).values_list("kind", flat=True)
        )
        assert kinds == ["link", "link", "unlink"]
