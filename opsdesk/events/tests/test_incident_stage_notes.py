"""The incident stage writes its work notes together (`desk.add_comments`), before any
other change to an incident with a note waiting, so every timeline keeps its order."""

from __future__ import annotations

import pytest

from opsdesk.core.models import AuditRecord
from opsdesk.events import pipeline
from opsdesk.events.stages import incident as stage
from opsdesk.servicedesk import actions as desk
from opsdesk.servicedesk.choices import ActivityKind
from opsdesk.servicedesk.models import Activity

pytestmark = pytest.mark.django_db


def _incident(cast, title):
    return desk.create_incident(
        acting_user=None, system=pipeline.SYSTEM_ACTOR, organization=cast.org_a, title=title
    )


def _bodies():
    return list(
        Activity.objects.filter(kind=ActivityKind.WORK_NOTE)
        .order_by("pk")
        .values_list("body", flat=True)
    )


def test_notes_wait_for_the_end_or_the_next_change_to_their_incident(cast):
    a, b = _incident(cast, "a"), _incident(cast, "b")
    with stage._collecting_notes() as notes:
        stage.note(a, "first on a", {"event": "updated"})
        stage.note(b, "on b", {"event": "updated"})
        assert _bodies() == []
        stage._before_change(b)  # another change to b: the waiting notes go first
        assert _bodies() == ["first on a", "on b"]
        stage.note(a, "second on a", {"event": "updated"})
        stage._before_change(b)  # nothing of b waits: a's note still waits
        assert _bodies() == ["first on a", "on b"]
        notes.flush()
    assert _bodies() == ["first on a", "on b", "second on a"]
    rows = Activity.objects.filter(kind=ActivityKind.WORK_NOTE)
    assert {r.actor_name for r in rows} == {pipeline.SYSTEM_ACTOR}
    assert all(r.data["alert_group"] and not r.public and r.actor_id is None for r in rows)
    audited = AuditRecord.objects.filter(
        object_type="servicedesk.activity", object_id__in=[str(r.pk) for r in rows]
    )
    assert audited.count() == 3
    record = audited.get(object_id=str(rows.get(body="on b").pk))
    assert record.action == "create" and record.after["body"] == "on b"
    assert record.changes["body"] == [None, "on b"]


def test_outside_the_stage_a_note_is_written_at_once(cast):
    a = _incident(cast, "a")
    stage.note(a, "now", {"event": "resolved"})
    assert _bodies() == ["now"]


def test_an_empty_note_is_refused_like_a_comment(cast):
    from opsdesk.core.errors import FieldError, PermissionDenied

    a = _incident(cast, "a")
    with pytest.raises(FieldError):
        desk.add_comments(acting_user=None, comments=[{"subject": a, "body": "  "}])
    with pytest.raises(PermissionDenied):  # permission is checked per ticket
        desk.add_comments(acting_user=cast.requester, comments=[{"subject": a, "body": "x"}])
