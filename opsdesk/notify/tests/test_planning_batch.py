"""Planning the activities of one transaction together writes the same outbox rows as
planning each on its own, with the shared reads done once."""

from __future__ import annotations

import pytest
from django.db import transaction

from opsdesk.notify import events
from opsdesk.notify.models import ChatWebhook, Notification
from opsdesk.servicedesk import actions as sd
from opsdesk.servicedesk.models import Activity

pytestmark = pytest.mark.django_db


def _rows():
    return [
        (n.activity_id, n.event, n.channel, n.recipient_id, n.recipient_address, n.subject, n.body)
        for n in Notification.objects.order_by("pk")
    ]


def test_batched_planning_writes_what_planning_each_activity_writes(
    cast, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    ChatWebhook.objects.create(
        organization=cast.org_a, name="all", kind="slack", url="https://hooks.example/all"
    )
    ChatWebhook.objects.create(
        organization=cast.org_a,
        name="team",
        kind="teams",
        url="https://hooks.example/team",
        team=cast.team_a,
        events=["work_note", "assigned"],
    )
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        incident = sd.create_incident(
            acting_user=cast.manager,
            organization=cast.org_a,
            title="Printer on floor 3 does not print",
            requester=cast.requester,
            assignment_group=cast.team_a,
            assignee=cast.agent,
        )
        other = sd.create_incident(
            acting_user=cast.manager, organization=cast.org_a, title="No coffee", requester=None
        )
        sd.watch(acting_user=cast.agent, subject=incident, user=cast.manager)
        sd.add_comment(acting_user=cast.agent, subject=incident, body="Looking at it.")
        sd.add_comment(acting_user=cast.agent, subject=incident, body="Toner?", public=False)
        sd.add_comment(acting_user=cast.manager, subject=other, body="Noted.", public=False)
        sd.transition_incident(acting_user=cast.agent, incident=incident, transition="start")
    activities = list(Activity.objects.filter(organization=cast.org_a).order_by("pk"))
    assert len(activities) >= 7
    for activity in activities:
        events.plan(activity)
    one_by_one = _rows()
    assert len(one_by_one) >= 8
    Notification.objects.all().delete()
    for callback in callbacks:
        callback()
    assert _rows() == one_by_one


def test_planning_loads_tickets_watchers_and_webhooks_once(cast, django_assert_num_queries):
    incidents = [
        sd.create_incident(acting_user=cast.manager, organization=cast.org_a, title=f"t{n}")
        for n in range(5)
    ]
    notes = [
        sd.add_comment(acting_user=None, subject=i, body="x", public=False, actor_name="bot")
        for i in incidents
    ]
    with django_assert_num_queries(3):  # tickets, watchers, webhooks
        events.on_activities_recorded(Activity, notes)
