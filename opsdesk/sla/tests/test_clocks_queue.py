"""The likely-to-breach queue (page and ``GET /sla/clocks``) and the SLA column of the desk
queue: ordering by risk, filters, the breached section, isolation, and one query per page
for the badges whatever the page's length."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from opsdesk.core.testing.api import ApiClient
from opsdesk.sla.models import Clock
from opsdesk.sla.tests.test_clocks_explain import (  # noqa: F401 - fixture
    fresh_calendars,
    incident_with_history,
    world,
)

pytestmark = pytest.mark.django_db


def _three(cast):  # type: ignore[no-untyped-def]
    """On a 24x7 calendar: P2 opened 9 h ago (breached), 6 h ago (2 h left), 1 h ago (7 h
    left)."""
    world(cast, always_open=True)
    now = timezone.now()
    made = {}
    for name, hours in (("late", 9), ("close", 6), ("fresh", 1)):
        made[name] = incident_with_history(
            cast, now - timedelta(hours=hours), now=now, title=f"Incident {name}"
        )
    return made


def _resolution(incident):  # type: ignore[no-untyped-def]
    return Clock.objects.get(subject_id=incident.pk, metric="resolution")


def test_api_orders_by_probability_then_due(cast, client):
    made = _three(cast)
    Clock.objects.filter(pk=_resolution(made["fresh"]).pk).update(breach_probability=0.9)
    api = ApiClient(client, cast.manager)
    body = api.get("/sla/clocks", {"metric": "resolution"}).json()
    numbers = [c["number"] for c in body["items"]]
    assert numbers == [made["fresh"].number, made["late"].number, made["close"].number]
    assert body["total"] == 3
    item = body["items"][1]
    assert item["breached"] is True and item["label"] == "Breached"
    assert item["remaining_seconds"] < 0 and item["percent"] > 100
    by_due = api.get("/sla/clocks", {"metric": "resolution", "ordering": "due"}).json()
    assert [c["number"] for c in by_due["items"]] == [
        made["late"].number,
        made["close"].number,
        made["fresh"].number,
    ]


def test_api_filters(cast, client):
    made = _three(cast)
    api = ApiClient(client, cast.agent)
    within = api.get("/sla/clocks", {"metric": "resolution", "breaching_within_hours": 3})
    assert [c["number"] for c in within.json()["items"]] == [made["close"].number]
    breached = api.get("/sla/clocks", {"breached": True, "metric": "resolution"}).json()
    assert [c["number"] for c in breached["items"]] == [made["late"].number]
    Clock.objects.filter(pk=_resolution(made["close"]).pk).update(breach_probability=0.4)
    likely = api.get("/sla/clocks", {"min_probability": 0.3}).json()
    assert [c["number"] for c in likely["items"]] == [made["close"].number]
    assert api.get("/sla/clocks", {"kind": "ola"}).json()["total"] == 0
    bad = api.get("/sla/clocks", {"status": "sleeping"})
    assert bad.status_code == 422 and "status" in bad.content.decode()
    assert api.get("/sla/clocks", {"ordering": "nonsense"}).status_code == 422


def test_other_organisations_and_requesters_see_no_clocks(cast, client):
    _three(cast)
    assert ApiClient(client, cast.agent_b).get("/sla/clocks").json()["total"] == 0
    assert ApiClient(client, cast.requester).get("/sla/clocks").json()["total"] == 0
    web = Client()
    web.force_login(cast.requester)
    assert web.get("/sla/clocks/").status_code == 404


def test_queue_page_has_breached_section_then_risk_order(cast):
    made = _three(cast)
    web = Client()
    web.force_login(cast.agent)
    resp = web.get("/sla/clocks/", {"metric": "resolution"})
    assert resp.status_code == 200
    page = resp.content.decode()
    breached, risky = page.split('id="sla-risk"')
    assert made["late"].number in breached and made["close"].number not in breached
    assert risky.index(made["close"].number) < risky.index(made["fresh"].number)
    assert "Live clocks by status" in page  # the counts chart
    assert 'style="' not in page.split("<body", 1)[1]
    # The team filter narrows (no incident has a team: nothing left).
    resp = web.get("/sla/clocks/", {"team": cast.team_a.pk})
    assert made["close"].number not in resp.content.decode().split('id="sla-risk"')[1]


def test_desk_queue_shows_the_most_urgent_clock(cast):
    made = _three(cast)
    web = Client()
    web.force_login(cast.agent)
    page = web.get("/desk/", {"tab": "open"}).content.decode()
    row = page.split(made["late"].number, 2)[2].split("</tr>", 1)[0]
    # The response clock (1 h) breached first; the badge counts from its breach.
    assert "sla-badge sla-breached" in row and "breached 8 h ago" in row
    row = page.split(made["fresh"].number, 2)[2].split("</tr>", 1)[0]
    assert "sla-badge" in row and "data-sla-due=" in row


def test_desk_queue_badges_cost_the_same_queries_for_5_and_30_incidents(cast):
    world(cast, always_open=True)
    now = timezone.now()
    web = Client()
    web.force_login(cast.agent)

    def count() -> int:
        web.get("/desk/", {"tab": "open", "size": 50})  # warm caches (calendars, settings)
        with CaptureQueriesContext(connection) as ctx:
            resp = web.get("/desk/", {"tab": "open", "size": 50})
        assert resp.status_code == 200
        return len(ctx.captured_queries)

    for i in range(5):
        incident_with_history(cast, now - timedelta(hours=i), now=now, title=f"Five {i}")
    five = count()
    for i in range(25):
        incident_with_history(cast, now - timedelta(hours=i), now=now, title=f"Thirty {i}")
    thirty = count()
    assert Clock.objects.filter(subject_type="incident").count() == 60
    assert thirty == five
    with CaptureQueriesContext(connection) as ctx:
        web.get("/desk/", {"tab": "open", "size": 50})
    clock_queries = [q for q in ctx.captured_queries if '"sla_clock"' in q["sql"]]
    assert len(clock_queries) == 1
