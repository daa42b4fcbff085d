"""An incident's clocks explained: the worked example of the issue (a P2 opened on the
Thursday before Easter), pauses, met response clocks, the API and the page, and who may see
them (requesters and other organisations get a 404)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from opsdesk.core.models import BusinessCalendar
from opsdesk.core.testing.api import ApiClient
from opsdesk.servicedesk import actions, timeline
from opsdesk.sla import selectors
from opsdesk.sla.clocks import recompute_incidents
from opsdesk.sla.models import Clock, Definition

pytestmark = pytest.mark.django_db

JHB = ZoneInfo("Africa/Johannesburg")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


@pytest.fixture(autouse=True)
def fresh_calendars():  # type: ignore[no-untyped-def]
    """Compiled calendars are cached by (id, version); a rolled-back test database (SQLite)
    hands the same id to the next test's calendar, so start every test with an empty cache."""
    from opsdesk.sla import calendars

    calendars._COMPILED.clear()


def world(cast: Any, *, always_open: bool = False) -> Definition:
    """Organisation A's default calendar (South Africa, 08:00-17:00 on weekdays with public
    holidays, or 24x7) and one SLA: P2 answered within 1 h, resolved within 8 h."""
    calendar = BusinessCalendar.objects.create(
        organization=cast.org_a,
        name="24x7" if always_open else "South Africa office hours",
        time_zone="Africa/Johannesburg",
        always_open=always_open,
        working_hours={} if always_open else {d: [["08:00", "17:00"]] for d in WEEKDAYS},
        holiday_country="" if always_open else "ZA",
        is_default=True,
    )
    assert calendar.pk
    return Definition.objects.create(
        organization=cast.org_a,
        name="Standard support",
        response_minutes={str(p): 60 for p in range(1, 6)},
        resolution_minutes={"1": 240, "2": 480, "3": 960, "4": 1920, "5": 2880},
        warning_thresholds=[50, 75, 90],
    )


def incident_with_history(
    cast: Any,
    opened: datetime,
    history: list[tuple[datetime, str, dict[str, Any]]] = (),  # type: ignore[assignment]
    *,
    now: datetime,
    title: str = "Core banking slow",
    impact: int = 1,
    urgency: int = 2,
    org: Any = None,
    user: Any = None,
    **fields: Any,
) -> Any:
    """An incident opened at `opened` (P2 by default) with fixed timeline rows, its clocks
    recomputed as of `now`."""
    with timeline.silenced():
        incident = actions.create_incident(
            acting_user=user or cast.agent,
            organization=org or cast.org_a,
            title=title,
            impact=impact,
            urgency=urgency,
            opened_at=opened,
            **fields,
        )
        for at, kind, data in history:
            timeline.record(incident, kind, actor=cast.agent, data=data, at=at)
    recompute_incidents([incident], now=now)
    return incident


def easter(cast: Any, history: Any = ()) -> tuple[Any, datetime]:
    opened = datetime(2026, 4, 2, 15, 0, tzinfo=JHB)  # the Thursday before Good Friday
    now = datetime(2026, 4, 2, 16, 0, tzinfo=JHB)
    return incident_with_history(cast, opened, list(history), now=now), now


def _clock(explained: list[Any], metric: str) -> Any:
    return next(c for c in explained if c.metric == metric)


def test_the_worked_example_skips_good_friday_and_family_day(cast):
    world(cast)
    incident, now = easter(cast)
    explained = selectors.explain_clocks(cast.agent, incident, now=now)
    resolution = _clock(explained, "resolution")
    assert resolution.summary == (
        "8 h target (P2): 2 h on Thu 2 Apr, Good Friday and Family Day skipped, "
        "6 h on Tue 7 Apr → due Tue 7 Apr 14:00"
    )
    assert resolution.calendar_reason == "default"
    assert "default calendar" in resolution.calendar_why
    assert resolution.due_at == datetime(2026, 4, 7, 14, 0, tzinfo=JHB)
    past = [s for s in resolution.segments if not s.projected]
    ahead = [s for s in resolution.segments if s.projected]
    assert [(s.kind, s.counted) for s in past] == [("running", 3600)]
    holidays = [s.label for s in ahead if s.kind == "holiday"]
    assert holidays == ["Good Friday", "Family Day"]
    assert ahead[-1].kind == "running" and ahead[-1].elapsed_after == 8 * 3600
    assert sum(s.counted for s in resolution.segments) == 8 * 3600
    # The stored clock agrees with the replay.
    stored = Clock.objects.get(subject_id=incident.pk, metric="resolution")
    assert stored.due_at == resolution.due_at and stored.status == "running"


