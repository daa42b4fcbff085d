"""Surveys: sent once when a ticket is resolved or fulfilled (listening to the timeline),
answered once by the requester, visible to agents for CSAT; and the surveys API."""

from __future__ import annotations

import pytest

from opsdesk.catalog import actions as catalog_actions
from opsdesk.catalog.tests.factories import catalog_item, order
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.testing.api import ApiClient, assert_error
from opsdesk.portal import actions
from opsdesk.portal.models import Survey
from opsdesk.servicedesk import actions as desk_actions
from opsdesk.servicedesk.models import Activity

pytestmark = pytest.mark.django_db


def _resolve(cast, incident):  # type: ignore[no-untyped-def]
    desk_actions.transition_incident(
        acting_user=cast.agent,
        incident=incident,
        transition="resolve",
        resolution_code="solved_remotely",
        resolution_notes="Fixed",
    )


def test_one_survey_when_an_incident_is_resolved_even_if_resolved_again(
    cast, django_capture_on_commit_callbacks
):
    incident = desk_actions.create_incident(
        acting_user=cast.requester, organization=cast.org_a, title="VPN down"
    )
    with django_capture_on_commit_callbacks(execute=True):
        desk_actions.transition_incident(
            acting_user=cast.agent, incident=incident, transition="start"
        )
    assert not Survey.objects.exists()  # only resolution sends one
    with django_capture_on_commit_callbacks(execute=True):
        _resolve(cast, incident)
    survey = Survey.objects.get()
    assert (survey.subject_type, survey.subject_id, survey.requester) == (
        "incident",
        incident.pk,
        cast.requester,
    )
    with django_capture_on_commit_callbacks(execute=True):
        desk_actions.transition_incident(
            acting_user=cast.requester, incident=incident, transition="reopen", reason="Again"
        )
        _resolve(cast, incident)
    assert Survey.objects.count() == 1


def test_no_survey_without_a_requester_account(cast, django_capture_on_commit_callbacks):
    incident = desk_actions.create_incident(
        acting_user=cast.agent,
        organization=cast.org_a,
        title="From mail",
        requester_email="someone@outside.test",
    )
    incident.requester = None
    from opsdesk.core.context import acting_as

    with acting_as(None):
        incident.save()
    with django_capture_on_commit_callbacks(execute=True):
        _resolve(cast, incident)
    assert not Survey.objects.exists()


def test_survey_when_a_request_is_fulfilled(cast, django_capture_on_commit_callbacks):
    item = catalog_item(
        cast.org_a, approval_steps=[{"kind": "users", "user_ids": [cast.manager.pk]}]
    )
    with django_capture_on_commit_callbacks(execute=True):
        req = order(cast.requester, item)
    assert not Survey.objects.exists()
    approval = req.items.get().approvals.get()
    with django_capture_on_commit_callbacks(execute=True):
        catalog_actions.decide_approval(acting_user=cast.manager, approval=approval, approve=True)
    survey = Survey.objects.get()
    assert (survey.subject_type, survey.subject_id) == ("request", req.pk)


def test_answered_once_by_the_requester_and_recorded_on_the_timeline(cast):
    incident = desk_actions.create_incident(
        acting_user=cast.requester, organization=cast.org_a, title="Printer"
    )
    survey = actions.send_survey(incident)
    assert actions.send_survey(incident) == survey
    with pytest.raises(PermissionDenied):
        actions.answer_survey(acting_user=cast.agent, survey=survey, rating=5)
    with pytest.raises(FieldError) as exc:
        actions.answer_survey(acting_user=cast.requester, survey=survey, rating=6)
    assert "rating" in exc.value.errors
    actions.answer_survey(acting_user=cast.requester, survey=survey, rating=4, comment="Good")
    with pytest.raises(Conflict):
        actions.answer_survey(acting_user=cast.requester, survey=survey, rating=1)
    entry = Activity.objects.get(kind="survey")
    assert entry.public and entry.data["rating"] == 4 and entry.subject_id == incident.pk


def test_surveys_api_mine_for_requesters_all_for_agents(cast, client):
    mine = actions.send_survey(
        desk_actions.create_incident(acting_user=cast.requester, organization=cast.org_a, title="A")
    )
    other = actions.send_survey(
        desk_actions.create_incident(acting_user=cast.agent, organization=cast.org_a, title="B")
    )
    requester = ApiClient(client, cast.requester)
    assert [s["id"] for s in requester.get("/surveys").json()["items"]] == [mine.pk]
    assert_error(requester.get(f"/surveys/{other.pk}"), 404)
    manager = ApiClient(client, cast.manager)
    assert {s["id"] for s in manager.get("/surveys").json()["items"]} == {mine.pk, other.pk}
    assert_error(manager.post(f"/surveys/{mine.pk}/answer", {"rating": 5}), 403)
    assert_error(requester.post(f"/surveys/{mine.pk}/answer", {"rating": 0}), 422, "rating")
    resp = requester.post(f"/surveys/{mine.pk}/answer", {"rating": 3, "comment": "OK"})
    assert resp.status_code == 200 and resp.json()["rating"] == 3
    assert_error(requester.post(f"/surveys/{mine.pk}/answer", {"rating": 5}), 409, "rating")
    assert requester.get("/surveys", {"answered": False}).json()["total"] == 0
