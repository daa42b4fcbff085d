"""The change kernel: raising changes, the three workflows, updates and the timeline."""

from __future__ import annotations

from datetime import timedelta

import pytest

from opsdesk.changes import actions, hooks
from opsdesk.changes.choices import ChangeState, ChangeType
from opsdesk.changes.tests.factories import change, ci, template, when
from opsdesk.changes.workflows import NORMAL, STANDARD
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.models import AuditRecord
from opsdesk.servicedesk.models import Activity

pytestmark = pytest.mark.django_db


def test_a_normal_change_is_numbered_audited_and_on_its_timeline(cast):
    c = change(cast)
    assert c.number.startswith("CHG") and c.state == ChangeState.NEW
    assert c.requested_by == cast.agent
    assert AuditRecord.objects.filter(object_type="changes.change", object_id=str(c.pk)).exists()
    kinds = list(
        Activity.objects.filter(subject_type="change", subject_id=c.pk).values_list(
            "kind", flat=True
        )
    )
    assert kinds == ["created"]


def test_requesters_and_auditors_cannot_raise_changes(cast):
    for user in (cast.requester, cast.auditor):
        with pytest.raises(PermissionDenied):
            change(cast, user=user)


def test_end_before_start_names_the_field(cast):
    start = when(2)
    with pytest.raises(FieldError) as err:
        change(cast, planned_start=start, planned_end=start - timedelta(hours=1))
    assert "planned_end" in err.value.errors


def test_cis_of_another_organisation_are_refused(cast):
    other = ci(cast.org_b, "b-srv")
    with pytest.raises(FieldError) as err:
        change(cast, cis=[other])
    assert "ci_ids" in err.value.errors


def test_a_standard_change_needs_a_template_and_takes_its_plan(cast):
    with pytest.raises(FieldError) as err:
        change(cast, change_type=ChangeType.STANDARD)
    assert "template_id" in err.value.errors
    srv = ci(cast.org_a, "web-01")
    tpl = template(cast, cis=[srv], default_duration_minutes=30)
    start = when(1)
    c = actions.create_change(
        acting_user=cast.agent, organization=cast.org_a, template=tpl, planned_start=start
    )
    assert c.change_type == ChangeType.STANDARD
    assert c.title == tpl.name and c.backout_plan == tpl.backout_plan
    assert c.planned_end == start + timedelta(minutes=30)
    assert list(c.cis.all()) == [srv]
    assert c.workflow is STANDARD


def test_workflow_refuses_skipping_states_and_names_allowed_ones(cast):
    c = change(cast)
    with pytest.raises(Conflict) as err:
        actions.transition_change(acting_user=cast.agent, change=c, name="implement")
    assert "assess" in str(err.value)
    with pytest.raises(Conflict):
        actions.transition_change(acting_user=cast.agent, change=c, name="schedule")


def test_request_authorisation_requires_the_plan(cast):
    c = change(cast, backout_plan="")
    actions.transition_change(acting_user=cast.agent, change=c, name="assess")
    with pytest.raises(FieldError) as err:
        actions.transition_change(acting_user=cast.agent, change=c, name="request_authorisation")
    assert set(err.value.errors) == {"backout_plan"}


def test_cancel_needs_a_reason_and_ends_the_change(cast):
    c = change(cast)
    with pytest.raises(FieldError):
        actions.transition_change(acting_user=cast.agent, change=c, name="cancel")
    actions.transition_change(acting_user=cast.agent, change=c, name="cancel", reason="Not needed")
    assert c.state == ChangeState.CANCELLED and c.closed_at is not None
    with pytest.raises(Conflict):
        actions.update_change(acting_user=cast.agent, change=c, title="x")


def test_hooks_run_around_transitions_and_a_guard_can_refuse(cast):
    seen = []

    def refuse(change, name, values, user):
        seen.append(("guard", name))
        if change.title == "refuse me":
            raise Conflict("Refused by the guard.", field="state")

    def after(change, name, values, user):
        seen.append(("after", name, change.state))

    hooks.guard("assess")(refuse)
    hooks.after("assess")(after)
    try:
        c = change(cast)
        actions.transition_change(acting_user=cast.agent, change=c, name="assess")
        assert ("after", "assess", ChangeState.ASSESS) in seen
        c2 = change(cast, title="refuse me")
        with pytest.raises(Conflict):
            actions.transition_change(acting_user=cast.agent, change=c2, name="assess")
        c2.refresh_from_db()
        assert c2.state == ChangeState.NEW
    finally:
        hooks._GUARDS[:] = [e for e in hooks._GUARDS if e.fn is not refuse]
        hooks._AFTER[:] = [e for e in hooks._AFTER if e.fn is not after]


def test_the_plan_locks_once_implementation_starts(cast):
    c = change(cast)
    c.state = ChangeState.IMPLEMENT  # set directly: this test is about the lock, not the path
    with pytest.raises(Conflict) as err:
        actions.update_change(acting_user=cast.agent, change=c, planned_end=when(9))
    assert err.value.field == "planned_end"
    actions.update_change(acting_user=cast.agent, change=c, description="Now with notes")


def test_workflows_declare_every_path():
    assert NORMAL.allowed_names(ChangeState.NEW) == ["assess", "cancel"]
    assert STANDARD.allowed_names(ChangeState.NEW) == ["schedule", "cancel"]


def test_a_refused_transition_leaves_the_object_as_it_was(cast):
    def refuse(change, name, values, user):
        raise Conflict("Refused by the guard.", field="state")

    hooks.guard("assess")(refuse)
    try:
        c = change(cast)
        with pytest.raises(Conflict):
            actions.transition_change(acting_user=cast.agent, change=c, name="assess")
        assert c.state == ChangeState.NEW
    finally:
        hooks._GUARDS[:] = [e for e in hooks._GUARDS if e.fn is not refuse]
