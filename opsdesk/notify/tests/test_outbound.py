"""Notifications out, against a real SMTP server and a real HTTP server on loopback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from opsdesk.core.errors import Conflict, FieldError
from opsdesk.core.testing.factories import member
from opsdesk.notify import actions as notify_actions
from opsdesk.notify.choices import Event, NotificationStatus
from opsdesk.notify.delivery import retry_due, send
from opsdesk.notify.models import Notification
from opsdesk.notify.tests.servers import smtp_server, webhook_server
from opsdesk.servicedesk import actions as sd
from opsdesk.servicedesk.models import ServiceDeskSettings

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox():
    with smtp_server() as box:
        yield box


def _incident(cast, capture, **kwargs):
    fields = {
        "acting_user": cast.manager,
        "organization": cast.org_a,
        "title": "Printer on floor 3 does not print",
        "requester": cast.requester,
        "assignment_group": cast.team_a,
        "assignee": cast.agent,
    }
    fields.update(kwargs)
    with capture(execute=True):
        return sd.create_incident(**fields)


def test_new_incident_acknowledges_the_requester_and_tells_the_assignee(
    cast, mailbox, django_capture_on_commit_callbacks
):
    incident = _incident(cast, django_capture_on_commit_callbacks)
    ack = mailbox.to("requester@a.test")
    assert len(ack) == 1
    assert ack[0]["Subject"] == f"[{incident.number}] We received your request: {incident.title}"
    assert incident.number in ack[0].get_content()
    # A requester gets the portal's page of the ticket, an agent the desk's.
    assert f"https://opsdesk.example/portal/incidents/{incident.pk}/" in ack[0].get_content()
    assert ack[0]["Auto-Submitted"] == "auto-generated"
    assert ack[0]["X-OpsDesk-Loop"] == "acme-africa"
    sent = Notification.objects.get(recipient=cast.requester, event=Event.CREATED)
    assert ack[0]["Message-ID"] == sent.message_id
    assert sent.status == NotificationStatus.SENT and sent.attempts == 1
    assert ack[0]["In-Reply-To"] == f"<incident-{incident.pk}.acme-africa@desk.example>"
    assigned = mailbox.to("agent@a.test")
    assert [m["Subject"] for m in assigned] == [
        f"[{incident.number}] Assigned to Alex Agent: {incident.title}"
    ]
    assert f"https://opsdesk.example/desk/incidents/{incident.pk}/" in assigned[0].get_content()
    # The manager who made the change hears nothing about it.
    assert mailbox.to("manager@a.test") == []


def test_group_assignment_goes_to_every_member_but_the_actor(
    cast, mailbox, django_capture_on_commit_callbacks
):
    _incident(cast, django_capture_on_commit_callbacks, acting_user=cast.admin, assignee=None)
    assert len(mailbox.to("agent@a.test")) == 1
    assert len(mailbox.to("manager@a.test")) == 1
    assert "the Service Desk A team" in mailbox.to("manager@a.test")[0].get_content()
    assert mailbox.to("admin@a.test") == []


def test_comments_reach_requester_watchers_and_assignee_but_not_the_author(
    cast, mailbox, django_capture_on_commit_callbacks
):
    watcher = member(cast.org_a, "requester", email="watcher@a.test", full_name="Wendy Watcher")
    incident = _incident(cast, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        sd.watch(acting_user=cast.manager, subject=incident, user=watcher)
        sd.watch(acting_user=cast.manager, subject=incident, user=cast.manager)
    mailbox.messages.clear()
    with django_capture_on_commit_callbacks(execute=True):
        sd.add_comment(acting_user=cast.agent, subject=incident, body="Please try again now.")
    got = {r.rcpt_tos[0] for r in mailbox.messages}
    assert got == {"requester@a.test", "watcher@a.test", "manager@a.test"}
    message = mailbox.to("watcher@a.test")[0]
    assert message["Subject"].startswith(f"[{incident.number}] New comment")
    assert "Please try again now." in message.get_content()
    mailbox.messages.clear()
    with django_capture_on_commit_callbacks(execute=True):
        sd.add_comment(
            acting_user=cast.manager, subject=incident, body="Spooler again.", public=False
        )
    # A work note: the assignee and the watchers who are agents; never the requester.
    assert {r.rcpt_tos[0] for r in mailbox.messages} == {"agent@a.test"}


def test_resolution_goes_to_the_requester_and_state_changes_to_watchers(
    cast, mailbox, django_capture_on_commit_callbacks
):
    incident = _incident(cast, django_capture_on_commit_callbacks)
    mailbox.messages.clear()
    with django_capture_on_commit_callbacks(execute=True):
        sd.transition_incident(acting_user=cast.agent, incident=incident, transition="start")
    assert [m["Subject"] for m in mailbox.to("requester@a.test")] == [
        f"[{incident.number}] Now in progress: {incident.title}"
    ]
    mailbox.messages.clear()
    with django_capture_on_commit_callbacks(execute=True):
        sd.transition_incident(
            acting_user=cast.agent,
            incident=incident,
            transition="resolve",
            resolution_code="solved_remotely",
            resolution_notes="Restarted the spooler.",
        )
    assert [r.rcpt_tos for r in mailbox.messages] == [["requester@a.test"]]
    body = mailbox.messages[0].message.get_content()
    assert "Restarted the spooler." in body and "Alex Agent" in body


def test_preferences_and_inactive_users_are_respected(
    cast, mailbox, django_capture_on_commit_callbacks
):
    notify_actions.set_preferences(acting_user=cast.agent, changes={"assigned": {"email": False}})
    incident = _incident(cast, django_capture_on_commit_callbacks)
    assert mailbox.to("agent@a.test") == []
    assert not Notification.objects.filter(recipient=cast.agent).exists()
    cast.requester.is_active = False
    cast.requester.save()
    mailbox.messages.clear()
    with django_capture_on_commit_callbacks(execute=True):
        sd.add_comment(acting_user=cast.agent, subject=incident, body="Anyone there?")
    assert mailbox.to("requester@a.test") == []


def test_an_approval_request_goes_to_the_approvers(
    cast, mailbox, django_capture_on_commit_callbacks
):
    from opsdesk.servicedesk import timeline

    incident = _incident(cast, django_capture_on_commit_callbacks)
    mailbox.messages.clear()
    with django_capture_on_commit_callbacks(execute=True):
        timeline.record(
            incident,
            "approval",
            actor=cast.agent,
            public=True,
            body="Manager approval: asked Mandla Manager.",
            data={"event": "requested", "approver_ids": [cast.manager.pk]},
        )
        timeline.record(
            incident, "approval", actor=cast.manager, data={"event": "approved", "approver_ids": []}
        )
    assert [r.rcpt_tos for r in mailbox.messages] == [["manager@a.test"]]
    assert (
        mailbox.messages[0].message["Subject"].startswith(f"[{incident.number}] Approval requested")
    )


def test_someone_without_an_account_is_mailed_at_their_address(
    cast, mailbox, django_capture_on_commit_callbacks
):
    incident = _incident(
        cast, django_capture_on_commit_callbacks, requester=None, requester_email="Kim@Else.test"
    )
    assert [m["Subject"] for m in mailbox.to("kim@else.test")] == [
        f"[{incident.number}] We received your request: {incident.title}"
    ]


def test_replies_go_to_the_service_desk_address(cast, mailbox, django_capture_on_commit_callbacks):
    desk = ServiceDeskSettings.for_org(cast.org_a.pk)
    desk.email_address = "help@acme.test"
    desk.save()
    _incident(cast, django_capture_on_commit_callbacks)
    assert mailbox.to("requester@a.test")[0]["Reply-To"] == "help@acme.test"


def test_a_template_an_admin_saved_is_used_and_a_broken_one_is_refused(
    cast, mailbox, django_capture_on_commit_callbacks
):
    with pytest.raises(FieldError) as refused:
        notify_actions.save_template(
            acting_user=cast.admin,
            organization=cast.org_a,
            event="created",
            channel="email",
            subject="Got it",
            body="{% if %}broken",
        )
    assert "body" in refused.value.errors
    with pytest.raises(FieldError) as refused:
        notify_actions.save_template(
            acting_user=cast.admin,
            organization=cast.org_a,
            event="created",
            channel="email",
            subject="{% load static %}{{ number }}",
            body="fine",
        )
    assert "subject" in refused.value.errors
    notify_actions.save_template(
        acting_user=cast.admin,
        organization=cast.org_a,
        event="created",
        channel="email",
        subject="Thanks {{ recipient }}: {{ title|upper }}",
        body="Ticket {{ number }} <b>{{ title }}</b>",
    )
    incident = _incident(cast, django_capture_on_commit_callbacks, title="A & B <broken>")
    mail = mailbox.to("requester@a.test")[0]
    assert mail["Subject"] == f"[{incident.number}] Thanks Rita Requester: A & B <BROKEN>"
    assert f"Ticket {incident.number} <b>A & B <broken></b>" in mail.get_content()


# --- chat webhooks -------------------------------------------------------------------------


def test_slack_and_teams_webhooks_get_their_formats(
    cast, mailbox, django_capture_on_commit_callbacks
):
    with webhook_server() as hook:
        notify_actions.create_webhook(
            acting_user=cast.admin,
            organization=cast.org_a,
            name="Slack #desk",
            kind="slack",
            url=f"{hook.url}/slack",
            events=["created"],
        )
        notify_actions.create_webhook(
            acting_user=cast.admin,
            organization=cast.org_a,
            name="Teams Ops",
            kind="teams",
            url=f"{hook.url}/teams",
            team=cast.team_a,
        )
        notify_actions.create_webhook(
            acting_user=cast.admin_b,
            organization=cast.org_b,
            name="B's Slack",
            kind="slack",
            url=f"{hook.url}/b",
        )
        incident = _incident(cast, django_capture_on_commit_callbacks)
        slack = hook.bodies("/slack")
        assert len(slack) == 1  # subscribed to "created" only
        assert slack[0]["text"] == f"{incident.number} opened: {incident.title} (P5 - Planning)"
        section = slack[0]["blocks"][0]
        assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
        assert section["text"]["text"].startswith(
            f"<https://opsdesk.example/desk/incidents/{incident.pk}/|{incident.number}>"
        )
        assert slack[0]["blocks"][1]["type"] == "context"
        teams = hook.bodies("/teams")
        assert len(teams) == 2  # created and assigned, the incident is team A's
        message = teams[1]
        assert message["type"] == "message"
        attachment = message["attachments"][0]
        assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        card = attachment["content"]
        assert card["type"] == "AdaptiveCard" and card["version"]
        assert card["body"][0]["text"] == f"{incident.number} {incident.title}"
        assert "Alex Agent" in card["body"][1]["text"]
        facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
        assert facts["For"] == "Alex Agent"
        assert card["actions"][0]["url"].endswith(f"/desk/incidents/{incident.pk}/")
        assert hook.bodies("/b") == []  # B's webhook hears nothing of A


def test_a_failing_webhook_is_marked_failed_retried_with_backoff_and_recovers(
    cast, mailbox, django_capture_on_commit_callbacks
):
    with webhook_server() as hook:
        hook.failing.add("/down")
        webhook = notify_actions.create_webhook(
            acting_user=cast.admin,
            organization=cast.org_a,
            name="Flaky",
            kind="slack",
            url=f"{hook.url}/down",
            events=["created"],
        )
        _incident(cast, django_capture_on_commit_callbacks)
        row = Notification.objects.get(webhook=webhook)
        assert row.status == NotificationStatus.FAILED
        assert row.attempts == 1
        assert "500" in row.last_error
        assert row.next_attempt_at > timezone.now()
        # Not due yet: nothing happens.
        assert retry_due() == {}
        later = row.next_attempt_at + timedelta(seconds=1)
        assert retry_due(later) == {"failed": 1}
        row.refresh_from_db()
        assert row.attempts == 2
        assert row.next_attempt_at - timezone.now() > timedelta(minutes=3)  # backoff grew
        hook.failing.clear()
        assert retry_due(row.next_attempt_at + timedelta(seconds=1)) == {"sent": 1}
        row.refresh_from_db()
        assert row.status == NotificationStatus.SENT and row.attempts == 3
        assert len(hook.bodies("/down")) == 3
        with pytest.raises(Conflict):
            notify_actions.retry_notification(acting_user=cast.manager, notification=row)


def test_failed_mail_gives_up_after_five_attempts_until_retried_by_hand(
    cast, django_capture_on_commit_callbacks, settings
):
    from opsdesk.notify.tests.servers import IMMEDIATE_TASKS, free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()  # nobody listens there
    settings.TASKS = IMMEDIATE_TASKS
    _incident(cast, django_capture_on_commit_callbacks)
    row = Notification.objects.filter(recipient=cast.requester).get()
    assert row.status == NotificationStatus.FAILED and "Connection" in row.last_error
    for _ in range(10):
        retry_due(timezone.now() + timedelta(days=2))
    row.refresh_from_db()
    assert row.attempts == 5 and row.next_attempt_at is None
    with django_capture_on_commit_callbacks(execute=True):
        notify_actions.retry_notification(acting_user=cast.manager, notification=row)
    row.refresh_from_db()
    assert row.attempts == 6 and row.status == NotificationStatus.FAILED
    assert send(row.pk) == NotificationStatus.FAILED


def test_an_organisations_chat_wording_is_posted(cast, mailbox, django_capture_on_commit_callbacks):
    notify_actions.save_template(
        acting_user=cast.admin,
        organization=cast.org_a,
        event="created",
        channel="chat",
        subject="",
        body=":rotating_light: {{ number }} from {{ actor }}",
    )
    with webhook_server() as hook:
        notify_actions.create_webhook(
            acting_user=cast.admin,
            organization=cast.org_a,
            name="Slack",
            kind="slack",
            url=f"{hook.url}/s",
            events=["created"],
        )
        incident = _incident(cast, django_capture_on_commit_callbacks)
        assert [b["text"] for b in hook.bodies("/s")] == [
            f":rotating_light: {incident.number} from Mandla Manager"
        ]
