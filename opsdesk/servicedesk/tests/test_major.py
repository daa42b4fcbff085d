"""Major incidents: declared by hand or automatically for P1s, a manager, children that follow
their parent, the communications log and the post-incident review with its actions, each
change written to the incident's timeline."""

from __future__ import annotations

import pytest

from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.testing.api import ApiTest, assert_error, error_fields
from opsdesk.servicedesk import actions, major
from opsdesk.servicedesk.models import Activity, Incident, ServiceDeskSettings

pytestmark = pytest.mark.django_db


def _incident(cast, user=None, org=None, **fields):
    fields.setdefault("title", "Payroll is down")
    return actions.create_incident(
        acting_user=user or cast.agent, organization=org or cast.org_a, **fields
    )


def _major(cast, **fields):
    incident = _incident(cast, **fields)
    major.declare_major(acting_user=cast.agent, incident=incident, manager=cast.manager)
    return incident


def _entries(incident, kind):
    return list(Activity.objects.filter(subject_id=incident.pk, kind=kind).order_by("at", "id"))


# --- declaring ------------------------------------------------------------------------------


def test_a_p1_is_declared_major_automatically(cast):
    incident = _incident(cast, impact=1, urgency=1)
    assert incident.is_major and incident.major_declared_at is not None
    (entry,) = _entries(incident, "major")
    assert entry.data["automatic"] is True and entry.data["event"] == "declared"
    assert entry.public is False


def test_becoming_p1_declares_it_and_the_setting_can_turn_it_off(cast):
    incident = _incident(cast, impact=2, urgency=2)
    assert not incident.is_major
    actions.update_incident(acting_user=cast.agent, incident=incident, impact=1, urgency=1)
    assert Incident.objects.get(pk=incident.pk).is_major
    settings = ServiceDeskSettings.for_org(cast.org_a.pk)
    settings.auto_declare_p1 = False
    settings.save()
    assert not _incident(cast, impact=1, urgency=1).is_major


def test_declare_by_hand_with_a_manager_who_must_be_an_agent(cast):
    incident = _incident(cast)
    for outsider in (cast.requester, cast.auditor, cast.agent_b):
        with pytest.raises(FieldError) as exc:
            major.declare_major(acting_user=cast.agent, incident=incident, manager=outsider)
        assert "manager_id" in exc.value.errors
    with pytest.raises(PermissionDenied):
        major.declare_major(acting_user=cast.auditor, incident=incident)
    major.declare_major(
        acting_user=cast.agent, incident=incident, manager=cast.manager, reason="Whole site"
    )
    incident.refresh_from_db()
    assert incident.is_major and incident.major_manager == cast.manager
    with pytest.raises(Conflict):
        major.declare_major(acting_user=cast.agent, incident=incident, manager=cast.manager)
    major.declare_major(acting_user=cast.agent, incident=incident, manager=cast.agent)
    events = [e.data["event"] for e in _entries(incident, "major")]
    assert events == ["declared", "manager"]


# --- children -------------------------------------------------------------------------------


def test_children_rules(cast):
    parent = _major(cast)
    child = _incident(cast, title="Can't see payslip")
    other_major = _major(cast, title="Other outage")
    foreign = _incident(cast, user=cast.agent_b, org=cast.org_b)
    plain = _incident(cast, title="Not major")
    with pytest.raises(Conflict):  # the parent must be major
        major.attach_child(acting_user=cast.agent, parent=plain, child=child)
    for bad in (parent, other_major, foreign):
        with pytest.raises(FieldError) as exc:
            major.attach_child(acting_user=cast.agent, parent=parent, child=bad)
        assert "child_id" in exc.value.errors
    major.attach_child(acting_user=cast.agent, parent=parent, child=child)
    with pytest.raises(Conflict):
        major.attach_child(acting_user=cast.agent, parent=parent, child=child)
    with pytest.raises(FieldError):  # already has another parent
        major.attach_child(acting_user=cast.agent, parent=other_major, child=child)
    with pytest.raises(Conflict):  # a child cannot become major itself
        major.declare_major(acting_user=cast.agent, incident=child)
    assert [e.data["event"] for e in _entries(parent, "major")][-1] == "child_attached"
    (attached,) = [e for e in _entries(child, "major") if e.data["event"] == "attached_to"]
    assert attached.public and parent.number in attached.body
    major.detach_child(acting_user=cast.agent, parent=parent, child=child)
    assert Incident.objects.get(pk=child.pk).parent_id is None


def test_resolving_the_parent_resolves_its_open_children(cast):
    parent = _major(cast)
    open_child = _incident(cast, title="child 1")
    on_hold = _incident(cast, title="child 2")
    done = _incident(cast, title="child 3")
    for child in (open_child, on_hold, done):
        major.attach_child(acting_user=cast.agent, parent=parent, child=child)
    actions.transition_incident(
        acting_user=cast.agent, incident=on_hold, transition="hold", hold_reason="awaiting_vendor"
    )
    actions.transition_incident(
        acting_user=cast.agent,
        incident=done,
        transition="cancel",
        reason="duplicate",
    )
    actions.transition_incident(
        acting_user=cast.agent,
        incident=parent,
        transition="resolve",
        resolution_code="solved_permanently",
        resolution_notes="Database failed over",
    )
    states = dict(Incident.objects.filter(parent=parent).values_list("title", "state"))
    assert states == {"child 1": "resolved", "child 2": "resolved", "child 3": "cancelled"}
    child = Incident.objects.get(pk=open_child.pk)
    assert child.resolution_notes == "Database failed over"


