"""The request flow: approvals step by step (any / all / manager / team), rejection,
fulfilment tasks in order, the request following its items, and form validation."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsdesk.catalog import actions
from opsdesk.catalog.choices import ApprovalState, ItemState, RequestState, TaskState
from opsdesk.catalog.definitions import validate_answers, validate_form
from opsdesk.catalog.models import Approval, FulfilmentTask
from opsdesk.catalog.tests.factories import catalog_item, order
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.permissions import Role
from opsdesk.core.testing.factories import TeamFactory, member
from opsdesk.servicedesk.models import Activity

pytestmark = pytest.mark.django_db


def _pending(item, user):
    return Approval.objects.get(item=item, approver=user, state=ApprovalState.REQUESTED)


def test_two_steps_any_then_all_then_tasks_in_order_fulfil_the_request(cast):
    boss = member(cast.org_a, Role.MANAGER, email="boss@a.test", full_name="Bo Boss")
    item_def = catalog_item(
        cast.org_a,
        approval_steps=[
            {"kind": "users", "user_ids": [cast.manager.pk, boss.pk], "rule": "any"},
            {"kind": "users", "user_ids": [cast.manager.pk, boss.pk], "rule": "all"},
        ],
        tasks=[
            {"title": "Prepare laptop", "team_id": cast.team_a.pk, "order": 1},
            {"title": "Hand over", "team_id": cast.team_a.pk, "order": 2},
        ],
    )
    request = order(cast.requester, item_def)
    item = request.items.get()
    assert item.state == ItemState.AWAITING_APPROVAL and item.step == 0
    assert request.number.startswith("REQ") and item.number.startswith("RITM")

    # Step 1, any: one approval is enough and the other is no longer needed.
    actions.decide_approval(acting_user=boss, approval=_pending(item, boss), approve=True)
    assert Approval.objects.get(item=item, step=0, approver=cast.manager).state == "cancelled"
    item.refresh_from_db()
    assert item.step == 1
    # Step 2, all: after one of two it still waits.
    actions.decide_approval(acting_user=boss, approval=_pending(item, boss), approve=True)
    item.refresh_from_db()
    assert item.state == ItemState.AWAITING_APPROVAL and item.step == 1
    actions.decide_approval(
        acting_user=cast.manager, approval=_pending(item, cast.manager), approve=True
    )
    item.refresh_from_db()
    assert item.state == ItemState.IN_FULFILMENT and item.step is None

    # Tasks of order 1 first; order 2 appears when order 1 is done.
    (first,) = FulfilmentTask.objects.filter(item=item)
    assert first.title == "Prepare laptop" and first.number.startswith("SCTASK")
    actions.transition_task(acting_user=cast.agent, task=first, transition="start")
    first.refresh_from_db()
    assert first.assignee == cast.agent  # a team member starting it takes it
    actions.transition_task(acting_user=cast.agent, task=first, transition="complete")
    second = FulfilmentTask.objects.get(item=item, order=2)
    request.refresh_from_db()
    assert request.state == RequestState.OPEN
    actions.transition_task(acting_user=cast.manager, task=second, transition="complete")
    item.refresh_from_db()
    request.refresh_from_db()
    assert item.state == ItemState.FULFILLED
    assert request.state == RequestState.FULFILLED and request.closed_at is not None
    kinds = list(
        Activity.objects.filter(subject_type="request", subject_id=request.pk).values_list(
            "kind", "data__to"
        )
    )
    assert ("state", "fulfilled") in kinds


def test_a_rejection_rejects_the_item_and_closes_the_request_incomplete(cast):
    item_def = catalog_item(
        cast.org_a, approval_steps=[{"kind": "users", "user_ids": [cast.manager.pk]}]
    )
    request = order(cast.requester, item_def)
    item = request.items.get()
    approval = _pending(item, cast.manager)
    with pytest.raises(FieldError) as exc:
        actions.decide_approval(acting_user=cast.manager, approval=approval, approve=False)
    assert "comment" in exc.value.errors
    actions.decide_approval(
        acting_user=cast.manager, approval=approval, approve=False, comment="Not budgeted"
    )
    item.refresh_from_db()
    request.refresh_from_db()
    assert item.state == ItemState.REJECTED
    assert request.state == RequestState.CLOSED_INCOMPLETE
    assert not FulfilmentTask.objects.filter(item=item).exists()
    with pytest.raises(Conflict):
        actions.decide_approval(acting_user=cast.manager, approval=approval, approve=True)


def test_only_the_approver_decides(cast):
    item_def = catalog_item(
        cast.org_a, approval_steps=[{"kind": "users", "user_ids": [cast.manager.pk]}]
    )
    item = order(cast.requester, item_def).items.get()
    for intruder in (cast.admin, cast.requester, cast.agent, cast.admin_b):
        with pytest.raises(PermissionDenied):
            actions.decide_approval(
                acting_user=intruder, approval=_pending(item, cast.manager), approve=True
            )


def test_manager_step_asks_the_manager_of_the_requesters_team(cast):
    sales = TeamFactory(organization=cast.org_a, name="Sales", slug="sales", manager=cast.manager)
    item_def = catalog_item(cast.org_a, approval_steps=[{"kind": "manager"}])
    with pytest.raises(FieldError) as exc:
        order(cast.requester, item_def)
    assert "requested_for_id" in exc.value.errors
    assert "no team that has a manager" in exc.value.errors["requested_for_id"]
    sales.members.add(cast.requester)
    item = order(cast.requester, item_def).items.get()
    approval = Approval.objects.get(item=item)
    assert approval.approver == cast.manager
    actions.decide_approval(acting_user=cast.manager, approval=approval, approve=True)
    item.refresh_from_db()
    assert item.state == ItemState.FULFILLED  # no tasks: nothing left to do


def test_group_step_any_member_approves(cast):
    item_def = catalog_item(
        cast.org_a, approval_steps=[{"kind": "group", "team_id": cast.team_a.pk}]
    )
    item = order(cast.requester, item_def).items.get()
    assert set(Approval.objects.filter(item=item).values_list("approver", flat=True)) == {
        cast.agent.pk,
        cast.manager.pk,
    }
    actions.decide_approval(
        acting_user=cast.agent, approval=_pending(item, cast.agent), approve=True
    )
    item.refresh_from_db()
    assert item.state == ItemState.FULFILLED


def test_task_assignee_must_be_in_the_team_and_finished_tasks_are_final(cast):
    item_def = catalog_item(cast.org_a, tasks=[{"title": "Do it", "team_id": cast.team_a.pk}])
    item = order(cast.requester, item_def).items.get()
    task = FulfilmentTask.objects.get(item=item)
    with pytest.raises(FieldError) as exc:
        actions.assign_task(acting_user=cast.manager, task=task, assignee=cast.admin)
    assert "assignee_id" in exc.value.errors
    with pytest.raises(PermissionDenied):
        actions.transition_task(acting_user=cast.requester, task=task, transition="complete")
    with pytest.raises(FieldError) as exc:
        actions.transition_task(acting_user=cast.agent, task=task, transition="cancel")
    assert "reason" in exc.value.errors
    actions.transition_task(acting_user=cast.agent, task=task, transition="cancel", reason="x")
    item.refresh_from_db()
    assert item.state == ItemState.CANCELLED  # every task cancelled
    with pytest.raises(Conflict) as exc:
        actions.transition_task(acting_user=cast.agent, task=task, transition="start")
    assert "Allowed from cancelled: none" in exc.value.detail


def test_cancel_request_cancels_items_approvals_and_tasks(cast):
    with_approval = catalog_item(
        cast.org_a, approval_steps=[{"kind": "users", "user_ids": [cast.manager.pk]}]
    )
    with_tasks = catalog_item(
        cast.org_a, "VPN", tasks=[{"title": "Grant", "team_id": cast.team_a.pk}], form=[]
    )
    request = actions.submit_request(
        acting_user=cast.requester,
        organization=cast.org_a,
        items=[
            {
                "catalog_item": with_approval,
                "answers": {"model": "Standard", "start_date": "2030-01-01"},
            },
            {"catalog_item": with_tasks, "answers": {}},
        ],
    )
    with pytest.raises(PermissionDenied):
        actions.cancel_request(acting_user=cast.auditor, request=request, reason="no")
    actions.cancel_request(acting_user=cast.requester, request=request, reason="Changed my mind")
    request.refresh_from_db()
    assert request.state == RequestState.CANCELLED
    assert set(request.items.values_list("state", flat=True)) == {ItemState.CANCELLED}
    assert not Approval.objects.filter(request_id=request.pk, state="requested").exists()
    assert set(FulfilmentTask.objects.values_list("state", flat=True)) == {TaskState.CANCELLED}
    with pytest.raises(Conflict):
        actions.cancel_request(acting_user=cast.requester, request=request, reason="again")


def test_answers_errors_name_each_field(cast):
    item_def = catalog_item(cast.org_a)
    with pytest.raises(FieldError) as exc:
        order(cast.requester, item_def, answers={"model": "Gold", "start_date": "tomorrow", "x": 1})
    assert exc.value.errors == {
        "items.0.answers.model": "One of: Standard, Developer.",
        "items.0.answers.start_date": "Enter a date as YYYY-MM-DD.",
        "items.0.answers.x": "This form has no such field.",
    }
    with pytest.raises(FieldError) as exc:
        order(cast.requester, item_def, answers={})
    assert set(exc.value.errors) == {"items.0.answers.model", "items.0.answers.start_date"}


def test_requester_orders_only_for_themselves_and_only_active_items_of_the_org(cast):
    item_def = catalog_item(cast.org_a)
    with pytest.raises(FieldError) as exc:
        order(cast.requester, item_def, requested_for=cast.agent)
    assert "requested_for_id" in exc.value.errors
    request = order(cast.agent, item_def, requested_for=cast.requester)
    assert request.requester == cast.requester and request.opened_by == cast.agent
    item_b = catalog_item(cast.org_b, "B laptop")
    with pytest.raises(FieldError) as exc:
        actions.submit_request(
            acting_user=cast.agent,
            organization=cast.org_a,
            items=[{"catalog_item": item_b, "answers": {}}],
        )
    assert "items.0.catalog_item_id" in exc.value.errors
    with pytest.raises(PermissionDenied):
        order(cast.agent_b, item_def)


def test_user_and_ci_answers_must_be_of_the_organisation(cast):
    from opsdesk.cmdb.tests.factories import ci

    form = [
        {"name": "who", "label": "Who", "type": "user", "required": True},
        {"name": "device", "label": "Device", "type": "ci"},
        {"name": "count", "label": "How many", "type": "number"},
        {"name": "accept", "label": "I accept", "type": "checkbox", "required": True},
    ]
    b_ci = ci(cast.org_b, "b-box", "server")
    _, errors = validate_answers(
        form, {"who": cast.agent_b.pk, "device": b_ci.pk, "count": True}, cast.org_a.pk
    )
    assert set(errors) == {"answers.who", "answers.device", "answers.count", "answers.accept"}
    a_ci = ci(cast.org_a, "a-box", "server")
    clean, errors = validate_answers(
        form,
        {"who": str(cast.agent.pk), "device": a_ci.pk, "count": "3", "accept": True},
        cast.org_a.pk,
    )
    assert errors == {}
    assert clean == {"who": cast.agent.pk, "device": a_ci.pk, "count": 3, "accept": True}


def test_form_definition_is_validated_with_named_errors(cast):
    errors = validate_form(
        [
            {"name": "a", "label": "A", "type": "text"},
            {"name": "a", "label": "A again", "type": "text"},
            {"name": "Bad Name", "label": "B", "type": "colour"},
            {"name": "c", "label": "C", "type": "choice"},
            {"label": "D", "type": "text", "extra": 1},
        ]
    )
    assert set(errors) == {
        "form.1.name",
        "form.2.name",
        "form.2.type",
        "form.3.choices",
        "form.4.name",
        "form.4.extra",
    }
    with pytest.raises(FieldError) as exc:
        actions.create_catalog_item(
            acting_user=cast.admin,
            organization=cast.org_a,
            name="Thing",
            approval_steps=[{"kind": "users"}, {"kind": "group", "team_id": cast.team_b.pk}],
            tasks=[{"title": "x", "team_id": cast.team_b.pk}],
        )
    assert set(exc.value.errors) == {
        "approval_steps.0.user_ids",
        "approval_steps.1.team_id",
        "tasks.0.team_id",
    }
    with pytest.raises(PermissionDenied):
        actions.create_catalog_item(acting_user=cast.agent, organization=cast.org_a, name="X")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    answers=st.dictionaries(
        st.text(max_size=8),
        st.none() | st.integers() | st.text() | st.booleans() | st.lists(st.text(max_size=3)),
    )
)
def test_any_answers_give_clean_values_or_named_errors(cast, answers):
    form = [
        {
            "name": "model",
            "label": "Model",
            "type": "choice",
            "choices": ["A", "B"],
            "required": True,
        },
        {"name": "apps", "label": "Apps", "type": "multichoice", "choices": ["x", "y"]},
        {"name": "when", "label": "When", "type": "date"},
        {"name": "n", "label": "N", "type": "number"},
        {"name": "ok", "label": "OK", "type": "checkbox"},
    ]
    clean, errors = validate_answers(form, answers, cast.org_a.pk)
    assert all(key.startswith("answers.") for key in errors)
    assert errors or clean["model"] in ("A", "B")
