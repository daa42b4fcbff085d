"""The incident kernel: creation and priority, the declared workflow, assignment rules,
comments, attachments and watchers, and the timeline every change leaves."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.models import AuditRecord
from opsdesk.core.testing.factories import TeamFactory
from opsdesk.servicedesk import actions, timeline
from opsdesk.servicedesk.models import Activity, Attachment, Incident, ServiceDeskSettings
from opsdesk.servicedesk.workflows import INCIDENT

pytestmark = pytest.mark.django_db


def _incident(cast, **fields):
    fields.setdefault("title", "Mail is down")
    return actions.create_incident(acting_user=cast.agent, organization=cast.org_a, **fields)


def test_priority_follows_the_editable_matrix(cast):
    assert _incident(cast, impact=1, urgency=1).priority == 1
    assert _incident(cast, impact=2, urgency=3).priority == 4
    settings = ServiceDeskSettings.for_org(cast.org_a.pk)
    settings.priority_matrix = {**settings.priority_matrix, "2,3": 2}
    settings.save()
    incident = _incident(cast, impact=2, urgency=3)
    assert incident.priority == 2
    actions.update_incident(acting_user=cast.agent, incident=incident, urgency=1, impact=1)
    incident.refresh_from_db()
    assert incident.priority == 1
    change = Activity.objects.filter(subject_id=incident.pk, kind="field").get()
    assert change.data["changes"]["priority"] == [2, 1]


def test_numbers_are_per_organisation(cast):
    a = _incident(cast)
    b = actions.create_incident(acting_user=cast.agent_b, organization=cast.org_b, title="x")
    assert a.number == b.number == "INC0000001"
    assert _incident(cast).number == "INC0000002"


def test_closing_a_new_incident_names_the_allowed_transitions(cast):
    incident = _incident(cast)
    with pytest.raises(Conflict) as exc:
        actions.transition_incident(acting_user=cast.agent, incident=incident, transition="close")
    assert "Allowed from new: start, hold, resolve, cancel" in exc.value.detail


def test_resolving_needs_code_and_notes(cast):
    incident = _incident(cast)
    with pytest.raises(FieldError) as exc:
        actions.transition_incident(acting_user=cast.agent, incident=incident, transition="resolve")
    assert set(exc.value.errors) == {"resolution_code", "resolution_notes"}
    with pytest.raises(FieldError) as exc:
        actions.transition_incident(
            acting_user=cast.agent,
            incident=incident,
            transition="resolve",
            resolution_code="magic",
            resolution_notes="done",
        )
    assert "resolution_code" in exc.value.errors


def test_full_lifecycle_leaves_a_story(cast):
    incident = _incident(cast, assignment_group=cast.team_a)
    actions.assign_incident(
        acting_user=cast.agent, incident=incident, assignment_group=cast.team_a, assignee=cast.agent
    )
    actions.transition_incident(acting_user=cast.agent, incident=incident, transition="start")
    actions.transition_incident(
        acting_user=cast.agent,
        incident=incident,
        transition="hold",
        hold_reason="awaiting_vendor",
    )
    actions.transition_incident(acting_user=cast.agent, incident=incident, transition="start")
    actions.add_comment(acting_user=cast.agent, subject=incident, body="Vendor replied.")
    actions.add_comment(acting_user=cast.agent, subject=incident, body="Internal", public=False)
    actions.transition_incident(
        acting_user=cast.agent,
        incident=incident,
        transition="resolve",
        resolution_code="solved_permanently",
        resolution_notes="Restarted the relay.",
    )
    incident.refresh_from_db()
    assert incident.state == "resolved" and incident.resolved_by == cast.agent
    assert incident.hold_reason == ""
    assert incident.first_contact_resolution  # opened and resolved by the same agent
    kinds = list(timeline.timeline(cast.agent, incident).values_list("kind", flat=True))
    assert kinds == [
        "created",
        "assigned",
        "assigned",
        "state",
        "state",
        "state",
        "comment",
        "work_note",
        "state",
    ]
    public = list(timeline.timeline(cast.requester, incident).values_list("kind", flat=True))
    assert "work_note" not in public and "assigned" not in public
    assert (
        AuditRecord.objects.filter(object_type="servicedesk.activity", action="create").count() == 2
    )


def test_reopen_counts_and_clears_resolution(cast):
    incident = _incident(cast, requester=cast.requester)
    actions.transition_incident(
        acting_user=cast.agent,
        incident=incident,
        transition="resolve",
        resolution_code="solved_workaround",
        resolution_notes="Workaround given.",
    )
    with pytest.raises(FieldError):
        actions.transition_incident(
            acting_user=cast.requester, incident=incident, transition="reopen"
        )
    actions.transition_incident(
        acting_user=cast.requester, incident=incident, transition="reopen", reason="Still broken"
    )
    incident.refresh_from_db()
    assert incident.state == "in_progress" and incident.reopen_count == 1
    assert incident.resolved_at is None


def test_assignee_must_be_in_the_group(cast):
    incident = _incident(cast)
    other = TeamFactory(organization=cast.org_a, name="Network", slug="network")
    with pytest.raises(FieldError) as exc:
        actions.assign_incident(
            acting_user=cast.agent, incident=incident, assignment_group=other, assignee=cast.agent
        )
    assert "assignee_id" in exc.value.errors
    with pytest.raises(FieldError) as exc:
        actions.assign_incident(
            acting_user=cast.agent, incident=incident, assignment_group=cast.team_b
        )
    assert "assignment_group_id" in exc.value.errors


def test_reassignment_is_counted(cast):
    incident = _incident(cast)
    actions.assign_incident(acting_user=cast.agent, incident=incident, assignment_group=cast.team_a)
    assert incident.reassignment_count == 0
    other = TeamFactory(organization=cast.org_a, name="Network", slug="network")
    actions.assign_incident(acting_user=cast.agent, incident=incident, assignment_group=other)
    assert incident.reassignment_count == 1


def test_requester_raises_for_themselves_only(cast):
    incident = actions.create_incident(
        acting_user=cast.requester,
        organization=cast.org_a,
        title="Printer",
        impact=1,
        assignment_group=cast.team_a,
    )
    assert incident.requester == cast.requester and incident.impact == 3
    assert incident.assignment_group is None
    assert list(Incident.objects.restrict(cast.requester)) == [incident]
    _incident(cast)  # someone else's
    assert Incident.objects.restrict(cast.requester).count() == 1
    with pytest.raises(PermissionDenied):
        actions.assign_incident(
            acting_user=cast.requester, incident=incident, assignment_group=cast.team_a
        )
    with pytest.raises(PermissionDenied):
        actions.add_comment(acting_user=cast.requester, subject=incident, body="x", public=False)
    actions.add_comment(acting_user=cast.requester, subject=incident, body="Any news?")


def test_other_organisation_cannot_touch(cast):
    incident = _incident(cast)
    with pytest.raises(PermissionDenied):
        actions.transition_incident(acting_user=cast.agent_b, incident=incident, transition="start")
    assert not Incident.objects.restrict(cast.agent_b).filter(pk=incident.pk).exists()


def test_final_states_are_read_only(cast):
    incident = _incident(cast)
    actions.transition_incident(
        acting_user=cast.agent, incident=incident, transition="cancel", reason="Duplicate"
    )
    with pytest.raises(Conflict) as exc:
        actions.update_incident(acting_user=cast.agent, incident=incident, title="x")
    assert exc.value.field == "state"
    with pytest.raises(Conflict) as exc:
        actions.transition_incident(acting_user=cast.agent, incident=incident, transition="start")
    assert "none (this is a final state)" in exc.value.detail


def test_auto_close_after_n_days(cast):
    incident = _incident(cast)
    actions.transition_incident(
        acting_user=cast.agent,
        incident=incident,
        transition="resolve",
        resolution_code="solved_permanently",
        resolution_notes="ok",
        at=timezone.now() - timedelta(days=8),
    )
    fresh = _incident(cast)
    actions.transition_incident(
        acting_user=cast.agent,
        incident=fresh,
        transition="resolve",
        resolution_code="solved_permanently",
        resolution_notes="ok",
    )
    assert actions.auto_close_resolved() == 1
    incident.refresh_from_db()
    fresh.refresh_from_db()
    assert incident.state == "closed" and fresh.state == "resolved"


def test_attachment_rules_and_quarantine(cast):
    incident = _incident(cast)
    ok = actions.add_attachment(
        acting_user=cast.agent, subject=incident, filename="log.txt", content=b"hello"
    )
    assert ok.size == 5 and not ok.quarantined and ok.file.read() == b"hello"
    with pytest.raises(FieldError) as exc:
        actions.add_attachment(
            acting_user=cast.agent, subject=incident, filename="evil.exe", content=b"MZ"
        )
    assert "file" in exc.value.errors
    kept = actions.add_attachment(
        acting_user=None,
        subject=incident,
        filename="evil.exe",
        content=b"MZ",
        keep_for_review=True,
    )
    assert kept.quarantined and "not allowed" in kept.quarantine_reason
    assert Attachment.objects.restrict(cast.requester).count() == 0  # not the requester's


def test_watchers(cast):
    incident = _incident(cast)
    assert actions.watch(acting_user=cast.agent, subject=incident, user=cast.manager)
    assert not actions.watch(acting_user=cast.agent, subject=incident, user=cast.manager)
    with pytest.raises(FieldError):
        actions.watch(acting_user=cast.agent, subject=incident, user=cast.agent_b)


def test_signal_fires_after_commit_only(cast, django_capture_on_commit_callbacks):
    seen = []

    def listener(sender, activity, **kwargs):
        seen.append(activity.kind)

    timeline.activity_recorded.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            _incident(cast)
        assert seen == ["created"]
    finally:
        timeline.activity_recorded.disconnect(listener)


def test_workflow_is_data():
    data = INCIDENT.as_dict()
    assert {t["name"] for t in data["transitions"]} == {
        "start",
        "hold",
        "resolve",
        "close",
        "reopen",
        "cancel",
    }


def test_silenced_history_tells_nobody(cast, django_capture_on_commit_callbacks):
    seen = []

    def listener(sender, activity, **kwargs):
        seen.append(activity.kind)

    timeline.activity_recorded.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True), timeline.silenced():
            incident = _incident(cast)
        assert seen == []
        assert Activity.objects.filter(subject_id=incident.pk, kind="created").exists()
        with django_capture_on_commit_callbacks(execute=True):
            actions.add_comment(acting_user=cast.agent, subject=incident, body="Now loud.")
        assert seen == ["comment"]
    finally:
        timeline.activity_recorded.disconnect(listener)


def test_fast_select_renders_choices_escaped_and_selected():
    from opsdesk.servicedesk.forms import FastSelect

    widget = FastSelect(choices=[("", "Any"), (7, "Ann <admin>"), (9, "Bob")])
    html = widget.render("assignee", 7, attrs={"id": "id_assignee"})
    assert html.startswith('<select name="assignee" id="id_assignee">')
    assert '<option value="7" selected>Ann &lt;admin&gt;</option>' in html
    assert '<option value="9">Bob</option>' in html
    assert '<option value="">Any</option>' in html