# --- communications and the review ----------------------------------------------------------


def test_communications_are_public_only_for_customers(cast):
    incident = _major(cast, requester=cast.requester)
    major.add_communication(
        acting_user=cast.manager, incident=incident, body="Engineers engaged", audience="executives"
    )
    major.add_communication(
        acting_user=cast.manager,
        incident=incident,
        body="Payroll will be late by one hour",
        audience="customers",
        channel="status page",
    )
    entries = _entries(incident, "communication")
    assert [(e.public, e.data["audience"]) for e in entries] == [
        (False, "executives"),
        (True, "customers"),
    ]
    with pytest.raises(FieldError) as exc:
        major.add_communication(acting_user=cast.manager, incident=incident, body=" ")
    assert "body" in exc.value.errors
    with pytest.raises(PermissionDenied):
        major.add_communication(acting_user=cast.requester, incident=incident, body="hi")
    with pytest.raises(Conflict):
        major.add_communication(acting_user=cast.agent, incident=_incident(cast), body="x")


def test_review_workflow_needs_summary_and_root_cause_to_complete(cast):
    incident = _major(cast)
    review = major.save_review(acting_user=cast.manager, incident=incident, summary="")
    assert review.state == "draft"
    with pytest.raises(Conflict) as exc:  # draft -> completed skips the review
        major.save_review(acting_user=cast.manager, incident=incident, state="completed")
    assert "in_review" in exc.value.detail
    major.save_review(acting_user=cast.manager, incident=incident, state="in_review")
    with pytest.raises(FieldError) as fexc:
        major.save_review(acting_user=cast.manager, incident=incident, state="completed")
    assert set(fexc.value.errors) == {"summary", "root_cause"}
    review = major.save_review(
        acting_user=cast.manager,
        incident=incident,
        state="completed",
        summary="Primary DB ran out of disk",
        root_cause="Log rotation disabled by a change",
    )
    assert review.state == "completed" and review.completed_at is not None
    with pytest.raises(Conflict):
        major.save_review(acting_user=cast.manager, incident=incident, summary="rewrite")
    events = [e.data.get("transition") for e in _entries(incident, "major")]
    assert [e for e in events if e] == ["submit", "complete"]


def test_review_actions(cast):
    incident = _major(cast)
    review = major.save_review(acting_user=cast.manager, incident=incident)
    item = major.add_review_action(
        acting_user=cast.manager, review=review, description="Alert on disk", owner=cast.agent
    )
    with pytest.raises(FieldError) as exc:
        major.add_review_action(
            acting_user=cast.manager, review=review, description="x", owner=cast.agent_b
        )
    assert "owner_id" in exc.value.errors
    major.update_review_action(acting_user=cast.agent, action=item, state="done")
    item.refresh_from_db()
    assert item.state == "done"
    events = [e.data["event"] for e in _entries(incident, "major")]
    assert events[-2:] == ["review_action_added", "review_action_changed"]


# --- API ------------------------------------------------------------------------------------


