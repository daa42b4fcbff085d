"""The API of reviews, change-induced incidents and change metrics."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from opsdesk.changes.choices import InducedState
from opsdesk.changes.models import InducedLink
from opsdesk.changes.tests.factories import change, topology
from opsdesk.changes.tests.induced_helpers import implemented_change, open_incident
from opsdesk.core.testing.api import ApiClient, assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def suggested(cast, django_capture_on_commit_callbacks):
    cmdb = topology(cast.org_a)
    now = timezone.now()
    c = implemented_change(cast, [cmdb["db_srv"]], now - timedelta(minutes=40))
    inc = open_incident(cast, django_capture_on_commit_callbacks, ci=cmdb["app"], opened_at=now)
    return c, inc, InducedLink.objects.get(incident=inc)


def test_suggestions_are_listed_confirmed_and_dismissed(cast, suggested):
    c, inc, link = suggested
    api = ApiClient(user=cast.agent)
    rows = api.get(f"/api/v1/incidents/{inc.pk}/induced").json()
    assert [r["id"] for r in rows] == [link.pk]
    assert rows[0]["change"]["number"] == c.number and rows[0]["state"] == "suggested"
    assert "depends on it through bank-db" in rows[0]["reason"]
    assert [r["incident"]["number"] for r in api.get(f"/api/v1/changes/{c.pk}/induced").json()] == [
        inc.number
    ]
    r = api.post(f"/api/v1/induced-links/{link.pk}/confirm")
    assert r.status_code == 200 and r.json()["state"] == "confirmed"
    assert_error(api.post(f"/api/v1/induced-links/{link.pk}/confirm"), 409, "state")
    assert_error(api.post(f"/api/v1/induced-links/{link.pk}/dismiss", {}), 422, "reason")
    r = api.post(f"/api/v1/induced-links/{link.pk}/dismiss", {"reason": "The network"})
    assert r.status_code == 200 and r.json()["state"] == "dismissed"


def test_requesters_and_auditors_cannot_decide(cast, suggested):
    _, _, link = suggested
    assert_error(ApiClient(user=cast.auditor).post(f"/api/v1/induced-links/{link.pk}/confirm"), 403)
    # A requester cannot even see the link.
    assert_error(
        ApiClient(user=cast.requester).post(f"/api/v1/induced-links/{link.pk}/confirm"), 404
    )
    link.refresh_from_db()
    assert link.state == InducedState.SUGGESTED


def test_link_by_hand(cast, suggested):
    c, _, _ = suggested
    api = ApiClient(user=cast.agent)
    other = open_incident_plain(cast)
    r = api.post(f"/api/v1/changes/{c.pk}/induced", {"incident_id": other.pk})
    assert r.status_code == 201 and r.json()["state"] == "confirmed"
    assert_error(
        api.post(f"/api/v1/changes/{c.pk}/induced", {"incident_id": 999999}), 422, "incident_id"
    )
    assert_error(api.post(f"/api/v1/changes/{c.pk}/induced", {}), 422, "incident_id")


def open_incident_plain(cast):
    from opsdesk.servicedesk.actions import create_incident

    return create_incident(acting_user=cast.agent, organization=cast.org_a, title="By hand")


def test_another_organisations_links_changes_and_incidents_are_not_found(cast, suggested):
    c, inc, link = suggested
    api = ApiClient(user=cast.agent_b)
    assert_error(api.get(f"/api/v1/incidents/{inc.pk}/induced"), 404)
    assert_error(api.get(f"/api/v1/changes/{c.pk}/induced"), 404)
    assert_error(api.post(f"/api/v1/induced-links/{link.pk}/confirm"), 404)
    assert_error(api.post(f"/api/v1/induced-links/{link.pk}/dismiss", {"reason": "x"}), 404)
    assert_error(api.get(f"/api/v1/changes/{c.pk}/review"), 404)
    assert_error(api.get("/api/v1/change-metrics", params={"organization_id": cast.org_a.pk}), 404)
    # Linking B's change to A's incident: the incident is not found in the change's organisation.
    b_change = change(cast, org=cast.org_b)
    assert_error(
        api.post(f"/api/v1/changes/{b_change.pk}/induced", {"incident_id": inc.pk}),
        422,
        "incident_id",
    )
    link.refresh_from_db()
    assert link.state == InducedState.SUGGESTED


def test_the_review_through_the_api(cast):
    c = implemented_change(cast, [], timezone.now(), close_code="failed")
    api = ApiClient(user=cast.agent)
    r = api.get(f"/api/v1/changes/{c.pk}/review")
    assert r.status_code == 200
    body = r.json()
    assert body["state"] == "open" and body["required"] is True
    assert body["required_fields"] == ["summary", "what_went_wrong", "lessons"]
    assert_error(api.post(f"/api/v1/changes/{c.pk}/close", {"close_notes": "x"}), 409, "review")
    assert_error(api.post(f"/api/v1/changes/{c.pk}/review/complete"), 422, "what_went_wrong")
    assert_error(api.patch(f"/api/v1/changes/{c.pk}/review", {"verdict": "x"}), 422, "verdict")
    assert_error(api.patch(f"/api/v1/changes/{c.pk}/review", {"summary": None}), 422, "summary")
    r = api.patch(
        f"/api/v1/changes/{c.pk}/review",
        {"summary": "Broke it", "what_went_wrong": "Driver", "lessons": "Canary first"},
    )
    assert r.status_code == 200 and r.json()["summary"] == "Broke it"
    r = api.post(f"/api/v1/changes/{c.pk}/review/complete")
    assert r.status_code == 200 and r.json()["state"] == "completed"
    assert_error(api.post(f"/api/v1/changes/{c.pk}/review"), 409, "review")


def test_an_optional_review_is_started_and_a_missing_one_is_404(cast):
    c = implemented_change(cast, [], timezone.now())
    api = ApiClient(user=cast.agent)
    assert_error(api.get(f"/api/v1/changes/{c.pk}/review"), 404)
    r = api.post(f"/api/v1/changes/{c.pk}/review")
    assert r.status_code == 201 and r.json()["required"] is False
    assert r.json()["required_fields"] == ["summary"]


def test_metrics_endpoint(cast):
    cmdb = topology(cast.org_a)
    ok = implemented_change(cast, [cmdb["app"]], timezone.now(), service=cmdb["banking"])
    from opsdesk.changes import actions

    actions.transition_change(acting_user=cast.agent, change=ok, name="close", close_notes="ok")
    api = ApiClient(user=cast.manager)
    r = api.get(
        "/api/v1/change-metrics", params={"organization_id": cast.org_a.pk, "by": "service"}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["by"] == "service"
    assert body["rows"][0]["label"] == "Online Banking"
    assert body["rows"][0]["success_rate"] == 100.0 and body["rows"][0]["induced_rate"] == 0.0
    today = timezone.localdate()
    r = api.get(
        "/api/v1/change-metrics",
        params={
            "organization_id": cast.org_a.pk,
            "by": "month",
            "from": str(today.replace(day=1)),
            "to": str(today),
        },
    )
    assert [row["key"] for row in r.json()["rows"]] == [today.strftime("%Y-%m")]
    assert_error(
        api.get(
            "/api/v1/change-metrics",
            params={"organization_id": cast.org_a.pk, "from": "2025-05-01", "to": "2025-04-01"},
        ),
        422,
        "to",
    )
    assert_error(
        api.get("/api/v1/change-metrics", params={"organization_id": cast.org_a.pk, "by": "x"}),
        422,
        "by",
    )
    assert_error(
        ApiClient(user=cast.requester).get(
            "/api/v1/change-metrics", params={"organization_id": cast.org_a.pk}
        ),
        403,
    )
