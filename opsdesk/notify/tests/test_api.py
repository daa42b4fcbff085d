"""The notifications and mail-in API: who may do what, and what it returns."""

from __future__ import annotations

import pytest

from opsdesk.core.models import AuditRecord
from opsdesk.core.testing.api import ApiClient, assert_error
from opsdesk.notify.models import ChatWebhook, InboundMail, Notification, NotificationPreference

pytestmark = pytest.mark.django_db

SECRET_URL = "https://hooks.slack.invalid/services/T000/B000/very-secret-token"


def test_preferences_default_on_and_change_per_event(cast, client):
    api = ApiClient(client, cast.agent)
    got = {p["event"]: p for p in api.get("/notification-preferences").json()}
    assert got["assigned"]["email"] is True and got["assigned"]["chat"] is True
    resp = api.request(
        "put",
        "/notification-preferences",
        {
            "preferences": [
                {"event": "assigned", "email": False},
                {"event": "comment", "chat": False},
            ]
        },
    )
    assert resp.status_code == 200, resp.content
    got = {p["event"]: p for p in resp.json()}
    assert got["assigned"] == {**got["assigned"], "email": False, "chat": True}
    assert got["comment"]["chat"] is False and got["comment"]["email"] is True
    assert NotificationPreference.objects.filter(user=cast.agent).count() == 2
    # Someone else's preferences are untouched.
    other = {
        p["event"]: p
        for p in ApiClient(client, cast.manager).get("/notification-preferences").json()
    }
    assert other["assigned"]["email"] is True
    bad = api.request("put", "/notification-preferences", {"preferences": [{"event": "nope"}]})
    assert_error(bad, 422)


def test_webhooks_are_for_admins_and_the_url_is_a_secret(cast, client):
    body = {
        "organization_id": cast.org_a.pk,
        "name": "Slack #ops",
        "kind": "slack",
        "url": SECRET_URL,
        "events": ["assigned", "resolved"],
        "team_id": cast.team_a.pk,
    }
    assert_error(ApiClient(client, cast.agent).post("/chat-webhooks", body), 403)
    assert_error(ApiClient(client, cast.manager).post("/chat-webhooks", body), 403)
    admin = ApiClient(client, cast.admin)
    resp = admin.post("/chat-webhooks", body)
    assert resp.status_code == 201, resp.content
    made = resp.json()
    assert made["url"] != SECRET_URL and made["url"].endswith("oken")
    assert "very-secret" not in resp.content.decode()
    assert made["events"] == ["assigned", "resolved"] and made["team_id"] == cast.team_a.pk
    record = AuditRecord.objects.filter(object_type="notify.chatwebhook").latest("pk")
    assert "very-secret" not in str(record.after) and "very-secret" not in str(record.changes)
    listed = ApiClient(client, cast.manager).get("/chat-webhooks").json()["items"]
    assert [h["name"] for h in listed] == ["Slack #ops"]
    assert "very-secret" not in str(listed)
    assert_error(
        admin.post("/chat-webhooks", {**body, "name": "Other", "url": "ftp://x.y/z"}), 422, "url"
    )
    assert_error(
        admin.post("/chat-webhooks", {**body, "name": "B", "team_id": cast.team_b.pk}),
        422,
        "team_id",
    )
    resp = admin.patch(f"/chat-webhooks/{made['id']}", {"is_active": False, "events": []})
    assert resp.status_code == 200 and resp.json()["is_active"] is False
    assert_error(admin.patch(f"/chat-webhooks/{made['id']}", {"name": None}), 422, "name")
    assert admin.delete(f"/chat-webhooks/{made['id']}").status_code == 204
    assert not ChatWebhook.objects.exists()


