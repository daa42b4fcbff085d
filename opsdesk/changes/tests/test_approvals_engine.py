"""The approvals engine: steps and quorum, self-approval, rejection, the authorise guard,
rounds, team members deciding, notifications through the timeline."""

from __future__ import annotations

import pytest

from opsdesk.changes import actions
from opsdesk.changes import approvals as engine
from opsdesk.changes.choices import ApprovalState, ChangeState
from opsdesk.changes.models import Approval
from opsdesk.changes.tests.approvals_helpers import person, policy, team, to_authorise
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.models import AuditRecord
from opsdesk.core.permissions import Role
from opsdesk.servicedesk.models import Activity

pytestmark = pytest.mark.django_db


def _entries(change, **data):
    qs = Activity.objects.filter(subject_type="change", subject_id=change.pk, kind="approval")
    return [a for a in qs.order_by("id") if all(a.data.get(k) == v for k, v in data.items())]


def test_default_normal_plan_asks_the_change_manager_and_authorises(cast):
    c = to_authorise(cast, change_manager=cast.manager)
    assert c.state == ChangeState.AUTHORISE
    [approval] = engine.outstanding(c)
    assert approval.approver == cast.manager and approval.step_name == "Change manager"
    assert approval.policy is None and approval.round == 1
    [asked] = _entries(c, event="requested")
    assert asked.data["approver_ids"] == [cast.manager.pk]  # what the notify app mails
    engine.approve(acting_user=cast.manager, approval=approval, comment="Fine by me")
    c.refresh_from_db()
    assert c.state == ChangeState.SCHEDULED
    approval.refresh_from_db()
    assert approval.state == ApprovalState.APPROVED and approval.decided_by == cast.manager
    assert AuditRecord.objects.filter(
        object_type="changes.approval", object_id=str(approval.pk), actor_email=cast.manager.email
    ).exists()
    authorised = Activity.objects.filter(
        subject_type="change", subject_id=c.pk, kind="state", data__transition="authorise"
    ).get()
    assert authorised.actor_name == "Approvals"


def test_without_a_change_manager_the_groups_manager_is_asked(cast):
    boss = person(cast, "Gugu Groupmanager", Role.MANAGER)
    group = team(cast, "Database", cast.agent)
    group.manager = boss
    group.save()
    c = to_authorise(cast, assignment_group=group)
    assert [a.approver for a in engine.outstanding(c)] == [boss]


def test_nobody_to_ask_refuses_the_request_naming_the_change_manager(cast):
    from opsdesk.changes.tests.factories import change

    c = change(cast)
    actions.transition_change(acting_user=cast.agent, change=c, name="assess")
    with pytest.raises(FieldError) as err:
        actions.transition_change(acting_user=cast.agent, change=c, name="request_authorisation")
    assert "change_manager_id" in err.value.errors
    c.refresh_from_db()
    assert c.state == ChangeState.ASSESS and not Approval.objects.filter(change=c).exists()


def test_steps_run_in_order_and_a_step_needs_its_quorum(cast):
    ann, ben, cara = (person(cast, n) for n in ("Ann Network", "Ben Network", "Cara Security"))
    network = team(cast, "Network", ann, ben, cast.agent)  # the requester is never asked
    policy(
        cast,
        "Two steps",
        [
            {"approver_kind": "team", "team": network, "quorum": 2},
            {"approver_kind": "users", "users": [cara], "name": "Security"},
        ],
    )
    c = to_authorise(cast)
    first = engine.outstanding(c)
    assert sorted(a.approver.full_name for a in first) == ["Ann Network", "Ben Network"]
    assert {a.step for a in first} == {1} and all(a.quorum == 2 for a in first)
    by_ann = next(a for a in first if a.approver == ann)
    engine.approve(acting_user=ann, approval=by_ann)
    assert len(engine.outstanding(c)) == 1  # Ben still to approve; Security not asked yet
    with pytest.raises(Conflict) as err:
        actions.transition_change(acting_user=cast.manager, change=c, name="authorise")
    assert err.value.field == "state" and "Ben Network" in err.value.detail
    engine.approve(acting_user=ben, approval=next(a for a in first if a.approver == ben))
    [security] = engine.outstanding(c)
    assert security.approver == cara and security.step == 2 and security.step_name == "Security"
    c.refresh_from_db()
    assert c.state == ChangeState.AUTHORISE
    engine.approve(acting_user=cara, approval=security)
    c.refresh_from_db()
    assert c.state == ChangeState.SCHEDULED


def test_reaching_the_quorum_skips_the_rest_of_the_step(cast):
    ann, ben = person(cast, "Ann One"), person(cast, "Ben Two")
    policy(cast, "Any one", [{"approver_kind": "users", "users": [ann, ben], "quorum": 1}])
    c = to_authorise(cast)
    rows = engine.outstanding(c)
    engine.approve(acting_user=ann, approval=next(a for a in rows if a.approver == ann))
    ben_row = Approval.objects.get(change=c, approver=ben)
    assert ben_row.state == ApprovalState.SKIPPED
    c.refresh_from_db()
    assert c.state == ChangeState.SCHEDULED
    with pytest.raises(Conflict):
        engine.approve(acting_user=ben, approval=ben_row)


def test_the_requester_may_not_approve_their_own_change(cast):
    policy(cast, "Managers", [{"approver_kind": "users", "users": [cast.manager, cast.agent]}])
    c = to_authorise(cast, user=cast.manager, change_manager=cast.agent)
    rows = engine.outstanding(c)
    assert [a.approver for a in rows] == [cast.agent]  # the manager raised it
    with pytest.raises(PermissionDenied):
        engine.approve(acting_user=cast.manager, approval=rows[0])
    with pytest.raises(PermissionDenied):  # nor anyone else's approval
        engine.approve(acting_user=person(cast, "Olu Other"), approval=rows[0])


