"""Approval policies: who may write them, validation naming the field, and which one
applies to a change."""

from __future__ import annotations

import pytest

from opsdesk.changes import approval_policies as policies
from opsdesk.changes.choices import ApproverKind
from opsdesk.changes.models import ApprovalPolicy, Change
from opsdesk.changes.tests.approvals_helpers import person, policy, team
from opsdesk.core.errors import FieldError, PermissionDenied
from opsdesk.core.permissions import Role

pytestmark = pytest.mark.django_db


def _change(cast, change_type="normal", risk_class=""):
    return Change(organization=cast.org_a, change_type=change_type, risk_class=risk_class)


def test_the_lowest_order_matching_policy_applies(cast):
    ann = person(cast, "Ann One")
    step = [{"approver_kind": "users", "users": [ann]}]
    broad = policy(cast, "Every normal change", step, change_types=["normal"], order=50)
    high = policy(
        cast,
        "High risk",
        step,
        change_types=["normal"],
        risk_classes=["high", "very_high"],
        order=10,
    )
    emergency = policy(cast, "Emergencies", step, change_types=["emergency"], order=5)
    assert policies.matching_policy(_change(cast, risk_class="high")) == high
    assert policies.matching_policy(_change(cast, risk_class="low")) == broad
    assert policies.matching_policy(_change(cast, "emergency", "low")) == emergency
    policies.retire_policy(acting_user=cast.manager, policy=high)
    assert policies.matching_policy(_change(cast, risk_class="high")) == broad


def test_a_blank_risk_class_counts_as_moderate(cast):
    ann = person(cast, "Ann One")
    moderate = policy(
        cast, "Moderate", [{"approver_kind": "users", "users": [ann]}], risk_classes=["moderate"]
    )
    assert policies.matching_policy(_change(cast, risk_class="")) == moderate
    assert policies.matching_policy(_change(cast, risk_class="low")) is None


def test_defaults_without_a_match(cast):
    normal = policies.plan_for(_change(cast))
    assert normal.policy is None
    assert [(s.kind, s.name) for s in normal.steps] == [("change_manager", "Change manager")]
    emergency = policies.plan_for(_change(cast, "emergency"))
    assert [(s.kind, s.name) for s in emergency.steps] == [("cab", "Emergency CAB")]


def test_policies_of_another_organisation_never_apply(cast):
    policy(
        cast,
        "B's policy",
        [{"approver_kind": "change_manager"}],
        org=cast.org_b,
    )
    assert policies.matching_policy(_change(cast)) is None


def test_only_managers_and_admins_write_policies(cast):
    for user in (cast.agent, cast.auditor, cast.requester):
        with pytest.raises(PermissionDenied):
            policies.create_policy(
                acting_user=user,
                organization=cast.org_a,
                name="Mine",
                steps=[{"approver_kind": "change_manager"}],
            )
    made = policies.create_policy(
        acting_user=cast.admin,
        organization=cast.org_a,
        name="Admin's",
        steps=[{"approver_kind": "cab"}],
    )
    assert made.steps.get().name == "CAB"


@pytest.mark.parametrize(
    ("step", "field"),
    [
        ({"approver_kind": "team"}, "steps.0.team_id"),
        ({"approver_kind": "users"}, "steps.0.user_ids"),
        ({"approver_kind": "robots"}, "steps.0.approver_kind"),
        ({"approver_kind": "change_manager", "quorum": 2}, "steps.0.quorum"),
        ({"approver_kind": "cab", "quorum": 0}, "steps.0.quorum"),
    ],
)
def test_step_validation_names_the_field(cast, step, field):
    with pytest.raises(FieldError) as err:
        policy(cast, "Bad", [step])
    assert field in err.value.errors


