"""The incident stage: an alert group opens, updates and resolves one incident."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from opsdesk.changes.tests.factories import topology
from opsdesk.core import periodic
from opsdesk.events import pipeline, tasks
from opsdesk.events.choices import GroupState
from opsdesk.events.models import AlertGroup, CorrelationSettings
from opsdesk.events.stages import incident as stage
from opsdesk.events.tests.group_helpers import alert, batch_for, group
from opsdesk.servicedesk import actions as desk
from opsdesk.servicedesk.choices import ActivityKind, Channel, IncidentState, SubjectType
from opsdesk.servicedesk.models import Activity, Incident, ServiceDeskSettings

pytestmark = pytest.mark.django_db

ONLY = ("incident",)


def _run(batch: pipeline.Batch) -> pipeline.Batch:
    return pipeline.run(batch, only=ONLY)


def _notes(incident: Incident) -> list[Activity]:
    return list(
        Activity.objects.filter(
            subject_type=SubjectType.INCIDENT, subject_id=incident.pk, kind=ActivityKind.WORK_NOTE
        ).order_by("id")
    )


@pytest.fixture
def cis(cast):
    found = topology(cast.org_a)
    found["db"].support_team = cast.team_a
    found["db"].save()
    return found


# --- the priority grid -------------------------------------------------------------------------

#: Priority with the default ITIL matrix, tier rows x (critical, major, minor, warning, info).
EXPECTED = {
    1: (1, 2, 3, 3, 3),
    2: (2, 3, 4, 4, 4),
    3: (3, 4, 5, 5, 5),
    4: (3, 4, 5, 5, 5),
    None: (3, 4, 5, 5, 5),
}


@pytest.mark.parametrize("tier", [1, 2, 3, 4, None])
def test_priority_grid_is_tier_by_severity(cast, tier):
    settings = ServiceDeskSettings.for_org(cast.org_a.pk)
    got = tuple(
        settings.priority_for(*stage.impact_urgency(tier, sev))
        for sev in ("critical", "major", "minor", "warning", "info")
    )
    assert got == EXPECTED[tier]


def test_severity_threshold():
    assert stage.at_least("critical", "warning")
    assert stage.at_least("warning", "warning")
    assert not stage.at_least("info", "warning")


# --- open ----------------------------------------------------------------------------------------


def test_open_group_opens_one_incident(cast, cis):
    g = group(
        cast.org_a,
        {"title": "Replication lag on bank-db", "severity": "critical", "ci": cis["db"]},
        {"title": "5xx on bank-app", "severity": "major", "ci": cis["app"]},
        service=cis["banking"],
        title="bank-db replication lag",
    )
    _run(batch_for(cast.org_a, opened=(g,)))
    g.refresh_from_db()
    inc = g.incident
    assert inc is not None
    assert inc.channel == Channel.EVENT
    assert inc.service == cis["banking"] and inc.ci == cis["db"]
    assert (inc.impact, inc.urgency, inc.priority) == (1, 1, 1)  # tier 1 x critical
    assert inc.assignment_group == cast.team_a  # the CI's support team
    assert inc.opened_by is None and inc.title == "bank-db replication lag"
    created = Activity.objects.get(
        subject_type=SubjectType.INCIDENT, subject_id=inc.pk, kind=ActivityKind.CREATED
    )
    assert created.actor_name == pipeline.SYSTEM_ACTOR
    assert "Replication lag on bank-db" in inc.description
    assert _notes(inc)[0].data["severity"] == "critical"


def test_root_cause_candidate_is_the_incident_ci(cast, cis):
    g = group(cast.org_a, {"ci": cis["app"]}, service=cis["banking"])
    g.root_causes = [{"ci_id": cis["db_srv"].pk, "ci": "db-srv-01", "score": 0.9}]
    g.save()
    _run(batch_for(cast.org_a, opened=(g,)))
    g.refresh_from_db()
    assert g.incident.ci == cis["db_srv"]


def test_below_threshold_or_switched_off_opens_nothing(cast, cis):
    low = group(cast.org_a, {"severity": "info"}, service=cis["banking"])
    _run(batch_for(cast.org_a, opened=(low,)))
    high = group(cast.org_a, {"severity": "critical"}, service=cis["banking"])
    _run(batch_for(cast.org_a, opened=(high,), open_incidents=False))
    assert Incident.objects.count() == 0
    _run(batch_for(cast.org_a, opened=(low,), incident_min_severity="info"))
    low.refresh_from_db()
    assert low.incident is not None and low.incident.priority == 3  # tier 1 x info


def test_team_falls_back_to_settings_then_desk_default(cast, cis):
    other = cast.team_a.__class__.objects.create(
        organization=cast.org_a, name="Monitoring", slug="monitoring"
    )
    g = group(cast.org_a, {"ci": cis["app"]}, service=cis["banking"])
    _run(batch_for(cast.org_a, opened=(g,), incident_team=other))
    g.refresh_from_db()
    assert g.incident.assignment_group == other
    desk_settings = ServiceDeskSettings.for_org(cast.org_a.pk)
    desk_settings.default_team = cast.team_a
    desk_settings.save()
    g2 = group(cast.org_a, {"ci": cis["app"]}, service=cis["banking"])
    _run(batch_for(cast.org_a, opened=(g2,)))
    g2.refresh_from_db()
    assert g2.incident.assignment_group == cast.team_a


def test_batch_applied_twice_opens_one_incident(cast, cis):
    g = group(cast.org_a, {"severity": "major"}, service=cis["banking"])
    _run(batch_for(cast.org_a, opened=(g,)))
    _run(batch_for(cast.org_a, opened=(g,)))
    assert Incident.objects.count() == 1
    g.refresh_from_db()
    assert AlertGroup.objects.get(pk=g.pk).incident_id == Incident.objects.get().pk


def test_rolled_back_batch_leaves_no_incident_and_the_retry_opens_one(cast, cis):
    g = group(cast.org_a, {"severity": "major"}, service=cis["banking"])
    with pytest.raises(RuntimeError), transaction.atomic():
        _run(batch_for(cast.org_a, opened=(g,)))
        assert Incident.objects.count() == 1
        raise RuntimeError("worker died")
    assert Incident.objects.count() == 0
    assert AlertGroup.objects.get(pk=g.pk).incident_id is None
    _run(batch_for(cast.org_a, opened=(g,)))
    _run(batch_for(cast.org_a, opened=(g,)))
    assert Incident.objects.count() == 1


def test_other_organisations_groups_are_not_touched(cast, cis):
    b_group = group(cast.org_b, {"severity": "critical"})
    batch = batch_for(cast.org_a)
    batch.groups_opened = batch.groups_touched = {b_group.pk}
    _run(batch)
    assert Incident.objects.count() == 0


# --- update ---------------------------------------------------------------------------------------


def test_growth_writes_one_note_per_batch_and_worse_severity_raises_priority(cast, cis):
    g = group(cast.org_a, {"severity": "minor", "ci": cis["app"]}, service=cis["banking"])
    _run(batch_for(cast.org_a, opened=(g,)))
    g.refresh_from_db()
    inc = g.incident
    assert inc.priority == 3  # tier 1 x minor
    new = [
        alert(cast.org_a, f"Disk full on node-{i}", group=g, severity="critical") for i in range(12)
    ]
    from opsdesk.events.group_actions import recount

    recount(g)
    _run(batch_for(cast.org_a, touched=(g,), new_alerts=tuple(new)))
    inc.refresh_from_db()
    notes = _notes(inc)
    assert len(notes) == 2  # the opening note and one for the batch
    body = notes[-1].body
    assert "12 alert(s) fired" in body and "and 2 more" in body
    assert "Severity rose from minor to critical" in body
    assert inc.priority == 1 and (inc.impact, inc.urgency) == (1, 1)
    # A batch that only repeats what is known writes nothing.
    _run(batch_for(cast.org_a, touched=(g,)))
    assert len(_notes(inc)) == 2


def test_lower_severity_never_lowers_priority(cast, cis):
    g = group(cast.org_a, {"severity": "critical"}, service=cis["banking"])
    _run(batch_for(cast.org_a, opened=(g,)))
    g.refresh_from_db()
    AlertGroup.objects.filter(pk=g.pk).update(severity="minor")
    more = alert(cast.org_a, "late", group=g, severity="minor")
    _run(batch_for(cast.org_a, touched=(g,), new_alerts=(more,)))
    g.incident.refresh_from_db()
    assert g.incident.priority == 1


# --- resolve ----------------------------------------------------------------------------------------


def _resolve_all(g: AlertGroup, at=None) -> None:
    at = at or timezone.now()
    g.alerts.update(status="resolved", last_seen=at)
    AlertGroup.objects.filter(pk=g.pk).update(last_event_at=at, firing_count=0)


def test_quiet_group_resolves_its_incident_after_the_wait(cast, cis):
    CorrelationSettings.objects.create(organization=cast.org_a, resolve_after_seconds=300)
    g = group(cast.org_a, {"severity": "major"}, service=cis["banking"])
    _run(batch_for(cast.org_a, opened=(g,)))
    now = timezone.now()
    _resolve_all(g, now)
    _run(batch_for(cast.org_a, touched=(g,), resolved=(g,), now=now))
    g.refresh_from_db()
    assert g.state == GroupState.OPEN and g.incident.state == IncidentState.NEW
    assert tasks.resolve_quiet(now + timedelta(seconds=200)) == 0
    assert tasks.resolve_quiet(now + timedelta(seconds=301)) == 1
    g.refresh_from_db()
    g.incident.refresh_from_db()
    assert g.state == GroupState.RESOLVED
    assert g.incident.state == IncidentState.RESOLVED
    assert g.incident.resolution_code in ServiceDeskSettings.for_org(cast.org_a.pk).resolution_codes
    assert g.incident.resolved_by is None
    assert tasks.resolve_quiet(now + timedelta(seconds=900)) == 0  # once


def test_no_wait_resolves_in_the_batch(cast, cis):
    g = group(cast.org_a, {"severity": "major"}, service=cis["banking"])
    _run(batch_for(cast.org_a, opened=(g,)))
    _resolve_all(g)
    _run(batch_for(cast.org_a, resolved=(g,), resolve_after_seconds=0))
    g.refresh_from_db()
    assert g.state == GroupState.RESOLVED and g.incident.state == IncidentState.RESOLVED


def test_firing_alert_keeps_the_group_open(cast, cis):
    g = group(cast.org_a, {"severity": "major"}, {"severity": "minor"}, service=cis["banking"])
    _run(batch_for(cast.org_a, opened=(g,)))
    g.alerts.filter(severity="minor").update(status="resolved")
    _run(batch_for(cast.org_a, resolved=(g,), resolve_after_seconds=0))
    g.refresh_from_db()
    assert g.state == GroupState.OPEN and g.incident.state == IncidentState.NEW


def test_incident_a_person_took_further_gets_a_note_instead(cast, cis):
    g = group(cast.org_a, {"severity": "major"}, service=cis["banking"])
    _run(batch_for(cast.org_a, opened=(g,)))
    g.refresh_from_db()
    inc = desk.transition_incident(acting_user=cast.agent, incident=g.incident, transition="start")
    _resolve_all(g)
    _run(batch_for(cast.org_a, resolved=(g,), resolve_after_seconds=0))
    inc.refresh_from_db()
    assert inc.state == IncidentState.IN_PROGRESS
    assert "left to its assignee" in _notes(inc)[-1].body


def test_assignment_by_a_person_does_not_stop_auto_resolution(cast, cis):
    g = group(cast.org_a, {"severity": "major"}, service=cis["banking"])
    _run(batch_for(cast.org_a, opened=(g,)))
    g.refresh_from_db()
    desk.assign_incident(
        acting_user=cast.agent,
        incident=g.incident,
        assignment_group=cast.team_a,
        assignee=cast.agent,
    )
    assert not stage.person_took_over(g.incident)
    _resolve_all(g)
    _run(batch_for(cast.org_a, resolved=(g,), resolve_after_seconds=0))
    g.incident.refresh_from_db()
    assert g.incident.state == IncidentState.RESOLVED


# --- reopen ----------------------------------------------------------------------------------------


def test_group_firing_again_reopens_the_incident_a_person_resolved(cast, cis):
    g = group(cast.org_a, {"severity": "major"}, service=cis["banking"])
    _run(batch_for(cast.org_a, opened=(g,)))
    g.refresh_from_db()
    desk.transition_incident(
        acting_user=cast.agent,
        incident=g.incident,
        transition="resolve",
        resolution_code="solved_permanently",
        resolution_notes="Restarted the database.",
    )
    again = alert(cast.org_a, "Replication lag again", group=g, severity="major")
    _run(batch_for(cast.org_a, touched=(g,), new_alerts=(again,)))
    g.refresh_from_db()
    assert Incident.objects.count() == 1
    assert g.incident.state == IncidentState.IN_PROGRESS
    assert g.incident.reopen_count == 1


def _group_resolved_ago(cast, cis, ago: timedelta) -> tuple[Any, Any]:
    """A group whose incident was resolved `ago` before now: (group, incident)."""
    g = group(cast.org_a, {"severity": "major"}, service=cis["banking"])
    _run(batch_for(cast.org_a, opened=(g,)))
    g.refresh_from_db()
    resolved = desk.transition_incident(
        acting_user=cast.agent,
        incident=g.incident,
        transition="resolve",
        resolution_code="solved_permanently",
        resolution_notes="Fixed.",
        at=timezone.now() - ago,
    )
    return g, resolved


def test_group_firing_long_after_opens_a_new_incident(cast, cis):
    g, first = _group_resolved_ago(cast, cis, timedelta(hours=1, minutes=5))
    _run(batch_for(cast.org_a, touched=(g,)))
    g.refresh_from_db()
    assert g.incident_id != first.pk and Incident.objects.count() == 2


def test_the_reopen_window_is_the_organisations_setting(cast, cis):
    g, first = _group_resolved_ago(cast, cis, timedelta(minutes=10))
    # Ten minutes ago is inside the default hour but outside a five-minute window.
    _run(batch_for(cast.org_a, touched=(g,), reopen_seconds=300))
    g.refresh_from_db()
    assert g.incident_id != first.pk and Incident.objects.count() == 2


def test_new_group_with_the_key_of_a_recently_resolved_one_reopens_its_incident(cast, cis):
    old = group(cast.org_a, {"severity": "major"}, service=cis["banking"], key="db-lag")
    _run(batch_for(cast.org_a, opened=(old,)))
    _resolve_all(old)
    _run(batch_for(cast.org_a, resolved=(old,), resolve_after_seconds=0))
    old.refresh_from_db()
    assert old.incident.state == IncidentState.RESOLVED
    new = group(cast.org_a, {"severity": "major"}, service=cis["banking"], key="db-lag")
    _run(batch_for(cast.org_a, opened=(new,)))
    new.refresh_from_db()
    assert new.incident_id == old.incident_id and Incident.objects.count() == 1
    assert new.incident.state == IncidentState.IN_PROGRESS


def test_cancelled_incident_is_not_reopened_or_replaced(cast, cis):
    g = group(cast.org_a, {"severity": "major"}, service=cis["banking"])
    _run(batch_for(cast.org_a, opened=(g,)))
    g.refresh_from_db()
    desk.transition_incident(
        acting_user=cast.agent, incident=g.incident, transition="cancel", reason="Test alert"
    )
    _run(batch_for(cast.org_a, touched=(g,)))
    assert Incident.objects.count() == 1


def test_periodic_job_is_registered():
    job = periodic.REGISTRY[tasks.resolve_quiet_groups_task.name]
    assert job.every == tasks.RESOLVE_EVERY


# --- the root cause's CI -------------------------------------------------------------------------


def test_incident_opens_on_the_ranked_root_cause(cast, cis):
    t0 = timezone.now() - timedelta(minutes=5)
    g = group(
        cast.org_a,
        {"title": "5xx on bank-app", "ci": cis["app"], "at": t0 + timedelta(seconds=40)},
        {"title": "Replication lag", "ci": cis["db"], "at": t0},
        service=cis["banking"],
        at=t0,
    )
    # As correlate leaves a new group: not ranked yet (root_cause runs after the incident).
    AlertGroup.objects.filter(pk=g.pk).update(root_causes=[])
    g.refresh_from_db()
    _run(batch_for(cast.org_a, opened=(g,)))
    g.refresh_from_db()
    assert g.root_causes, "ranked before the incident opened"
    assert g.incident.ci_id == g.root_causes[0]["ci_id"]


def test_incident_ci_follows_a_new_ranking_until_a_person_takes_over(cast, cis):
    g = group(cast.org_a, {"ci": cis["app"]}, service=cis["banking"])
    _run(batch_for(cast.org_a, opened=(g,)))
    AlertGroup.objects.filter(pk=g.pk).update(
        root_causes=[{"ci_id": cis["db_srv"].pk, "ci": "db-srv-01", "score": 0.9}]
    )
    more = alert(cast.org_a, "Disk latency", group=g, ci=cis["db_srv"])
    _run(batch_for(cast.org_a, touched=(g,), new_alerts=(more,)))
    g.refresh_from_db()
    assert g.incident.ci == cis["db_srv"]
    assert "likely cause is now db-srv-01" in _notes(g.incident)[-1].body
    desk.update_incident(acting_user=cast.agent, incident=g.incident, ci=cis["db"])
    AlertGroup.objects.filter(pk=g.pk).update(
        root_causes=[{"ci_id": cis["app_srv"].pk, "ci": "app-srv-01", "score": 0.9}]
    )
    again = alert(cast.org_a, "Disk latency 2", group=g, ci=cis["app_srv"])
    _run(batch_for(cast.org_a, touched=(g,), new_alerts=(again,)))
    g.incident.refresh_from_db()
    assert g.incident.ci == cis["db"]  # the person's choice stands