def test_a_pause_is_explained_and_moves_the_due_time(cast):
    world(cast)
    incident, now = easter(
        cast,
        [
            (
                datetime(2026, 4, 2, 15, 20, tzinfo=JHB),
                "state",
                {"to": "on_hold", "hold_reason": "awaiting_requester"},
            ),
            (datetime(2026, 4, 2, 15, 50, tzinfo=JHB), "state", {"to": "in_progress"}),
        ],
    )
    resolution = _clock(selectors.explain_clocks(cast.agent, incident, now=now), "resolution")
    assert resolution.steps == [
        "20 min on Thu 2 Apr",
        "paused 30 min (on hold - awaiting requester)",
        "1 h 10 min on Thu 2 Apr",
        "Good Friday and Family Day skipped",
        "6 h 30 min on Tue 7 Apr",
    ]
    assert resolution.conclusion == "due Tue 7 Apr 14:30"
    assert resolution.paused_seconds == 30 * 60


def test_a_response_in_time_is_met_with_time_to_spare(cast):
    world(cast)
    incident, now = easter(
        cast,
        [
            (
                datetime(2026, 4, 2, 15, 30, tzinfo=JHB),
                "assigned",
                {"group_id": cast.team_a.pk, "assignee_id": cast.agent.pk},
            )
        ],
    )
    response = _clock(selectors.explain_clocks(cast.agent, incident, now=now), "response")
    assert response.status == "stopped" and response.label == "Met"
    assert response.conclusion == "met: stopped Thu 2 Apr 15:30 with 30 min to spare"
    assert [s.kind for s in response.segments] == ["running", "stopped"]
    stored = Clock.objects.select_related("definition", "calendar").get(
        subject_id=incident.pk, metric="response"
    )
    state = selectors.clock_state(stored, now)
    assert (state.label, state.text, state.tone) == ("Met", "30 min to spare", "met")


def test_api_returns_the_segments_as_json(cast, client):
    world(cast)
    incident, _ = easter(cast)
    resp = ApiClient(client, cast.agent).get(f"/incidents/{incident.pk}/sla")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["number"] == incident.number
    clocks = {c["metric"]: c for c in body["clocks"]}
    assert set(clocks) == {"response", "resolution"}
    res = clocks["resolution"]
    assert res["definition"]["name"] == "Standard support"
    assert res["kind"] == "sla" and res["calendar"]["name"] == "South Africa office hours"
    assert res["calendar_reason"] == "default" and res["target_seconds"] == 8 * 3600
    # The real clock is months past April: breached, and said so.
    assert res["breached_at"] is not None and res["label"] == "Breached"
    first = res["segments"][0]
    assert set(first) >= {"start", "end", "kind", "label", "counted_seconds", "projected"}
    assert datetime.fromisoformat(first["start"]) == datetime(2026, 4, 2, 15, 0, tzinfo=JHB)
    assert any(s["kind"] == "holiday" and s["label"] == "Good Friday" for s in res["segments"])
    assert res["summary"].startswith("8 h target (P2): 2 h on Thu 2 Apr, Good Friday")


@pytest.mark.parametrize("who", ["requester", "agent_b"])
def test_requesters_and_other_organisations_get_404(cast, client, who):
    world(cast)
    incident, _ = easter(cast)
    user = getattr(cast, who)
    resp = ApiClient(client, user).get(f"/incidents/{incident.pk}/sla")
    assert resp.status_code == 404
    web = Client()
    web.force_login(user)
    assert web.get(f"/sla/clocks/incident/{incident.pk}/explain").status_code == 404
    assert web.get(f"/sla/clocks/incident/{incident.pk}/panel").status_code == 404


def test_explain_page_shows_summary_timeline_and_segments(cast):
    world(cast)
    incident, _ = easter(cast)
    web = Client()
    web.force_login(cast.auditor)
    resp = web.get(f"/sla/clocks/incident/{incident.pk}/explain")
    assert resp.status_code == 200
    page = resp.content.decode()
    assert "Good Friday and Family Day skipped" in page
    assert '<svg class="sla-timeline"' in page and "sla-seg-holiday" in page
    assert "the organisation&#x27;s default calendar" in page
    assert 'style="' not in page.split("<body", 1)[1]


def test_panel_on_the_incident_page_links_to_explain(cast):
    world(cast, always_open=True)
    now = datetime.now(tz=JHB)
    incident = incident_with_history(cast, now, now=now)
    web = Client()
    web.force_login(cast.agent)
    page = web.get(f"/desk/incidents/{incident.pk}/").content.decode()
    assert "Service levels" in page and "Standard support" in page
    assert f"/sla/clocks/incident/{incident.pk}/explain#clock-" in page
    # 24x7: the browser may count down in wall time; a business-hours clock would not be.
    assert "data-sla-due=" in page and "(business hours)" not in page
    assert "due in 7 h" in page  # 8 h resolution target, a moment ago


def test_business_hours_clocks_are_never_counted_down_by_the_browser(cast):
    world(cast)
    opened = datetime(2026, 4, 2, 15, 0, tzinfo=JHB)
    incident = incident_with_history(cast, opened, now=opened)
    clock = Clock.objects.select_related("definition", "calendar").get(
        subject_id=incident.pk, metric="resolution"
    )
    state = selectors.clock_state(clock, datetime(2026, 4, 2, 16, 0, tzinfo=JHB))
    assert state.text == "due in 7 h (business hours)"
    assert not state.countdown and state.business_hours
    assert round(state.percent) == 12 and state.tone == "ok"
