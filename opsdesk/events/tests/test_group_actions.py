"""Operators' actions on alert groups: merge, split, resolve."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from opsdesk.changes.tests.factories import topology
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.models import AuditRecord
from opsdesk.events import pipeline
from opsdesk.events.choices import FeedbackKind, GroupState, Method
from opsdesk.events.group_actions import merge_groups, resolve_group, split_group
from opsdesk.events.models import Alert, AlertEvent, AlertGroup, CorrelationDecision, GroupFeedback
from opsdesk.events.tests.group_helpers import batch_for, group
from opsdesk.servicedesk import actions as desk
from opsdesk.servicedesk.choices import ActivityKind, IncidentState, SubjectType
from opsdesk.servicedesk.models import Activity, Incident

pytestmark = pytest.mark.django_db


@pytest.fixture
def cis(cast):
    return topology(cast.org_a)


def _with_incident(org, cis, *alerts, **fields) -> AlertGroup:
    g = group(org, *alerts, service=cis["banking"], **fields)
    pipeline.run(batch_for(org, opened=(g,)), only=("incident",))
    g.refresh_from_db()
    assert g.incident is not None
    return g


def _audits(g: AlertGroup) -> list[AuditRecord]:
    return list(
        AuditRecord.objects.filter(object_type="events.alertgroup", object_id=str(g.pk)).order_by(
            "pk"
        )
    )


def _notes(incident: Incident) -> list[str]:
    return list(
        Activity.objects.filter(
            subject_type=SubjectType.INCIDENT, subject_id=incident.pk, kind=ActivityKind.WORK_NOTE
        )
        .order_by("id")
        .values_list("body", flat=True)
    )


# --- merge -----------------------------------------------------------------------------------------


def test_merge_moves_alerts_and_resolves_the_duplicate_incident(cast, cis):
    target = _with_incident(cast.org_a, cis, {"severity": "major"}, {"severity": "minor"})
    other = _with_incident(cast.org_a, cis, {"severity": "critical", "title": "DB down"})
    old_decision = CorrelationDecision.objects.create(
        organization=cast.org_a,
        group=other,
        alert=other.alerts.get(),
        method=Method.NEW,
        reason="opened",
    )
    moved_id = other.alerts.get().pk
    merge_groups(acting_user=cast.agent, target=target, others=[other], note="same DB outage")
    target.refresh_from_db()
    other.refresh_from_db()
    assert other.state == GroupState.MERGED and other.merged_into == target
    assert Alert.objects.get(pk=moved_id).group == target
    assert AlertEvent.objects.filter(alert_id=moved_id).get().group == target
    assert (target.alert_count, target.firing_count, target.severity) == (3, 3, "critical")
    # Decisions: the old one is kept, an operator one is added on the target.
    assert CorrelationDecision.objects.filter(pk=old_decision.pk).exists()
    op = CorrelationDecision.objects.get(group=target, method=Method.OPERATOR)
    assert op.alert_id == moved_id and op.actor == cast.agent and "same DB outage" in op.reason
    fb = GroupFeedback.objects.get()
    assert (fb.kind, fb.group, fb.other_group, fb.alert_ids) == (
        FeedbackKind.MERGE,
        target,
        other,
        [moved_id],
    )
    # The duplicate incident is resolved, the kept one has a note.
    dup = Incident.objects.get(pk=other.incident_id)
    assert dup.state == IncidentState.RESOLVED and dup.resolution_code == "duplicate"
    assert target.incident.number in dup.resolution_notes
    assert any(other.number in n for n in _notes(target.incident))
    # Audited, by the operator.
    for g in (target, other):
        record = _audits(g)[-1]
        assert record.action == "update" and record.actor_id == cast.agent.pk
    assert _audits(other)[-1].changes["state"] == ["open", "merged"]


def test_merge_keeps_a_duplicate_a_person_is_working_and_adopts_an_incident(cast, cis):
    target = group(cast.org_a, {"severity": "info"}, service=cis["banking"])  # no incident
    other = _with_incident(cast.org_a, cis, {"severity": "major"})
    merge_groups(acting_user=cast.agent, target=target, others=[other])
    target.refresh_from_db()
    assert target.incident_id == other.incident_id  # adopted
    worked = _with_incident(cast.org_a, cis, {"severity": "major"})
    desk.transition_incident(acting_user=cast.agent, incident=worked.incident, transition="start")
    merge_groups(acting_user=cast.agent, target=target, others=[worked])
    worked.incident.refresh_from_db()
    assert worked.incident.state == IncidentState.IN_PROGRESS
    assert "Left open" in _notes(worked.incident)[-1]


def test_merge_refuses_bad_input_and_changes_nothing(cast, cis):
    a = group(cast.org_a, {})
    b = group(cast.org_a, {})
    in_b = group(cast.org_b, {})
    for others, field in (([], "group_ids"), ([a], "group_ids"), ([in_b], "group_ids")):
        with pytest.raises(FieldError) as exc:
            merge_groups(acting_user=cast.agent, target=a, others=others)
        assert field in exc.value.errors
    merge_groups(acting_user=cast.agent, target=a, others=[b])
    with pytest.raises(Conflict):
        merge_groups(acting_user=cast.agent, target=b, others=[a])
    with pytest.raises(Conflict):
        merge_groups(acting_user=cast.agent, target=a, others=[b])
    assert GroupFeedback.objects.count() == 1


@pytest.mark.parametrize("role", ["requester", "auditor"])
def test_merge_split_resolve_need_change_permission(cast, cis, role):
    user = getattr(cast, role)
    a = group(cast.org_a, {}, {})
    b = group(cast.org_a, {})
    with pytest.raises(PermissionDenied):
        merge_groups(acting_user=user, target=a, others=[b])
    with pytest.raises(PermissionDenied):
        split_group(acting_user=user, group=a, alerts=[a.alerts.first()])
    with pytest.raises(PermissionDenied):
        resolve_group(acting_user=user, group=a)
    with pytest.raises(PermissionDenied):
        merge_groups(acting_user=cast.agent_b, target=a, others=[b])
    assert AlertGroup.objects.filter(state=GroupState.OPEN).count() == 2


# --- split -----------------------------------------------------------------------------------------


def test_split_makes_a_group_with_its_own_incident(cast, cis):
    g = _with_incident(
        cast.org_a,
        cis,
        {"severity": "major", "title": "5xx on bank-app"},
        {"severity": "critical", "title": "Mail queue stuck", "ci": cis["mail_srv"]},
    )
    stuck = g.alerts.get(title="Mail queue stuck")
    new = split_group(acting_user=cast.agent, group=g, alerts=[stuck], note="unrelated")
    g.refresh_from_db()
    assert stuck.__class__.objects.get(pk=stuck.pk).group == new
    assert (g.alert_count, g.severity) == (1, "major")
    assert (new.alert_count, new.severity, new.method) == (1, "critical", Method.OPERATOR)
    assert new.incident is not None and new.incident_id != g.incident_id
    assert new.incident.ci == cis["mail_srv"]
    fb = GroupFeedback.objects.get()
    assert (fb.kind, fb.group, fb.other_group, fb.alert_ids) == (
        FeedbackKind.SPLIT,
        g,
        new,
        [stuck.pk],
    )
    assert CorrelationDecision.objects.get(group=new).method == Method.OPERATOR
    assert new.number in _notes(g.incident)[-1]
    assert [r.action for r in _audits(new)] == ["create"]
    assert _audits(g)[-1].changes["alert_count"] == [2, 1]


def test_split_refuses_all_or_foreign_alerts(cast, cis):
    g = group(cast.org_a, {}, {})
    other = group(cast.org_a, {})
    with pytest.raises(FieldError) as exc:
        split_group(acting_user=cast.agent, group=g, alerts=list(g.alerts.all()))
    assert "alert_ids" in exc.value.errors
    with pytest.raises(FieldError) as exc:
        split_group(acting_user=cast.agent, group=g, alerts=list(other.alerts.all()))
    assert "alert_ids" in exc.value.errors
    with pytest.raises(FieldError):
        split_group(acting_user=cast.agent, group=g, alerts=[])
    assert AlertGroup.objects.count() == 2


def test_split_of_resolved_alerts_opens_no_incident(cast, cis):
    g = _with_incident(cast.org_a, cis, {"severity": "major"}, {"status": "resolved"})
    new = split_group(
        acting_user=cast.agent, group=g, alerts=[g.alerts.get(status="resolved")], note=""
    )
    assert new.state == GroupState.RESOLVED and new.incident is None


# --- resolve ---------------------------------------------------------------------------------------


def test_resolve_group_resolves_its_incident(cast, cis):
    g = _with_incident(cast.org_a, cis, {"severity": "major"})
    resolve_group(acting_user=cast.agent, group=g, note="false alarm")
    g.refresh_from_db()
    g.incident.refresh_from_db()
    assert g.state == GroupState.RESOLVED and g.resolved_at is not None
    assert g.incident.state == IncidentState.RESOLVED
    assert g.incident.resolved_by == cast.agent
    assert "false alarm" in g.incident.resolution_notes
    assert _audits(g)[-1].changes["state"] == ["open", "resolved"]
    with pytest.raises(Conflict):
        resolve_group(acting_user=cast.agent, group=g)


def test_resolve_group_leaves_an_incident_another_open_group_feeds(cast, cis):
    g = _with_incident(cast.org_a, cis, {"severity": "major"})
    twin = group(cast.org_a, {}, incident=g.incident)
    resolve_group(acting_user=cast.agent, group=g)
    g.incident.refresh_from_db()
    assert g.incident.state == IncidentState.NEW
    assert twin.number not in _notes(g.incident)[-1]
    assert "still open" in _notes(g.incident)[-1]


def test_merge_ranks_the_root_cause_of_the_merged_group_again(cast, cis):
    early = timezone.now() - timedelta(minutes=5)
    target = group(cast.org_a, {"severity": "major", "ci": cis["app"]})
    other = group(cast.org_a, {"severity": "critical", "ci": cis["db_srv"], "at": early})
    merge_groups(acting_user=cast.agent, target=target, others=[other])
    target.refresh_from_db()
    ranked = [c["ci_id"] for c in target.root_causes]
    assert cis["db_srv"].pk in ranked and cis["app"].pk in ranked