def test_the_outbox_is_for_managers_and_admins_and_failed_rows_can_be_retried(
    cast, client, django_capture_on_commit_callbacks, settings
):
    from opsdesk.notify.tests.servers import IMMEDIATE_TASKS, free_port

    settings.TASKS = IMMEDIATE_TASKS
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    row = Notification.objects.create(
        organization=cast.org_a,
        event="comment",
        channel="email",
        recipient_address="someone@a.test",
        subject="Hello",
        body="Body",
        status="failed",
        attempts=1,
        last_error="Connection refused",
    )
    assert ApiClient(client, cast.agent).get("/notifications").json()["items"] == []
    items = (
        ApiClient(client, cast.manager).get("/notifications", {"status": "failed"}).json()["items"]
    )
    assert [i["id"] for i in items] == [row.pk]
    assert items[0]["recipient"] == "someone@a.test"
    assert_error(ApiClient(client, cast.agent).post(f"/notifications/{row.pk}/retry"), 404)
    with django_capture_on_commit_callbacks(execute=True):
        resp = ApiClient(client, cast.manager).post(f"/notifications/{row.pk}/retry")
    assert resp.status_code == 200, resp.content
    assert resp.json()["status"] == "pending"
    row.refresh_from_db()
    assert row.attempts == 2 and row.status == "failed"  # sent again; still nobody there
    row.status = "sent"
    row.save()
    assert_error(ApiClient(client, cast.manager).post(f"/notifications/{row.pk}/retry"), 409)


def test_templates_are_checked_and_previewed(cast, client):
    admin = ApiClient(client, cast.admin)
    base = {"organization_id": cast.org_a.pk, "event": "resolved", "channel": "email"}
    resp = admin.request(
        "put",
        "/notification-templates",
        {**base, "subject": "{{ title|nosuchfilter }}", "body": "x"},
    )
    assert_error(resp, 422, "subject")
    resp = admin.request(
        "put",
        "/notification-templates",
        {**base, "subject": "ok", "body": "{% include 'x.html' %}"},
    )
    assert_error(resp, 422, "body")
    resp = admin.request(
        "put", "/notification-templates", {**base, "subject": "Done: {{ title }}", "body": "Bye"}
    )
    assert resp.status_code == 200, resp.content
    assert_error(
        ApiClient(client, cast.manager).request(
            "put", "/notification-templates", {**base, "subject": "x", "body": "y"}
        ),
        403,
    )
    listed = ApiClient(client, cast.manager).get("/notification-templates").json()["items"]
    assert [(t["event"], t["subject"]) for t in listed] == [("resolved", "Done: {{ title }}")]
    preview = admin.post(
        "/notification-templates/preview",
        {"subject": "{{ number }}", "body": "{{ nope }}!{% if %}"},
    ).json()
    assert preview["subject"] == "INC0000042"
    assert "body" in preview["errors"]


def test_inbound_mail_list_and_reprocess(cast, client):
    from opsdesk.notify.inbound import receive
    from opsdesk.servicedesk.models import ServiceDeskSettings

    kept = receive(b"From: a@b.test\r\nTo: help@acme.test\r\nSubject: hi\r\n\r\nhello")
    assert kept.status == "review" and kept.organization is None
    # Mail that reached no organisation: only platform admins see it.
    assert ApiClient(client, cast.admin).get("/inbound-mail").json()["items"] == []
    mine = InboundMail.objects.create(
        organization=cast.org_a,
        raw=b"From: a@b.test\r\nTo: help@acme.test\r\nSubject: again\r\n\r\nhello",
        status="review",
        reason="For the test",
    )
    items = (
        ApiClient(client, cast.manager).get("/inbound-mail", {"status": "review"}).json()["items"]
    )
    assert [(i["id"], i["size"]) for i in items] == [(mine.pk, len(mine.raw))]
    assert ApiClient(client, cast.agent).get("/inbound-mail").json()["items"] == []
    desk = ServiceDeskSettings.for_org(cast.org_a.pk)
    desk.email_address = "help@acme.test"
    desk.save()
    resp = ApiClient(client, cast.manager).post(f"/inbound-mail/{mine.pk}/reprocess")
    assert resp.status_code == 200, resp.content
    assert resp.json()["status"] == "processed" and resp.json()["created_incident"] is True
    assert_error(ApiClient(client, cast.manager).post(f"/inbound-mail/{mine.pk}/reprocess"), 409)
    assert_error(ApiClient(client, cast.manager).post(f"/inbound-mail/{kept.pk}/reprocess"), 404)