def test_quorum_at_most_the_possible_approvers(cast):
    ann, ben = person(cast, "Ann One"), person(cast, "Ben Two")
    auditor_in_team = person(cast, "Ayo Auditor", Role.AUDITOR)
    network = team(cast, "Network", ann, ben, auditor_in_team)
    with pytest.raises(FieldError) as err:
        policy(cast, "Three", [{"approver_kind": "team", "team": network, "quorum": 3}])
    assert "At most 2" in err.value.errors["steps.0.quorum"]
    with pytest.raises(FieldError) as err:
        policy(cast, "Three", [{"approver_kind": "users", "users": [ann, ben], "quorum": 3}])
    assert "steps.0.quorum" in err.value.errors
    made = policy(cast, "Two", [{"approver_kind": "team", "team": network, "quorum": 2}])
    assert made.steps.get().quorum == 2 and made.steps.get().name == "Network"


def test_team_and_users_of_the_same_organisation(cast):
    with pytest.raises(FieldError) as err:
        policy(cast, "Foreign team", [{"approver_kind": "team", "team": cast.team_b}])
    assert "steps.0.team_id" in err.value.errors
    with pytest.raises(FieldError) as err:
        policy(cast, "Foreign people", [{"approver_kind": "users", "users": [cast.agent_b]}])
    assert (
        "another" in err.value.errors["steps.0.user_ids"]
        or "Not of this" in (err.value.errors["steps.0.user_ids"])
    )
    with pytest.raises(FieldError) as err:
        policy(cast, "Requesters", [{"approver_kind": "users", "users": [cast.requester]}])
    assert "Cannot approve" in err.value.errors["steps.0.user_ids"]


def test_policy_lists_and_name_are_checked(cast):
    step = [{"approver_kind": "change_manager"}]
    with pytest.raises(FieldError) as err:
        policy(cast, "Std", step, change_types=["standard"])
    assert "change_types" in err.value.errors
    with pytest.raises(FieldError) as err:
        policy(cast, "Risky", step, risk_classes=["extreme"])
    assert "risk_classes" in err.value.errors
    with pytest.raises(FieldError) as err:
        policy(cast, "No steps", [])
    assert "steps" in err.value.errors
    policy(cast, "Twice", step)
    with pytest.raises(FieldError) as err:
        policy(cast, "Twice", step)
    assert "name" in err.value.errors


def test_steps_are_added_updated_and_removed_in_order(cast):
    ann, ben = person(cast, "Ann One"), person(cast, "Ben Two")
    p = policy(cast, "Steps", [{"approver_kind": "change_manager"}])
    second = policies.add_step(
        acting_user=cast.manager, policy=p, approver_kind="users", users=[ann], name="Security"
    )
    third = policies.add_step(acting_user=cast.manager, policy=p, approver_kind="cab")
    assert [s.position for s in p.steps.all()] == [1, 2, 3]
    policies.update_step(acting_user=cast.manager, step=second, users=[ann, ben], quorum=2)
    second.refresh_from_db()
    assert second.quorum == 2 and second.users.count() == 2
    with pytest.raises(FieldError) as err:
        policies.update_step(acting_user=cast.manager, step=second, quorum=3)
    assert "quorum" in err.value.errors
    policies.remove_step(acting_user=cast.manager, step=p.steps.get(position=1))
    assert [(s.position, s.approver_kind) for s in p.steps.all()] == [
        (1, ApproverKind.USERS),
        (2, ApproverKind.CAB),
    ]
    third.refresh_from_db()
    assert third.position == 2
    policies.remove_step(acting_user=cast.manager, step=third)
    with pytest.raises(FieldError) as err:
        policies.remove_step(acting_user=cast.manager, step=p.steps.get())
    assert "steps" in err.value.errors
    with pytest.raises(PermissionDenied):
        policies.add_step(acting_user=cast.agent, policy=p, approver_kind="cab")


def test_updating_a_policy_can_replace_its_steps(cast):
    ann = person(cast, "Ann One")
    p = policy(cast, "Replace", [{"approver_kind": "change_manager"}])
    policies.update_policy(
        acting_user=cast.manager,
        policy=p,
        name="Replaced",
        order=7,
        steps=[{"approver_kind": "users", "users": [ann]}, {"approver_kind": "cab"}],
    )
    p = ApprovalPolicy.objects.get(pk=p.pk)
    assert p.name == "Replaced" and p.order == 7
    assert [s.approver_kind for s in p.steps.all()] == ["users", "cab"]
