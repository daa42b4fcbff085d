"""The pages under /notifications/: preferences, templates, webhooks, outbox, mail in."""

from __future__ import annotations

import pytest
from django.test import Client

from opsdesk.notify.models import (
    ChatWebhook,
    InboundMail,
    Notification,
    NotificationPreference,
    NotificationTemplate,
)

pytestmark = pytest.mark.django_db

SECRET_URL = "https://hooks.slack.invalid/services/T000/B000/very-secret-token"


def client_for(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def test_my_preferences_grid_saves_every_box(cast):
    client = client_for(cast.requester)
    page = client.get("/notifications/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="assigned-email" checked' in html
    # A requester sees no admin tabs.
    assert "/notifications/outbox/" not in html and "/notifications/webhooks/" not in html
    ticked = {f"{e}-email": "on" for e in ("created", "comment", "resolved")}
    resp = client.post("/notifications/", {**ticked, "comment-chat": "on"})
    assert resp.status_code == 302
    prefs = {
        p.event: (p.email, p.chat)
        for p in NotificationPreference.objects.filter(user=cast.requester)
    }
    assert prefs.get("comment", (True, True)) == (True, True)  # the default: no row needed
    assert prefs["assigned"] == (False, False)
    assert prefs["resolved"] == (True, False)
    assert 'name="assigned-email">' in client.get("/notifications/").content.decode()


def test_admin_pages_are_refused_to_agents(cast):
    client = client_for(cast.agent)
    for url in (
        "/notifications/templates/",
        "/notifications/templates/created/email/",
        "/notifications/webhooks/",
        "/notifications/webhooks/new/",
        "/notifications/outbox/",
        "/notifications/inbound/",
    ):
        assert client.get(url).status_code == 403, url


def test_template_editor_refuses_a_broken_template_and_previews(cast):
    client = client_for(cast.admin)
    page = client.get("/notifications/templates/")
    assert page.status_code == 200 and "Default" in page.content.decode()
    edit = client.get("/notifications/templates/resolved/email/")
    assert edit.status_code == 200
    assert "INC0000042" in edit.content.decode()  # the preview with sample data
    bad = client.post(
        "/notifications/templates/resolved/email/",
        {"subject": "Done {{ title|nosuch }}", "body": "ok"},
    )
    assert bad.status_code == 422
    assert 'id="error-subject"' in bad.content.decode()
    assert not NotificationTemplate.objects.exists()
    good = client.post(
        "/notifications/templates/resolved/email/",
        {"subject": "Done: {{ title }}", "body": "Bye {{ recipient }}"},
    )
    assert good.status_code == 302
    assert NotificationTemplate.objects.get(organization=cast.org_a, event="resolved").body == (
        "Bye {{ recipient }}"
    )
    preview = client.post(
        "/notifications/templates/preview/",
        {"subject": "[{{ number }}]", "body": "{{ comment|upper }}"},
        HTTP_HX_REQUEST="true",
    )
    assert preview.status_code == 200
    assert "[INC0000042]" in preview.content.decode()
    assert "I HAVE RESTARTED" in preview.content.decode()
    reset = client.post("/notifications/templates/resolved/email/", {"reset": "1"})
    assert reset.status_code == 302 and not NotificationTemplate.objects.exists()
    assert client.get("/notifications/templates/nope/email/").status_code == 404


def test_webhooks_are_added_with_the_url_masked(cast):
    client = client_for(cast.admin)
    resp = client.post(
        "/notifications/webhooks/new/",
        {
            "name": "Ops channel",
            "kind": "teams",
            "url": SECRET_URL,
            "events": ["resolved"],
            "team": cast.team_a.pk,
            "is_active": "on",
        },
    )
    assert resp.status_code == 302, resp.content.decode()
    hook = ChatWebhook.objects.get()
    assert hook.url == SECRET_URL and hook.events == ["resolved"] and hook.team == cast.team_a
    listing = client.get("/notifications/webhooks/").content.decode()
    assert "Ops channel" in listing and "very-secret" not in listing
    edit = client.get(f"/notifications/webhooks/{hook.pk}/").content.decode()
    assert "very-secret" not in edit
    # Saving without a URL keeps the current one.
    resp = client.post(f"/notifications/webhooks/{hook.pk}/", {"name": "Ops", "kind": "teams"})
    assert resp.status_code == 302
    hook.refresh_from_db()
    assert hook.url == SECRET_URL and hook.name == "Ops" and not hook.is_active
    bad = client.post("/notifications/webhooks/new/", {"name": "X", "kind": "slack", "url": "nope"})
    assert bad.status_code == 422 and 'id="error-url"' in bad.content.decode()
    other = ChatWebhook.objects.create(
        organization=cast.org_b, name="B", kind="slack", url=SECRET_URL
    )
    assert client.get(f"/notifications/webhooks/{other.pk}/").status_code == 404
    assert client.post(f"/notifications/webhooks/{hook.pk}/", {"delete": "1"}).status_code == 302
    assert not ChatWebhook.objects.filter(pk=hook.pk).exists()


def test_outbox_lists_and_retries_failed_rows(cast, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from opsdesk.notify.tests.servers import IMMEDIATE_TASKS

    settings.TASKS = IMMEDIATE_TASKS
    row = Notification.objects.create(
        organization=cast.org_a,
        event="comment",
        channel="email",
        recipient_address="someone@a.test",
        subject="Hello there",
        body="x",
        status="failed",
        attempts=5,
        last_error="SMTPServerDisconnected: gone",
    )
    b_row = Notification.objects.create(
        organization=cast.org_b,
        event="comment",
        channel="email",
        recipient_address="b@b.test",
        subject="B's secret",
        status="failed",
    )
    client = client_for(cast.manager)
    page = client.get("/notifications/outbox/?status=failed").content.decode()
    assert (
        "Hello there" in page and "SMTPServerDisconnected" in page and "B&#x27;s secret" not in page
    )
    assert "B's secret" not in page
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(f"/notifications/outbox/{row.pk}/retry/")
    assert resp.status_code == 302
    row.refresh_from_db()
    assert row.status == "sent" and row.attempts == 6
    assert client.post(f"/notifications/outbox/{b_row.pk}/retry/").status_code == 404


def test_inbound_review_list_reprocess_and_dismiss(cast):
    from opsdesk.servicedesk.models import ServiceDeskSettings

    raw = b"From: kim@else.test\r\nTo: help@acme.test\r\nSubject: Printer\r\n\r\nIt jams."
    mail = InboundMail.objects.create(
        organization=cast.org_a,
        raw=raw,
        subject="Printer",
        sender="kim@else.test",
        status="review",
        reason="No organisation has the address",
    )
    junk = InboundMail.objects.create(
        organization=cast.org_a,
        raw=b"\xff\xfe junk",
        subject="",
        status="review",
        reason="Could not be decoded",
    )
    client = client_for(cast.manager)
    page = client.get("/notifications/inbound/?status=review").content.decode()
    assert "Printer" in page and "Needs review" in page
    detail = client.get(f"/notifications/inbound/{mail.pk}/").content.decode()
    assert "It jams." in detail and "Process again" in detail
    assert client.get(f"/notifications/inbound/{junk.pk}/").status_code == 200
    desk = ServiceDeskSettings.for_org(cast.org_a.pk)
    desk.email_address = "help@acme.test"
    desk.save()
    resp = client.post(f"/notifications/inbound/{mail.pk}/action/", {"action": "reprocess"})
    assert resp.status_code == 302
    mail.refresh_from_db()
    assert mail.status == "processed" and mail.incident.title == "Printer"
    resp = client.post(
        f"/notifications/inbound/{junk.pk}/action/", {"action": "dismiss", "reason": "junk"}
    )
    junk.refresh_from_db()
    assert junk.status == "dismissed" and "junk" in junk.reason
    b_mail = InboundMail.objects.create(organization=cast.org_b, raw=b"x", status="review")
    assert client.get(f"/notifications/inbound/{b_mail.pk}/").status_code == 404
    assert (
        client.post(
            f"/notifications/inbound/{b_mail.pk}/action/", {"action": "dismiss"}
        ).status_code
        == 404
    )
