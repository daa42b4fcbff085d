"""Escalations performed by the sweep: notify, reassign, raise priority; audited, on the
timeline, recorded on the event, and mailed through the notify app."""

from __future__ import annotations

import pytest
from django.test import TestCase

from opsdesk.core.models import AuditRecord
from opsdesk.core.testing.factories import TeamFactory
from opsdesk.notify.choices import Event
from opsdesk.notify.models import Notification
from opsdesk.notify.rendering import render
from opsdesk.servicedesk.models import Activity
from opsdesk.sla import escalations
from opsdesk.sla.models import ClockEvent
from opsdesk.sla.sweep import sweep
from opsdesk.sla.tests.test_sweep import T0, H, open_incident, setup_sla

pytestmark = pytest.mark.django_db


def commits():
    return TestCase.captureOnCommitCallbacks(execute=True)


@pytest.fixture
def network(cast):
    team = TeamFactory(organization=cast.org_a, name="Network", slug="network")
    team.members.add(cast.admin)
    return team


def test_escalations_notify_raise_priority_and_reassign(cast, network):
    cast.team_a.manager = cast.manager
    cast.team_a.save()
    setup_sla(
        cast.org_a,
        escalations=[
            {"at": 50, "action": "notify", "to": "group_manager"},
            {"at": 75, "action": "raise_priority"},
            {"at": 100, "action": "reassign", "team": network.pk},
            {"at": 100, "action": "notify", "to": ["requester", f"user:{cast.auditor.pk}"]},
        ],
    )
    incident = open_incident(cast, requester=cast.requester)

    # 50 %: the assignee and the team's manager hear about it.
    with commits():
        sweep(T0 + 4 * H)
    warning = ClockEvent.objects.get(threshold=50)
    assert warning.actions == [
        {
            "action": "notify",
            "to": ["group_manager"],
            "users": [cast.manager.pk],
            "names": ["Mandla Manager"],
            "done": True,
        }
    ]
    mailed = Notification.objects.filter(event=Event.SLA_WARNING)
    assert sorted(n.recipient_id for n in mailed) == sorted([cast.agent.pk, cast.manager.pk])
    note = mailed.get(recipient=cast.manager)
    assert note.subject.endswith("SLA warning: Mail is down")
    assert "SLA warning: 50 % of P3 resolution used, due 17:00 (Gold)" in note.body

    # 75 %: one step more urgent (urgency 2 -> 1 makes P2 in the matrix), by OpsDesk.
    with commits():
        sweep(T0 + 6 * H)
    incident.refresh_from_db()
    assert (incident.priority, incident.urgency, incident.impact) == (2, 1, 2)
    raised = ClockEvent.objects.get(threshold=75).actions
    assert raised[0]["action"] == "raise_priority" and raised[0]["done"] is True
    assert (raised[0]["from"], raised[0]["to"]) == (3, 2)
    entry = Activity.objects.get(subject_id=incident.pk, kind="field")
    assert entry.actor_id is None and entry.actor_name == "OpsDesk"
    assert entry.data["changes"]["priority"] == [3, 2]
    assert entry.data["sla_escalation"]["threshold"] == 75
    assert entry.at == T0 + 6 * H
    audit = AuditRecord.objects.filter(
        object_type="servicedesk.incident", object_id=str(incident.pk), action="update"
    ).latest("id")
    assert audit.changes["priority"] == [3, 2] and audit.actor_id is None

    # Breach: reassigned to Network, the requester and the auditor told, and who else.
    with commits():
        sweep(T0 + 8 * H)
    incident.refresh_from_db()
    assert incident.assignment_group_id == network.pk and incident.assignee_id is None
    assert incident.reassignment_count == 1
    breach = ClockEvent.objects.get(kind="breach")
    by_action = {a["action"]: a for a in breach.actions}
    assert by_action["reassign"]["done"] and by_action["reassign"]["team_name"] == "Network"
    assert by_action["reassign"]["from_group"] == "Service Desk A"
    assert by_action["notify"]["users"] == [cast.requester.pk, cast.auditor.pk]
    assigned = Activity.objects.filter(subject_id=incident.pk, kind="assigned").latest("id")
    assert assigned.data["group_id"] == network.pk and assigned.data["sla_escalation"]
    breached = Notification.objects.filter(event=Event.SLA_BREACH)
    # Planned when the entry committed, after the reassignment: the new team (no assignee)
    # plus its manager (none) and the people the escalation named.
    assert {n.recipient_id for n in breached} == {cast.admin.pk, cast.requester.pk, cast.auditor.pk}
    # The new team also hears it was assigned to them.
    assert Notification.objects.filter(event=Event.ASSIGNED, recipient=cast.admin).exists()


