"""CAB meetings: planning, the agenda built from changes awaiting the board, decisions that
drive the change through the approvals engine, and the minutes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from opsdesk.changes import approvals as engine
from opsdesk.changes import cab
from opsdesk.changes.choices import ApprovalState, CabDecision, CabState, ChangeState
from opsdesk.changes.models import Approval, CabAgendaItem
from opsdesk.changes.tests.approvals_helpers import emergency, person, policy, to_authorise
from opsdesk.changes.tests.factories import when
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied

pytestmark = pytest.mark.django_db


def _meeting(cast, kind="cab", **fields):
    fields.setdefault("members", [cast.agent])
    return cab.create_meeting(
        acting_user=cast.manager,
        organization=cast.org_a,
        title=fields.pop("title", "Weekly CAB"),
        starts_at=when(1, 14),
        ends_at=when(1, 15),
        kind=kind,
        **fields,
    )


def _cab_policy(cast):
    return policy(
        cast, "CAB for normal changes", [{"approver_kind": "cab"}], change_types=["normal"]
    )


def _risk(change, risk_class):
    change.risk_class = risk_class
    change.save()


def test_a_meeting_needs_times_and_a_chair_who_can_decide(cast):
    m = _meeting(cast)
    assert m.number.startswith("CAB") and m.chair == cast.manager and m.state == CabState.PLANNED
    with pytest.raises(FieldError) as err:
        cab.create_meeting(
            acting_user=cast.manager,
            organization=cast.org_a,
            title="Backwards",
            starts_at=when(1, 15),
            ends_at=when(1, 14),
        )
    assert "ends_at" in err.value.errors
    with pytest.raises(FieldError) as err:
        _meeting(cast, members=[cast.requester])
    assert "member_ids" in err.value.errors
    with pytest.raises(PermissionDenied):
        cab.create_meeting(
            acting_user=cast.requester,
            organization=cast.org_a,
            title="x",
            starts_at=when(1, 14),
            ends_at=when(1, 15),
        )


def test_the_agenda_takes_changes_awaiting_the_cab_ordered_by_risk_then_start(cast):
    _cab_policy(cast)
    late_high = to_authorise(cast, title="Late high", planned_start=when(6))
    early_low = to_authorise(cast, title="Early low", planned_start=when(2))
    early_high = to_authorise(cast, title="Early high", planned_start=when(4))
    _risk(late_high, "high")
    _risk(early_low, "low")
    _risk(early_high, "high")
    not_cab = to_authorise(cast, title="Manager only", change_type="normal")  # also CAB here
    for row in Approval.objects.filter(change=not_cab):
        row.cab, row.approver = False, cast.manager
        row.save()
    m = _meeting(cast)
    added = cab.build_agenda(acting_user=cast.manager, meeting=m)
    assert [i.change.title for i in cab.agenda(m)] == ["Early high", "Late high", "Early low"]
    assert len(added) == 3
    assert cab.build_agenda(acting_user=cast.manager, meeting=m) == []  # nothing twice
    cab.build_agenda(acting_user=cast.manager, meeting=m, include_authorise=True)
    assert "Manager only" in [i.change.title for i in cab.agenda(m)]
    assert [i.position for i in cab.agenda(m)] == [1, 2, 3, 4]


def test_an_emergency_cab_takes_emergency_changes_only(cast):
    _cab_policy(cast)
    normal = to_authorise(cast, title="Normal")
    urgent = emergency(cast, change_manager=cast.manager)
    ecab = _meeting(cast, kind="ecab", title="ECAB")
    cab.build_agenda(acting_user=cast.manager, meeting=ecab)
    assert [i.change for i in cab.agenda(ecab)] == [urgent]
    weekly = _meeting(cast)
    cab.build_agenda(acting_user=cast.manager, meeting=weekly)
    assert {i.change for i in cab.agenda(weekly)} == {normal, urgent}


def test_a_cab_approval_is_decided_in_the_meeting_and_schedules_the_change(cast):
    _cab_policy(cast)
    c = to_authorise(cast)
    [approval] = engine.outstanding(c)
    assert approval.cab and approval.approver is None
    with pytest.raises(Conflict) as err:
        engine.approve(acting_user=cast.manager, approval=approval)
    assert err.value.field == "cab"
    m = _meeting(cast)
    cab.build_agenda(acting_user=cast.manager, meeting=m)
    [item] = cab.agenda(m)
    with pytest.raises(Conflict) as err:  # not started yet
        cab.record_decision(acting_user=cast.manager, item=item, decision="approved")
    assert err.value.field == "state"
    cab.start_meeting(acting_user=cast.manager, meeting=m)
    with pytest.raises(PermissionDenied):  # neither chair nor member
        cab.record_decision(acting_user=cast.admin, item=item, decision="approved")
    cab.record_decision(
        acting_user=cast.manager, item=item, decision="approved", notes="Low blast radius"
    )
    c.refresh_from_db()
    assert c.state == ChangeState.SCHEDULED
    approval.refresh_from_db()
    assert approval.state == ApprovalState.APPROVED and approval.decided_by == cast.manager
    item.refresh_from_db()
    assert item.decision == CabDecision.APPROVED and item.decided_by == cast.manager
    with pytest.raises(Conflict):
        cab.record_decision(acting_user=cast.manager, item=item, decision="rejected", notes="x")


def test_the_board_rejects_with_notes_and_the_change_goes_back_to_new(cast):
    _cab_policy(cast)
    c = to_authorise(cast)
    m = _meeting(cast)
    cab.build_agenda(acting_user=cast.manager, meeting=m)
    cab.start_meeting(acting_user=cast.manager, meeting=m)
    [item] = cab.agenda(m)
    with pytest.raises(FieldError) as err:
        cab.record_decision(acting_user=cast.agent, item=item, decision="rejected")
    assert "notes" in err.value.errors
    with pytest.raises(FieldError) as err:
        cab.record_decision(acting_user=cast.agent, item=item, decision="maybe")
    assert "decision" in err.value.errors
    cab.record_decision(
        acting_user=cast.agent, item=item, decision="rejected", notes="Clashes with payroll"
    )
    c.refresh_from_db()
    assert c.state == ChangeState.NEW


def test_deferred_items_wait_for_the_next_meeting_and_completion_defers_the_rest(cast):
    _cab_policy(cast)
    first, second = to_authorise(cast, title="First"), to_authorise(cast, title="Second")
    m = _meeting(cast)
    cab.build_agenda(acting_user=cast.manager, meeting=m)
    cab.start_meeting(acting_user=cast.manager, meeting=m)
    item = CabAgendaItem.objects.get(meeting=m, change=first)
    cab.record_decision(acting_user=cast.manager, item=item, decision="deferred", notes="Ask DBA")
    first.refresh_from_db()
    assert first.state == ChangeState.AUTHORISE and engine.outstanding(first)
    cab.complete_meeting(acting_user=cast.manager, meeting=m)
    other = CabAgendaItem.objects.get(meeting=m, change=second)
    assert other.decision == CabDecision.DEFERRED and other.decision_notes == cab.NOT_REACHED
    minutes = cab.minutes(m)
    assert minutes["counts"]["deferred"] == 2
    with pytest.raises(Conflict):
        cab.build_agenda(acting_user=cast.manager, meeting=m)
    nxt = _meeting(cast, title="Next CAB")
    cab.build_agenda(acting_user=cast.manager, meeting=nxt)
    assert {i.change for i in cab.agenda(nxt)} == {first, second}


def test_a_change_that_left_authorise_can_no_longer_be_decided(cast):
    _cab_policy(cast)
    c = to_authorise(cast)
    m = _meeting(cast)
    cab.build_agenda(acting_user=cast.manager, meeting=m)
    cab.start_meeting(acting_user=cast.manager, meeting=m)
    from opsdesk.changes import actions

    actions.transition_change(acting_user=cast.agent, change=c, name="revise", reason="Redo")
    [item] = cab.agenda(m)
    assert not cab.item_status(item)["open"]
    with pytest.raises(Conflict):
        cab.record_decision(acting_user=cast.manager, item=item, decision="approved")


def test_advice_on_a_change_without_a_cab_approval_is_recorded_only(cast):
    c = to_authorise(cast, change_manager=cast.manager)  # default plan: the change manager
    m = _meeting(cast)
    cab.build_agenda(acting_user=cast.manager, meeting=m, include_authorise=True)
    cab.start_meeting(acting_user=cast.manager, meeting=m)
    [item] = cab.agenda(m)
    cab.record_decision(acting_user=cast.agent, item=item, decision="approved", notes="Go")
    c.refresh_from_db()
    assert c.state == ChangeState.AUTHORISE  # the change manager still decides
    assert engine.outstanding(c)[0].approver == cast.manager


def test_the_chair_may_not_approve_a_change_they_requested(cast):
    _cab_policy(cast)
    c = to_authorise(cast, user=cast.manager)
    m = _meeting(cast)
    cab.build_agenda(acting_user=cast.manager, meeting=m)
    cab.start_meeting(acting_user=cast.manager, meeting=m)
    [item] = cab.agenda(m)
    with pytest.raises(PermissionDenied):
        cab.record_decision(acting_user=cast.manager, item=item, decision="approved")
    cab.record_decision(acting_user=cast.agent, item=item, decision="approved")
    c.refresh_from_db()
    assert c.state == ChangeState.SCHEDULED


def test_meeting_states_and_updates(cast):
    m = _meeting(cast)
    cab.update_meeting(
        acting_user=cast.agent, meeting=m, title="Renamed", members=[cast.agent, cast.admin]
    )
    assert m.title == "Renamed" and m.members.count() == 2
    with pytest.raises(FieldError):
        cab.update_meeting(
            acting_user=cast.manager, meeting=m, ends_at=m.starts_at - timedelta(minutes=5)
        )
    with pytest.raises(Conflict):
        cab.complete_meeting(acting_user=cast.manager, meeting=m)
    cab.start_meeting(acting_user=cast.manager, meeting=m)
    cab.complete_meeting(acting_user=cast.manager, meeting=m)
    with pytest.raises(Conflict):
        cab.update_meeting(acting_user=cast.manager, meeting=m, title="Too late")
    cab.update_meeting(acting_user=cast.manager, meeting=m, notes="Minutes: two items deferred")
    assert m.notes.startswith("Minutes")
    outsider = person(cast, "Olu Outsider")
    other = _meeting(cast, title="Other")
    with pytest.raises(PermissionDenied):
        cab.start_meeting(acting_user=outsider, meeting=other)
    cab.cancel_meeting(acting_user=cast.manager, meeting=other)
    assert other.state == CabState.CANCELLED
