"""The kernel: worked examples of the issue, and clocks kept current from ticket history."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from opsdesk.core.calendars import CalendarSpec, compile_calendar
from opsdesk.core.models import BusinessCalendar
from opsdesk.servicedesk import actions
from opsdesk.sla.engine import Change, ClockRules, compute
from opsdesk.sla.models import Clock, Definition

JHB = ZoneInfo("Africa/Johannesburg")
ZA = compile_calendar(CalendarSpec(time_zone="Africa/Johannesburg", holiday_country="ZA"))
P2_8H = ClockRules(metric="resolution", targets={2: 8 * 3600})


def _due(opened: datetime) -> datetime:
    result = compute(P2_8H, ZA, opened, [Change(opened, priority=2)], opened)
    assert result is not None and result.status == "running"
    return result.due_at.astimezone(JHB)


def test_friday_afternoon_p2_is_due_monday_14h():
    assert _due(datetime(2026, 11, 20, 15, 0, tzinfo=JHB)) == datetime(
        2026, 11, 23, 14, 0, tzinfo=JHB
    )


def test_thursday_before_easter_is_due_tuesday_14h():
    # Good Friday (3 April 2026) and Family Day (6 April) are public holidays.
    assert _due(datetime(2026, 4, 2, 15, 0, tzinfo=JHB)) == datetime(2026, 4, 7, 14, 0, tzinfo=JHB)


def test_pause_awaiting_requester_moves_the_due_time():
    opened = datetime(2026, 11, 16, 9, 0, tzinfo=JHB)  # Monday
    changes = [
        Change(opened, priority=2),
        Change(opened + timedelta(hours=1), state="on_hold", hold_reason="awaiting_requester"),
        Change(opened + timedelta(hours=3), state="in_progress"),
    ]
    result = compute(P2_8H, ZA, opened, changes, opened + timedelta(hours=4))
    assert result.paused_seconds == 2 * 3600
    # Monday 09-10 and 12-17 count 6 h; Tuesday 08:00 + 2 h.
    assert result.due_at.astimezone(JHB) == datetime(2026, 11, 17, 10, 0, tzinfo=JHB)


@pytest.mark.django_db
def test_clocks_follow_the_ticket(cast):
    calendar = BusinessCalendar.objects.create(
        organization=cast.org_a, name="24x7", always_open=True, is_default=True
    )
    Definition.objects.create(
        organization=cast.org_a,
        name="Standard",
        response_minutes={"4": 60},
        resolution_minutes={"4": 480},
        calendar=calendar,
    )
    with cast_commits():
        incident = actions.create_incident(
            acting_user=cast.agent, organization=cast.org_a, title="Printer", impact=2, urgency=3
        )
    clocks = {c.metric: c for c in Clock.objects.filter(subject_id=incident.pk)}
    assert set(clocks) == {"response", "resolution"}
    assert clocks["resolution"].status == "running"
    assert clocks["resolution"].due_at == incident.opened_at + timedelta(hours=8)
    with cast_commits():
        actions.transition_incident(
            acting_user=cast.agent,
            incident=incident,
            transition="hold",
            hold_reason="awaiting_requester",
        )
    clocks = {c.metric: c for c in Clock.objects.filter(subject_id=incident.pk)}
    assert clocks["resolution"].status == "paused"
    assert clocks["response"].status == "stopped"  # leaving "new" is a response


def cast_commits():
    from django.test import TestCase

    return TestCase.captureOnCommitCallbacks(execute=True)