def test_a_superseded_warning_mails_nobody(cast):
    setup_sla(cast.org_a)
    open_incident(cast)
    with commits():
        sweep(T0 + 7 * H)  # 50 and 75 % at once: only the 75 % warning is mailed
    mails = Notification.objects.filter(event=Event.SLA_WARNING)
    assert mails.count() == 1 and "75 %" in mails.get().body


def test_escalations_of_a_clock_that_is_not_live_are_not_performed(cast, network):
    setup_sla(cast.org_a, escalations=[{"at": 50, "action": "reassign", "team": network.pk}])
    incident = open_incident(cast)
    from opsdesk.servicedesk import actions

    actions.transition_incident(
        acting_user=cast.agent,
        incident=incident,
        transition="cancel",
        reason="Duplicate",
        at=T0 + 5 * H,
    )
    from opsdesk.sla.tests.test_sweep import replay

    replay(incident, T0 + 5 * H)
    assert sweep(T0 + 6 * H).warnings == 1  # 50 % was crossed before the cancel
    incident.refresh_from_db()
    assert incident.assignment_group_id == cast.team_a.pk
    assert ClockEvent.objects.get().actions == []


def test_raise_priority_steps_urgency_then_impact_and_stops_at_p1(cast):
    setup_sla(cast.org_a)
    incident = open_incident(cast, impact=2, urgency=1)  # P2
    event = _event(incident)
    done = escalations.raise_priority(incident, event, {"action": "raise_priority"})
    assert done["done"] and (incident.impact, incident.urgency, incident.priority) == (1, 1, 1)
    again = escalations.raise_priority(incident, event, {"action": "raise_priority"})
    assert again == {
        "action": "raise_priority",
        "done": False,
        "reason": "Already the highest priority.",
    }


def test_a_failing_escalation_is_recorded_and_the_others_still_run(cast, network):
    setup_sla(cast.org_a)
    incident = open_incident(cast)
    event = _event(incident)
    done = escalations.perform(
        incident,
        event,
        [
            {"at": 50, "action": "reassign", "team": 999999},
            {"at": 50, "action": "reassign", "team": cast.team_b.pk},  # another organisation
            {"at": 50, "action": "raise_priority"},
        ],
        T0 + 4 * H,
    )
    assert [d["done"] for d in done] == [False, False, True]
    assert done[0]["reason"] == "No such team in this organisation."
    incident.refresh_from_db()
    assert incident.assignment_group_id == cast.team_a.pk and incident.priority == 2


def test_notify_targets_are_members_of_the_organisation_only(cast):
    setup_sla(cast.org_a)
    incident = open_incident(cast, requester=cast.requester)
    ids, missing = escalations.notify_recipients(
        incident,
        {
            "action": "notify",
            "to": [
                "assignee",
                "group",
                "requester",
                f"user:{cast.admin_b.pk}",
                "group_manager",
                "boss",
            ],
        },
    )
    assert ids == [cast.agent.pk, cast.manager.pk, cast.requester.pk]
    assert missing == [
        f"user:{cast.admin_b.pk}: nobody",
        "group_manager: nobody",
        "boss: unknown target",
    ]


def test_sla_templates_render_and_are_editable_events(cast):
    subject, body = render(
        cast.org_a.pk,
        Event.SLA_BREACH,
        "email",
        {
            "number": "INC0000042",
            "title": "Mail is down",
            "priority": "P2 - High",
            "comment": "SLA breached: the P2 resolution target of 8 h ran out at 17:00 (Gold)",
            "group": "Service Desk A",
            "url": "https://opsdesk.example/desk/incidents/42/",
        },
    )
    assert subject == "SLA breached: Mail is down"
    assert "ran out at 17:00" in body and "Assigned to Service Desk A." in body
    assert Event.SLA_WARNING in Event.values


def _event(incident):
    from opsdesk.sla.models import Clock

    clock = Clock.objects.get(subject_id=incident.pk)
    return ClockEvent.objects.create(
        organization_id=incident.organization_id,
        clock=clock,
        kind="warning",
        threshold=50,
        at=T0 + 4 * H,
    )
