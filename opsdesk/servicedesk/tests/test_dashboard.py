"""Dashboard metrics against a hand-built data set whose numbers are known, and the chart."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from opsdesk.servicedesk import charts, dashboard
from opsdesk.servicedesk.models import Incident

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # 14:00 in Johannesburg (UTC+2)


def ago(**delta) -> datetime:  # type: ignore[no-untyped-def]
    return NOW - timedelta(**delta)


def make(cast, n: int, **fields) -> Incident:  # type: ignore[no-untyped-def]
    return Incident.objects.create(
        organization=cast.org_a, number=f"INC{n:07d}", title=f"Incident {n}", **fields
    )


@pytest.fixture
def desk(cast):  # type: ignore[no-untyped-def]
    """Five open incidents (one per age bucket), three resolved in the last 30 days (one
    reopened before, two at first contact), one resolved long ago, one cancelled; one in
    another organisation that must never count."""
    assert cast.org_a.time_zone == "Africa/Johannesburg"
    make(cast, 1, priority=1, state="new", opened_at=ago(hours=2))
    make(cast, 2, priority=2, state="in_progress", opened_at=ago(days=2))
    # 23:30 UTC is 01:30 the next day in Johannesburg: counted on 16 November.
    make(cast, 3, priority=3, state="on_hold", opened_at=datetime(2026, 11, 15, 23, 30, tzinfo=UTC))
    make(cast, 4, priority=3, state="new", opened_at=ago(days=10))
    make(cast, 5, priority=5, state="in_progress", opened_at=ago(days=40))
    make(
        cast,
        6,
        priority=4,
        state="resolved",
        opened_at=ago(days=3),
        resolved_at=ago(days=1),
        reopen_count=1,
    )
    make(
        cast,
        7,
        priority=4,
        state="resolved",
        opened_at=ago(days=4),
        resolved_at=ago(days=2),
        first_contact_resolution=True,
    )
    make(
        cast,
        8,
        priority=3,
        state="closed",
        opened_at=ago(days=20),
        resolved_at=ago(days=15),
        closed_at=ago(days=8),
        first_contact_resolution=True,
    )
    make(
        cast,
        9,
        priority=3,
        state="closed",
        opened_at=ago(days=60),
        resolved_at=ago(days=45),
        closed_at=ago(days=38),
    )
    make(cast, 10, priority=2, state="cancelled", opened_at=ago(days=6), closed_at=ago(days=5))
    Incident.objects.create(
        organization=cast.org_b, number="INC0000001", title="B", priority=1, opened_at=ago(days=1)
    )
    return cast


def test_open_by_priority_and_ageing(desk):  # type: ignore[no-untyped-def]
    counts = {row["priority"]: row["count"] for row in dashboard.open_by_priority(desk.org_a.pk)}
    assert counts == {1: 1, 2: 1, 3: 2, 4: 0, 5: 1}
    ageing = {row["key"]: row["count"] for row in dashboard.ageing(desk.org_a.pk, NOW)}
    assert ageing == {"d0": 1, "d1": 1, "d3": 1, "d7": 1, "d30": 1}


def test_reopen_and_first_contact_rates(desk):  # type: ignore[no-untyped-def]
    rates = dashboard.resolution_rates(desk.org_a.pk, NOW)
    assert rates["resolved"] == 3
    assert rates["reopen_rate"] == 33.3
    assert rates["fcr_rate"] == 66.7
    assert dashboard.resolution_rates(desk.org_b.pk, NOW)["reopen_rate"] is None


def test_csat_of_answered_surveys_in_the_window(desk):  # type: ignore[no-untyped-def]
    from opsdesk.portal.models import Survey

    assert dashboard.csat(desk.org_a.pk, NOW) == {
        "available": True,
        "average": None,
        "responses": 0,
    }
    for subject_id, rating, answered in (
        (6, 5, ago(days=1)),
        (7, 2, ago(days=2)),
        (8, None, None),  # not answered
        (9, 1, ago(days=44)),  # too old
    ):
        Survey.objects.create(
            organization=desk.org_a,
            subject_type="incident",
            subject_id=subject_id,
            requester=desk.requester,
            rating=rating,
            answered_at=answered,
        )
    assert dashboard.csat(desk.org_a.pk, NOW) == {"available": True, "average": 3.5, "responses": 2}


def test_backlog_trend_per_local_day(desk):  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    points = dashboard.trend(desk.org_a.pk, ZoneInfo("Africa/Johannesburg"), NOW)
    assert len(points) == 30
    by_day = {p["day"]: p for p in points}
    assert points[0]["day"] == date(2026, 10, 22) and points[-1]["day"] == date(2026, 11, 20)
    assert by_day[date(2026, 11, 16)]["opened"] == 2  # INC3 (local day) and INC7
    assert by_day[date(2026, 11, 15)]["opened"] == 0
    assert by_day[date(2026, 11, 20)]["opened"] == 1
    assert by_day[date(2026, 11, 19)]["resolved"] == 1
    assert by_day[date(2026, 11, 5)]["resolved"] == 1
    assert by_day[date(2026, 11, 15)]["cancelled"] == 1
    # Before the window: INC5 and INC9 opened, INC9 resolved -> 1 open.
    assert points[0]["backlog"] == 1
    # The last point is today's open backlog.
    assert points[-1]["backlog"] == 5
    assert sum(p["opened"] for p in points) == 8


def test_the_dashboard_uses_a_fixed_number_of_queries(desk):  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as ctx:
        dashboard.dashboard(desk.org_a, NOW)
    few = len(ctx.captured_queries)
    for n in range(11, 40):
        make(desk, n, priority=3, opened_at=ago(days=n % 29), resolved_at=ago(hours=n))
    with CaptureQueriesContext(connection) as ctx:
        dashboard.dashboard(desk.org_a, NOW)
    assert len(ctx.captured_queries) == few <= 6


def test_the_dashboard_page_draws_the_chart(desk):  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(desk.manager)
    body = client.get("/desk/dashboard/").content.decode()
    assert '<svg class="chart trend-chart"' in body
    assert "style=" not in body.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert 'data-metric="open">5<' in body
    assert "no answers yet" in body
    assert re.search(r'data-bucket="d30">.*?data-count>1<', body, re.S)


def test_chart_helper_scales_and_escapes() -> None:
    assert [charts.nice_max(v) for v in (0, 3, 7, 11, 180, 999, 1001)] == [
        4,
        4,
        10,
        20,
        200,
        1000,
        2000,
    ]
    points = [
        {"day": date(2026, 11, d), "opened": d, "resolved": d // 2, "backlog": 100 + d}
        for d in range(1, 11)
    ]
    svg = charts.trend_chart(points, title="<b>Trend</b>")
    assert "&lt;b&gt;Trend&lt;/b&gt;" in svg
    assert svg.count('class="bar-opened"') == 11  # ten bars and the legend swatch
    assert "10 Nov: 10 opened" in svg
    assert "<polyline" in svg
