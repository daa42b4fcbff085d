"""Problem management: raising from incidents, the declared workflow, resolving the linked
incidents, the assignment rule, known errors, and the timelines every change leaves."""

from __future__ import annotations

import pytest

from opsdesk.cmdb.tests.factories import ci
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.models import AuditRecord
from opsdesk.core.testing.factories import TeamFactory
from opsdesk.problems import actions
from opsdesk.problems.models import Problem
from opsdesk.problems.tests.factories import incident, known_error, problem
from opsdesk.problems.workflows import PROBLEM
from opsdesk.servicedesk import actions as desk
from opsdesk.servicedesk.models import Activity, Incident

pytestmark = pytest.mark.django_db


def _kinds(subject_type: str, subject_id: int) -> list[str]:
    return list(
        Activity.objects.filter(subject_type=subject_type, subject_id=subject_id)
        .order_by("at", "id")
        .values_list("kind", flat=True)
    )


def test_raise_from_several_incidents_links_each_and_both_timelines_tell_it(cast):
    db = ci(cast.org_a, "db-07", "database")
    first = incident(cast, title="Payments slow", ci=db, impact=2, urgency=2)
    second = incident(cast, title="Payments time out", ci=db, impact=1, urgency=1)
    prb = actions.raise_problem_from_incidents(acting_user=cast.agent, incidents=[first, second])
    assert prb.number == "PRB0000001"
    assert prb.title == "Payments slow"
    assert prb.ci == db  # shared by both incidents
    assert prb.priority == 1  # the highest of them
    assert set(prb.incidents.values_list("pk", flat=True)) == {first.pk, second.pk}
    assert _kinds("problem", prb.pk) == ["created", "link", "link"]
    link = Activity.objects.filter(subject_type="incident", subject_id=first.pk, kind="link").get()
    assert link.data["number"] == prb.number and link.data["type"] == "problem"
    assert AuditRecord.objects.filter(
        object_type="problems.problem", object_id=str(prb.pk)
    ).exists()


def test_incidents_of_another_organisation_are_refused(cast):
    mine = incident(cast)
    theirs = incident(cast, org=cast.org_b)
    with pytest.raises(FieldError) as exc:
        actions.raise_problem_from_incidents(acting_user=cast.agent, incidents=[mine, theirs])
    assert "incident_ids" in exc.value.errors
    prb = problem(cast)
    with pytest.raises(FieldError) as exc:
        actions.link_incidents(acting_user=cast.agent, problem=prb, incidents=[theirs])
    assert "incident_ids" in exc.value.errors
    theirs.refresh_from_db()
    assert theirs.problem_id is None
    assert not Problem.objects.filter(organization=cast.org_b).exists()


def test_requesters_and_auditors_cannot_raise_problems(cast):
    own = incident(cast, user=cast.requester)
    for user in (cast.requester, cast.auditor):
        with pytest.raises(PermissionDenied):
            actions.raise_problem_from_incidents(acting_user=user, incidents=[own])


def test_assignee_must_be_in_the_group(cast):
    prb = problem(cast)
    outsider_team = TeamFactory(organization=cast.org_a, name="Network")
    with pytest.raises(FieldError) as exc:
        actions.update_problem(
            acting_user=cast.agent,
            problem=prb,
            assignment_group=outsider_team,
            assignee=cast.agent,
        )
    assert "assignee_id" in exc.value.errors
    actions.update_problem(
        acting_user=cast.agent, problem=prb, assignment_group=cast.team_a, assignee=cast.manager
    )
    prb.refresh_from_db()
    assert prb.assignee == cast.manager
    assigned = Activity.objects.get(subject_type="problem", subject_id=prb.pk, kind="assigned")
    assert assigned.data["group"] == cast.team_a.name


def test_update_records_the_changes_and_refuses_unknown_fields(cast):
    prb = problem(cast)
    actions.update_problem(
        acting_user=cast.agent,
        problem=prb,
        rca_notes="Five whys: connection pool exhausted.",
        workaround="Restart the pool.",
    )
    change = Activity.objects.get(subject_type="problem", subject_id=prb.pk, kind="field")
    assert set(change.data["changes"]) == {"rca_notes", "workaround"}
    with pytest.raises(FieldError) as exc:
        actions.update_problem(acting_user=cast.agent, problem=prb, state="closed")
    assert "state" in exc.value.errors