class TestMajorApi(ApiTest):
    def test_declare_children_communications_review_through_the_api(self):
        c = self.cast
        parent = _incident(c, requester=c.requester)
        child = _incident(c, title="Login slow")
        api = self.as_user(c.agent)
        path = f"/incidents/{parent.pk}"
        assert_error(api.post(f"{path}/children", {"child_id": child.pk}), 409)
        resp = api.post(f"{path}/declare-major", {"manager_id": c.manager.pk, "reason": "Big"})
        assert resp.status_code == 200, resp.content
        assert resp.json()["is_major"] and resp.json()["major_manager"]["id"] == c.manager.pk
        assert_error(
            api.post(f"{path}/declare-major", {"manager_id": c.agent_b.pk}), 422, "manager_id"
        )
        assert_error(api.post(f"{path}/children", {"child_id": parent.pk}), 422, "child_id")
        resp = api.post(f"{path}/children", {"child_id": child.pk})
        assert resp.status_code == 201, resp.content
        assert resp.json()["parent_id"] == parent.pk
        assert [i["id"] for i in api.get(f"{path}/children").json()["items"]] == [child.pk]
        listed = api.get("/major-incidents").json()["items"]
        assert [i["id"] for i in listed] == [parent.pk]
        assert listed[0]["major_manager"]["id"] == c.manager.pk

        resp = api.post(f"{path}/communications", {"audience": "customers", "body": "We know"})
        assert resp.status_code == 201, resp.content
        assert_error(
            api.post(f"{path}/communications", {"audience": "aliens", "body": "x"}), 422, "audience"
        )
        assert len(api.get(f"{path}/communications").json()["items"]) == 1
        # the requester reads the customer update on the timeline, not the internal log
        requester = self.as_user(c.requester)
        timeline = requester.get(f"{path}/timeline").json()["items"]
        assert "We know" in [e["body"] for e in timeline]
        assert requester.get(f"{path}/communications").json()["items"] == []

        assert_error(api.get(f"{path}/review"), 404)
        resp = api.request(
            "put", f"{path}/review", {"summary": "Disk full", "facilitator_id": c.manager.pk}
        )
        assert resp.status_code == 200, resp.content
        assert resp.json()["state"] == "draft" and resp.json()["allowed_states"] == ["in_review"]
        resp = api.post(
            f"{path}/review/actions",
            {"description": "Disk alerts", "owner_id": c.agent.pk, "due_on": "2030-01-31"},
        )
        assert resp.status_code == 201, resp.content
        action_id = resp.json()["id"]
        resp = api.patch(f"/review-actions/{action_id}", {"state": "done"})
        assert resp.status_code == 200 and resp.json()["state"] == "done"
        assert_error(
            api.patch(f"/review-actions/{action_id}", {"owner_id": c.agent_b.pk}), 422, "owner_id"
        )
        assert api.request("put", f"{path}/review", {"state": "in_review"}).status_code == 200
        body = assert_error(api.request("put", f"{path}/review", {"state": "completed"}), 422)
        assert set(error_fields(body)) == {"root_cause"}
        resp = api.request(
            "put", f"{path}/review", {"state": "completed", "root_cause": "No alerting"}
        )
        assert resp.json()["state"] == "completed"
        assert resp.json()["actions"][0]["owner"]["id"] == c.agent.pk
        assert_error(api.request("put", f"{path}/review", {"summary": "again"}), 409, "state")

        resp = api.request("delete", f"{path}/children/{child.pk}")
        assert resp.status_code == 204
        assert_error(api.request("delete", f"{path}/children/{child.pk}"), 404)

    def test_resolving_a_major_incident_through_the_api_resolves_children(self):
        c = self.cast
        parent = _major(c)
        child = _incident(c, title="child")
        major.attach_child(acting_user=c.agent, parent=parent, child=child)
        resp = self.as_user(c.agent).post(
            f"/incidents/{parent.pk}/resolve",
            {"resolution_code": "solved_permanently", "resolution_notes": "Failover"},
        )
        assert resp.status_code == 200
        assert Incident.objects.get(pk=child.pk).state == "resolved"

    def test_requester_cannot_run_major_incidents(self):
        c = self.cast
        incident = _incident(c, user=c.requester)
        api = self.as_user(c.requester)
        assert_error(api.post(f"/incidents/{incident.pk}/declare-major", {}), 403)
        assert api.get("/major-incidents").json()["items"] == []


# --- pages ----------------------------------------------------------------------------------


class TestMajorPages:
    @pytest.fixture(autouse=True)
    def _setup(self, cast, client):
        self.cast = cast
        self.client = client
        client.force_login(cast.agent)

    def test_list_shows_open_major_incidents(self):
        c = self.cast
        incident = _major(c, title="Core switch down")
        _incident(c, title="Ordinary one")
        resp = self.client.get("/desk/major/")
        assert resp.status_code == 200
        html = resp.content.decode()
        assert "Core switch down" in html and "Ordinary one" not in html
        assert f"/desk/major/{incident.pk}/" in html

    def test_requester_is_refused(self):
        self.client.force_login(self.cast.requester)
        assert self.client.get("/desk/major/").status_code == 403

    def test_page_forms_attach_communicate_review(self):
        c = self.cast
        incident = _major(c, title="Core switch down")
        child = _incident(c, title="No network on floor 3")
        base = f"/desk/major/{incident.pk}/"
        resp = self.client.get(base)
        assert resp.status_code == 200
        assert f"/desk/incidents/{incident.pk}/" in resp.content.decode()
        resp = self.client.post(f"{base}children/", {"number": "INC9999999"})
        assert resp.status_code == 422 and "No incident INC9999999 here." in resp.content.decode()
        resp = self.client.post(f"{base}children/", {"number": child.number.lower()})
        assert resp.status_code == 302
        assert Incident.objects.get(pk=child.pk).parent_id == incident.pk
        resp = self.client.post(
            f"{base}communications/",
            {"audience": "customers", "channel": "status page", "body": "Engineers on site"},
        )
        assert resp.status_code == 302
        resp = self.client.post(
            f"{base}review/",
            {"state": "completed", "summary": "", "root_cause": ""},
        )
        assert resp.status_code == 422  # a new review is a draft; completed is two steps away
        resp = self.client.post(f"{base}review/", {"state": "draft", "summary": "Switch died"})
        assert resp.status_code == 302
        resp = self.client.post(f"{base}review/actions/", {"description": "Spare switch on site"})
        assert resp.status_code == 302
        page = self.client.get(base).content.decode()
        assert "Engineers on site" in page and "Spare switch on site" in page
        assert child.number in page
