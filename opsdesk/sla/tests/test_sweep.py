"""The sweep: warnings and the breach recorded once each, at the time the clock crossed
them, whether or not anybody touches the ticket; the periodic job that runs it."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from opsdesk.core import periodic
from opsdesk.core.models import BusinessCalendar
from opsdesk.servicedesk import actions
from opsdesk.servicedesk.models import Activity
from opsdesk.sla.clocks import incidents_for_recompute, recompute_incidents
from opsdesk.sla.models import Clock, ClockEvent, Definition
from opsdesk.sla.sweep import sweep

JHB = ZoneInfo("Africa/Johannesburg")
#: Monday 2 March 2026, 09:00 in Johannesburg. The calendar is 24x7 and the P3 target 8 h:
#: 50 % at 13:00, 75 % at 15:00, 90 % at 16:12, breached at 17:00.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=JHB)
H = timedelta(hours=1)


def setup_sla(org, **extra):
    calendar = BusinessCalendar.objects.create(
        organization=org, name="Always", always_open=True, is_default=True
    )
    fields = {
        "organization": org,
        "name": "Gold",
        "resolution_minutes": {"1": 480, "2": 480, "3": 480},
        "calendar": calendar,
    }
    fields.update(extra)
    return Definition.objects.create(**fields)


def open_incident(cast, *, at=T0, title="Mail is down", **extra):
    fields = {
        "acting_user": cast.agent,
        "organization": cast.org_a,
        "title": title,
        "impact": 2,
        "urgency": 2,  # P3
        "assignment_group": cast.team_a,
        "assignee": cast.agent,
        "opened_at": at,
    }
    fields.update(extra)
    incident = actions.create_incident(**fields)
    replay(incident, at)
    return incident


def replay(incident, now):
    """What the receiver does after each change (tests do not run on-commit callbacks)."""
    recompute_incidents(
        incidents_for_recompute(type(incident).objects.filter(pk=incident.pk)), now=now
    )


def events(incident):
    return [
        (e.kind, e.threshold, e.at)
        for e in ClockEvent.objects.filter(clock__subject_id=incident.pk).order_by(
            "at", "threshold"
        )
    ]


def sla_entries(incident):
    return list(
        Activity.objects.filter(
            subject_type="incident", subject_id=incident.pk, kind="sla"
        ).order_by("at", "id")
    )


pytestmark = pytest.mark.django_db


def test_warnings_and_breach_are_recorded_at_the_time_they_were_crossed(cast):
    setup_sla(cast.org_a)
    incident = open_incident(cast)
    clock = Clock.objects.get(subject_id=incident.pk, metric="resolution")
    assert clock.next_check_at == T0 + 4 * H  # the first warning

    assert sweep(T0 + 4 * H - timedelta(seconds=1)).events == []
    result = sweep(T0 + 4 * H)
    assert (result.warnings, result.breaches) == (1, 0)
    assert events(incident) == [("warning", 50, T0 + 4 * H)]
    clock.refresh_from_db()
    assert clock.next_check_at == T0 + 6 * H

    sweep(T0 + 6 * H + timedelta(minutes=5))
    sweep(T0 + 7 * H + timedelta(minutes=30))
    result = sweep(T0 + 8 * H)
    assert result.breaches == 1
    assert events(incident) == [
        ("warning", 50, T0 + 4 * H),
        ("warning", 75, T0 + 6 * H),
        ("warning", 90, T0 + timedelta(hours=7, minutes=12)),
        ("breach", 100, T0 + 8 * H),
    ]
    clock.refresh_from_db()
    assert clock.next_check_at is None
    assert clock.breached and clock.breached_at == T0 + 8 * H

    entries = sla_entries(incident)
    assert [e.at for e in entries] == [e[2] for e in events(incident)]
    assert entries[1].body == "SLA warning: 75 % of P3 resolution used, due 17:00 (Gold)"
    assert entries[1].data["event"] == "warning" and entries[1].data["threshold"] == 75
    assert datetime.fromisoformat(entries[1].data["due_at"]) == T0 + 8 * H
    assert entries[-1].body == (
        "SLA breached: the P3 resolution target of 8 h ran out at 17:00 (Gold)"
    )
    assert entries[-1].actor_name == "OpsDesk"


def test_a_late_sweep_records_every_crossing_once_at_its_own_time(cast):
    setup_sla(cast.org_a)
    incident = open_incident(cast)
    result = sweep(T0 + 30 * H)  # the sweep was down all night
    assert (result.warnings, result.breaches) == (3, 1)
    assert [e[2] for e in events(incident)] == [
        T0 + 4 * H,
        T0 + 6 * H,
        T0 + timedelta(hours=7, minutes=12),
        T0 + 8 * H,
    ]
    # Only the last one mails anybody: the earlier ones are superseded.
    assert [e.data["superseded"] for e in sla_entries(incident)] == [True, True, True, False]


def test_sweeping_twice_records_nothing_new(cast):
    setup_sla(cast.org_a)
    incident = open_incident(cast)
    first = sweep(T0 + 9 * H)
    assert len(first.events) == 4
    again = sweep(T0 + 9 * H)
    assert again.events == [] and again.clocks == 0
    # Even a clock whose next check was put back (a recompute) records nothing twice.
    Clock.objects.filter(subject_id=incident.pk).update(next_check_at=T0)
    third = sweep(T0 + 10 * H)
    assert third.clocks == 1 and third.events == []
    assert len(events(incident)) == 4 and len(sla_entries(incident)) == 4
    assert Clock.objects.get(subject_id=incident.pk).next_check_at is None


def test_a_paused_clock_does_not_warn(cast):
    setup_sla(cast.org_a)
    incident = open_incident(cast)
    actions.transition_incident(
        acting_user=cast.agent,
        incident=incident,
        transition="hold",
        hold_reason="awaiting_requester",
        at=T0 + H,
    )
    replay(incident, T0 + H)
    clock = Clock.objects.get(subject_id=incident.pk)
    assert clock.status == "paused" and clock.next_check_at is None
    # Even when asked to look (a stale next check), the replay says nothing was crossed.
    Clock.objects.filter(pk=clock.pk).update(next_check_at=T0)
    result = sweep(T0 + 48 * H)
    assert result.clocks == 1 and result.events == []
    assert events(incident) == []
    assert Clock.objects.get(pk=clock.pk).next_check_at is None


def test_a_ticket_resolved_between_sweeps_gets_its_breach_once_without_escalation(
    cast, django_user_model
):
    from opsdesk.core.testing.factories import TeamFactory

    other = TeamFactory(organization=cast.org_a, name="Network", slug="network")
    setup_sla(
        cast.org_a,
        escalations=[
            {"at": 100, "action": "reassign", "team": other.pk},
            {"at": 90, "action": "raise_priority"},
        ],
    )
    incident = open_incident(cast)
    sweep(T0 + 5 * H)  # 50 %
    actions.transition_incident(
        acting_user=cast.agent, incident=incident, transition="start", at=T0 + 5 * H
    )
    actions.transition_incident(
        acting_user=cast.agent,
        incident=incident,
        transition="resolve",
        resolution_code="solved_permanently",
        resolution_notes="Restarted the mail server.",
        at=T0 + 9 * H,
    )
    replay(incident, T0 + 9 * H)
    clock = Clock.objects.get(subject_id=incident.pk)
    assert clock.status == "stopped" and clock.next_check_at == T0 + 6 * H
    result = sweep(T0 + 10 * H)
    assert (result.warnings, result.breaches, result.escalations) == (2, 1, 0)
    assert events(incident)[-1] == ("breach", 100, T0 + 8 * H)
    assert all(e.actions == [] for e in ClockEvent.objects.filter(clock=clock))
    incident.refresh_from_db()
    assert incident.assignment_group_id == cast.team_a.pk and incident.priority == 3
    assert sweep(T0 + 11 * H).events == []
    assert Clock.objects.get(pk=clock.pk).next_check_at is None


def test_the_sweep_is_registered_to_run_every_minute():
    import opsdesk.sla.tasks

    job = periodic.REGISTRY[opsdesk.sla.tasks.sla_sweep_task.name]
    assert job.every == timedelta(seconds=60)


def test_the_task_runs_the_sweep(cast, monkeypatch):
    from opsdesk.sla import tasks

    setup_sla(cast.org_a)
    incident = open_incident(cast)
    monkeypatch.setattr("django.utils.timezone.now", lambda: T0 + 5 * H)
    out = tasks.sla_sweep_task.call()
    assert out["warnings"] == 1 and out["breaches"] == 0
    assert events(incident) == [("warning", 50, T0 + 4 * H)]


# --- two sweepers at once ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_record_each_event_exactly_once(cast):
    setup_sla(cast.org_a, escalations=[{"at": 75, "action": "raise_priority"}])
    from opsdesk.servicedesk import timeline

    with timeline.silenced():  # committed for real here: no mail for the set-up
        incidents = [open_incident(cast, title=f"Ticket {n}") for n in range(6)]
    now = T0 + 9 * H
    if connection.vendor == "postgresql":
        barrier = threading.Barrier(2)
        results, errors = [], []

        def worker():
            try:
                barrier.wait(timeout=30)
                results.append(sweep(now, batch=2))
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        assert len(results) == 2
    else:  # SQLite serialises writers: two sweeps one after the other
        results = [sweep(now, batch=2), sweep(now, batch=2)]
    recorded = sum(len(r.events) for r in results)
    assert recorded == 6 * 4
    assert ClockEvent.objects.count() == 6 * 4
    for incident in incidents:
        assert len(events(incident)) == 4
        assert len(sla_entries(incident)) == 4
        # The 75 % escalation raised the priority once, not twice.
        incident.refresh_from_db()
        assert incident.priority == 2 and incident.urgency == 1
        raised = Activity.objects.filter(
            subject_type="incident", subject_id=incident.pk, kind="field"
        )
        assert raised.count() == 1
