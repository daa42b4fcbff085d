"""The knowledge API: /kb/articles with search and filters, transitions as explicit
operations, versions, feedback and "used to resolve" links."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from opsdesk.core.testing.api import ApiClient, assert_error
from opsdesk.knowledge.choices import Visibility
from opsdesk.knowledge.models import Article
from opsdesk.knowledge.tests.factories import article
from opsdesk.servicedesk.actions import create_incident

pytestmark = pytest.mark.django_db


def review_date(days: int = 90) -> str:
    return (timezone.localdate() + timedelta(days=days)).isoformat()


def test_write_review_and_publish_through_the_api(cast, client):
    agent, manager = ApiClient(client, cast.agent), ApiClient(client, cast.manager)
    resp = agent.post(
        "/kb/articles",
        {
            "organization_id": cast.org_a.pk,
            "title": "Reset your password",
            "kind": "how_to",
            "body": "1. Go to **https://id.acme.test**",
            "tags": ["Password", "identity"],
            "visibility": "everyone",
        },
    )
    assert resp.status_code == 201, resp.content
    body = resp.json()
    pk = body["id"]
    assert body["number"].startswith("KB") and body["state"] == "draft"
    assert body["owner_id"] == cast.agent.pk and body["tags"] == ["password", "identity"]
    assert "<strong>https://id.acme.test</strong>" in body["body_html"]
    assert body["allowed_transitions"] == ["submit", "retire"]
    # Publishing a draft: 409 naming what is allowed.
    assert_error(manager.post(f"/kb/articles/{pk}/publish", {}), 409, "state")
    assert agent.post(f"/kb/articles/{pk}/submit").json()["state"] == "review"
    # No review date yet: a 422 naming it.
    assert_error(manager.post(f"/kb/articles/{pk}/publish", {}), 422, "review_date")
    assert_error(agent.patch(f"/kb/articles/{pk}", {"body": "x"}), 409, "state")
    agent.patch(f"/kb/articles/{pk}", {"review_date": review_date()})
    assert_error(agent.post(f"/kb/articles/{pk}/publish", {}), 403)
    assert_error(manager.post(f"/kb/articles/{pk}/request-changes", {}), 422, "reason")
    resp = manager.post(f"/kb/articles/{pk}/publish", {"note": "First"})
    assert resp.status_code == 200 and resp.json()["state"] == "published"
    assert resp.json()["published_version"] == 1
    revised = agent.post(f"/kb/articles/{pk}/revise", {"reason": "New portal"}).json()
    assert revised["state"] == "draft" and revised["version"] == 2
    agent.patch(f"/kb/articles/{pk}", {"title": "Reset your password (new portal)"})
    # The requester still reads version 1.
    read = ApiClient(client, cast.requester).get(f"/kb/articles/{pk}").json()
    assert read["title"] == "Reset your password" and read["version"] == 1
    versions = agent.get(f"/kb/articles/{pk}/versions").json()
    assert [v["version"] for v in versions["items"]] == [1] and versions["items"][0][
        "note"
    ] == "First"
    assert_error(ApiClient(client, cast.requester).post(f"/kb/articles/{pk}/retire", {}), 403)


def test_list_filters_and_search(cast, client):
    today = timezone.localdate()
    article(
        cast.agent,
        cast.org_a,
        "Printer jam",
        body="tray",
        publish_as=cast.manager,
        kind="how_to",
        review_date=today + timedelta(days=5),
    )
    article(
        cast.agent,
        cast.org_a,
        "Data protection policy",
        body="printer output must be collected",
        kind="policy",
        publish_as=cast.manager,
    )
    article(cast.agent, cast.org_a, "Draft note", body="printer")
    api = ApiClient(client, cast.agent)
    titles = lambda resp: [i["title"] for i in resp.json()["items"]]  # noqa: E731
    assert titles(api.get("/kb/articles", {"kind": "policy"})) == ["Data protection policy"]
    assert titles(api.get("/kb/articles", {"state": "draft"})) == ["Draft note"]
    assert titles(api.get("/kb/articles", {"due_for_review": "true"})) == ["Printer jam"]
    found = api.get("/kb/articles", {"q": "printer", "state": "published"}).json()
    assert [i["title"] for i in found["items"]] == ["Printer jam", "Data protection policy"]
    assert found["total"] == 2
    assert "<mark>Printer</mark>" in found["items"][0]["highlight"]["title"]
    assert "<mark>printer</mark>" in found["items"][1]["highlight"]["snippet"]
    assert api.get("/kb/articles", {"q": "printer", "limit": 1}).json()["total"] == 3
    assert_error(api.get("/kb/articles", {"kind": "novel"}), 422, "kind")
    assert (
        ApiClient(client, cast.requester).get("/kb/articles", {"q": "printer"}).json()["items"]
        == []
    )


def test_feedback_and_used_to_resolve(cast, client):
    a = article(
        cast.agent, cast.org_a, "VPN", publish_as=cast.manager, visibility=Visibility.EVERYONE
    )
    requester = ApiClient(client, cast.requester)
    resp = requester.post(f"/kb/articles/{a.pk}/feedback", {"helpful": False, "comment": "meh"})
    assert resp.status_code == 200 and resp.json()["not_helpful_count"] == 1
    resp = requester.post(f"/kb/articles/{a.pk}/feedback", {"helpful": True})
    assert (resp.json()["helpful_count"], resp.json()["not_helpful_count"]) == (1, 0)
    assert_error(requester.post(f"/kb/articles/{a.pk}/feedback", {}), 422, "helpful")
    incident = create_incident(acting_user=cast.requester, organization=cast.org_a, title="VPN")
    assert_error(requester.post(f"/kb/articles/{a.pk}/uses", {"incident_id": incident.pk}), 403)
    agent = ApiClient(client, cast.agent)
    resp = agent.post(f"/kb/articles/{a.pk}/uses", {"incident_id": incident.pk})
    assert resp.status_code == 201 and resp.json()["incident_id"] == incident.pk
    assert_error(agent.post(f"/kb/articles/{a.pk}/uses", {"incident_id": incident.pk}), 409)
    assert_error(
        agent.post(f"/kb/articles/{a.pk}/uses", {"incident_id": 10**9}), 422, "incident_id"
    )
    used = agent.get(f"/incidents/{incident.pk}/articles").json()
    assert [u["article"]["number"] for u in used["items"]] == [a.number]
    # The requester of the incident sees the public article used on it.
    assert requester.get(f"/incidents/{incident.pk}/articles").json()["total"] == 1
    assert_error(ApiClient(client, cast.admin_b).get(f"/incidents/{incident.pk}/articles"), 404)


def test_references_are_checked(cast, client):
    from opsdesk.cmdb.tests.factories import ci

    api = ApiClient(client, cast.agent)
    base = {"organization_id": cast.org_a.pk, "title": "x"}
    assert_error(api.post("/kb/articles", {**base, "owner_id": cast.admin_b.pk}), 422, "owner_id")
    assert_error(api.post("/kb/articles", {**base, "owner_id": 10**9}), 422, "owner_id")
    b_ci = ci(cast.org_b, "b-service", "business_service")
    assert_error(api.post("/kb/articles", {**base, "service_id": b_ci.pk}), 422, "service_id")
    a_ci = ci(cast.org_a, "Email", "business_service")
    resp = api.post("/kb/articles", {**base, "service_id": a_ci.pk, "title": "Mail"})
    assert resp.status_code == 201 and resp.json()["service_id"] == a_ci.pk
    assert_error(api.post("/kb/articles", {**base, "surprise": 1}), 422, "surprise")
    pk = resp.json()["id"]
    assert_error(api.patch(f"/kb/articles/{pk}", {"title": None}), 422, "title")
    assert Article.objects.filter(title="x").count() == 0