def test_workflow_refuses_what_it_does_not_allow_and_names_the_allowed(cast):
    prb = problem(cast)
    with pytest.raises(Conflict) as exc:
        actions.transition_problem(acting_user=cast.agent, problem=prb, transition="close")
    assert "Allowed from new: assess, analyse, cancel" in exc.value.detail
    actions.transition_problem(acting_user=cast.agent, problem=prb, transition="analyse")
    with pytest.raises(FieldError) as exc:
        actions.transition_problem(acting_user=cast.agent, problem=prb, transition="resolve")
    assert set(exc.value.errors) == {"root_cause", "resolution_notes"}
    with pytest.raises(FieldError) as exc:
        actions.transition_problem(acting_user=cast.agent, problem=prb, transition="cancel")
    assert set(exc.value.errors) == {"reason"}
    prb.refresh_from_db()
    assert prb.state == "root_cause_analysis"


def test_full_lifecycle_and_reopen(cast):
    prb = problem(cast)
    for step in ("assess", "analyse"):
        actions.transition_problem(acting_user=cast.agent, problem=prb, transition=step)
    actions.transition_problem(
        acting_user=cast.agent, problem=prb, transition="fix", root_cause="Pool too small."
    )
    actions.transition_problem(
        acting_user=cast.agent, problem=prb, transition="resolve", resolution_notes="Pool x4."
    )
    assert prb.state == "resolved" and prb.resolved_at is not None
    assert prb.root_cause == "Pool too small."
    actions.transition_problem(
        acting_user=cast.agent, problem=prb, transition="reopen", reason="Came back."
    )
    assert prb.state == "root_cause_analysis" and prb.resolved_at is None
    actions.transition_problem(acting_user=cast.agent, problem=prb, transition="resolve")
    actions.transition_problem(acting_user=cast.agent, problem=prb, transition="close")
    assert prb.state == "closed" and prb.closed_at is not None
    states = Activity.objects.filter(subject_type="problem", subject_id=prb.pk, kind="state")
    assert [a.data["transition"] for a in states.order_by("at", "id")] == [
        "assess",
        "analyse",
        "fix",
        "resolve",
        "reopen",
        "resolve",
        "close",
    ]
    with pytest.raises(Conflict):
        actions.update_problem(acting_user=cast.agent, problem=prb, title="late")


def test_every_declared_transition_targets_a_known_state():
    for transition in PROBLEM.transitions:
        assert transition.target in PROBLEM.states
    assert set(PROBLEM.allowed_names("closed")) == set()


def test_resolving_with_resolve_incidents_resolves_open_linked_incidents_only(cast):
    open_one = incident(cast, title="VPN drops")
    on_hold = incident(cast, title="VPN drops again")
    desk.transition_incident(
        acting_user=cast.agent, incident=on_hold, transition="hold", hold_reason="awaiting_vendor"
    )
    already = incident(cast, title="VPN slow")
    prb = actions.raise_problem_from_incidents(
        acting_user=cast.agent, incidents=[open_one, on_hold, already], title="VPN instability"
    )
    already.refresh_from_db()
    desk.transition_incident(
        acting_user=cast.agent,
        incident=already,
        transition="resolve",
        resolution_code="user_error",
        resolution_notes="Wrong profile.",
    )
    unrelated = incident(cast, title="Printer jam")
    actions.transition_problem(acting_user=cast.agent, problem=prb, transition="analyse")
    actions.transition_problem(
        acting_user=cast.agent,
        problem=prb,
        transition="resolve",
        root_cause="Firmware bug in the VPN concentrator.",
        resolution_notes="Firmware 9.2 installed.",
        resolve_incidents=True,
    )
    assert sorted(prb.resolved_incidents) == sorted([open_one.number, on_hold.number])
    for inc in (open_one, on_hold):
        inc.refresh_from_db()
        assert inc.state == "resolved"
        assert inc.resolution_code == "solved_permanently"
        assert prb.number in inc.resolution_notes
    already.refresh_from_db()
    assert already.resolution_code == "user_error"  # untouched
    unrelated.refresh_from_db()
    assert unrelated.state == "new"
    state = Activity.objects.get(
        subject_type="problem", subject_id=prb.pk, kind="state", data__transition="resolve"
    )
    assert len(state.data["resolved_incidents"]) == 2