def test_a_step_whose_quorum_cannot_be_met_refuses_the_request(cast):
    ann = person(cast, "Ann One")
    policy(
        cast, "Two people", [{"approver_kind": "users", "users": [ann, cast.agent], "quorum": 2}]
    )
    with pytest.raises(Conflict) as err:
        to_authorise(cast)
    assert err.value.field == "state" and "requester" in err.value.detail


def test_rejection_needs_a_comment_and_sends_the_change_back_to_new(cast):
    ann, ben = person(cast, "Ann One"), person(cast, "Ben Two")
    policy(cast, "Both", [{"approver_kind": "users", "users": [ann, ben], "quorum": 2}])
    c = to_authorise(cast)
    ann_row = Approval.objects.get(change=c, approver=ann)
    with pytest.raises(FieldError) as err:
        engine.reject(acting_user=ann, approval=ann_row, comment="  ")
    assert "comment" in err.value.errors
    engine.reject(acting_user=ann, approval=ann_row, comment="No back-out tested")
    c.refresh_from_db()
    assert c.state == ChangeState.NEW
    assert Approval.objects.get(change=c, approver=ben).state == ApprovalState.SKIPPED
    moved = Activity.objects.filter(
        subject_type="change", subject_id=c.pk, kind="state", data__transition="reject"
    ).get()
    assert moved.data["reason"] == "No back-out tested"
    assert engine.outstanding(c) == []


def test_resubmission_starts_a_new_round(cast):
    c = to_authorise(cast, change_manager=cast.manager)
    first = engine.outstanding(c)[0]
    engine.reject(acting_user=cast.manager, approval=first, comment="Add a test plan")
    c.refresh_from_db()
    actions.update_change(acting_user=cast.agent, change=c, test_plan="Smoke tests")
    actions.transition_change(acting_user=cast.agent, change=c, name="assess")
    actions.transition_change(acting_user=cast.agent, change=c, name="request_authorisation")
    [again] = engine.outstanding(c)
    assert again.round == 2 and again.pk != first.pk
    first.refresh_from_db()
    assert first.state == ApprovalState.REJECTED and first.round == 1
    engine.approve(acting_user=cast.manager, approval=again)
    c.refresh_from_db()
    assert c.state == ChangeState.SCHEDULED


@pytest.mark.parametrize("name", ["revise", "cancel"])
def test_revise_and_cancel_skip_what_is_outstanding(cast, name):
    c = to_authorise(cast, change_manager=cast.manager)
    actions.transition_change(acting_user=cast.agent, change=c, name=name, reason="Rethink")
    assert engine.outstanding(c) == []
    row = Approval.objects.get(change=c)
    assert row.state == ApprovalState.SKIPPED
    assert _entries(c, event="skipped")
    with pytest.raises(Conflict):
        engine.approve(acting_user=cast.manager, approval=row)


def test_a_team_member_may_decide_for_the_team(cast):
    ann = person(cast, "Ann One")
    network = team(cast, "Network", ann)
    policy(cast, "Network", [{"approver_kind": "team", "team": network}])
    c = to_authorise(cast)
    [row] = engine.outstanding(c)
    newcomer = person(cast, "Nia Newcomer")
    with pytest.raises(PermissionDenied):
        engine.approve(acting_user=newcomer, approval=row)
    network.members.add(newcomer)
    engine.approve(acting_user=newcomer, approval=row, comment="Covering for Ann")
    row.refresh_from_db()
    assert row.approver == ann and row.decided_by == newcomer
    c.refresh_from_db()
    assert c.state == ChangeState.SCHEDULED
    [entry] = _entries(c, event="approved")
    assert entry.data["on_behalf_of"] == "Ann One"


def test_requesters_and_auditors_cannot_decide(cast):
    c = to_authorise(cast, change_manager=cast.manager)
    [row] = engine.outstanding(c)
    for user in (cast.requester, cast.auditor):
        with pytest.raises(PermissionDenied):
            engine.approve(acting_user=user, approval=row)


def test_a_later_step_follows_the_policy_as_it_is_when_it_starts(cast):
    ann, ben = person(cast, "Ann One"), person(cast, "Ben Two")
    p = policy(
        cast,
        "Two",
        [
            {"approver_kind": "users", "users": [ann]},
            {"approver_kind": "users", "users": [ann]},
        ],
    )
    c = to_authorise(cast)
    from opsdesk.changes.approval_policies import update_step

    update_step(acting_user=cast.manager, step=p.steps.get(position=2), users=[ben])
    engine.approve(acting_user=ann, approval=engine.outstanding(c)[0])
    assert [a.approver for a in engine.outstanding(c)] == [ben]


def test_the_plan_is_on_the_timeline(cast):
    c = to_authorise(cast, change_manager=cast.manager)
    [plan] = _entries(c, event="plan")
    assert plan.data["policy"] == "Default approval" and plan.data["round"] == 1
    assert "change manager" in plan.body


def test_approvers_are_mailed_through_the_timeline(cast, django_capture_on_commit_callbacks):
    from opsdesk.notify.models import Notification

    ann, ben = person(cast, "Ann One"), person(cast, "Ben Two")
    policy(cast, "Either", [{"approver_kind": "users", "users": [ann, ben]}])
    with django_capture_on_commit_callbacks(execute=True):
        c = to_authorise(cast)
    mailed = Notification.objects.filter(
        subject_type="change", subject_id=c.pk, event="approval", channel="email"
    )
    assert sorted(n.recipient.full_name for n in mailed) == ["Ann One", "Ben Two"]
    assert all(c.number in n.body for n in mailed)