def test_resolve_incidents_only_with_resolve(cast):
    prb = problem(cast)
    with pytest.raises(FieldError) as exc:
        actions.transition_problem(
            acting_user=cast.agent, problem=prb, transition="assess", resolve_incidents=True
        )
    assert "resolve_incidents" in exc.value.errors


def test_link_moves_an_incident_and_unlink_leaves_a_trace(cast):
    inc = incident(cast)
    first = problem(cast, incidents=[inc])
    second = problem(cast, title="Another")
    inc.refresh_from_db()
    linked = actions.link_incidents(acting_user=cast.agent, problem=second, incidents=[inc])
    assert linked == [inc]
    inc.refresh_from_db()
    assert inc.problem == second
    move = Activity.objects.filter(subject_type="problem", subject_id=second.pk, kind="link").get()
    assert move.data["moved_from"] == first.number
    # Linking again changes nothing.
    assert actions.link_incidents(acting_user=cast.agent, problem=second, incidents=[inc]) == []
    actions.unlink_incident(acting_user=cast.agent, problem=second, incident=inc)
    inc.refresh_from_db()
    assert inc.problem is None
    with pytest.raises(Conflict):
        actions.unlink_incident(acting_user=cast.agent, problem=second, incident=inc)
    assert "unlink" in _kinds("incident", inc.pk)


def test_known_error_from_problem_copies_cause_workaround_and_cis(cast):
    db = ci(cast.org_a, "db-07", "database")
    inc = incident(cast, ci=db)
    prb = problem(cast, incidents=[inc], root_cause="Index missing.")
    with pytest.raises(FieldError) as exc:
        actions.create_known_error_from_problem(acting_user=cast.agent, problem=prb)
    assert "workaround" in exc.value.errors
    actions.update_problem(
        acting_user=cast.agent, problem=prb, workaround="Run the report at night."
    )
    ke = actions.create_known_error_from_problem(acting_user=cast.agent, problem=prb)
    assert ke.number == "KE0000001"
    assert (ke.root_cause, ke.workaround, ke.problem) == (
        "Index missing.",
        "Run the report at night.",
        prb,
    )
    assert list(ke.cis.all()) == [db]
    assert ke.symptoms == inc.title  # what users reported
    assert "link" in _kinds("problem", prb.pk)
    assert _kinds("known_error", ke.pk) == ["created"]


def test_known_error_cis_must_be_of_the_organisation(cast):
    theirs = ci(cast.org_b, "b-db", "database")
    with pytest.raises(FieldError) as exc:
        known_error(cast, cis=[theirs])
    assert "ci_ids" in exc.value.errors
    ke = known_error(cast)
    with pytest.raises(FieldError):
        actions.update_known_error(acting_user=cast.agent, known_error=ke, cis=[theirs])
    assert not ke.cis.exists()


def test_known_error_update_retire_and_no_change_after(cast):
    ke = known_error(cast, state="draft")
    actions.update_known_error(acting_user=cast.agent, known_error=ke, symptoms="Timeout 809")
    with pytest.raises(FieldError) as exc:
        actions.update_known_error(acting_user=cast.agent, known_error=ke, workaround="  ")
    assert "workaround" in exc.value.errors
    actions.transition_known_error(acting_user=cast.agent, known_error=ke, transition="publish")
    actions.retire_known_error(acting_user=cast.agent, known_error=ke, reason="Fixed for good.")
    assert ke.state == "retired"
    with pytest.raises(Conflict):
        actions.update_known_error(acting_user=cast.agent, known_error=ke, title="x")
    with pytest.raises(Conflict) as exc:
        actions.retire_known_error(acting_user=cast.agent, known_error=ke)
    assert "final state" in exc.value.detail
    assert _kinds("known_error", ke.pk) == ["created", "field", "state", "state"]


def test_only_published_known_errors_are_linked_to_incidents(cast):
    inc = incident(cast)
    draft = known_error(cast, state="draft")
    with pytest.raises(Conflict):
        actions.link_known_error(acting_user=cast.agent, incident=inc, known_error=draft)
    ke = known_error(cast)
    actions.link_known_error(acting_user=cast.agent, incident=inc, known_error=ke)
    inc = Incident.objects.get(pk=inc.pk)
    assert inc.known_error == ke
    assert "link" in _kinds("known_error", ke.pk)
