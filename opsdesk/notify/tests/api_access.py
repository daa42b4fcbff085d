"""Isolation tables (merged into core/tests/test_api_access.py) and real ids (merged into
core/tests/test_bad_input.py) for the notifications and mail-in API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opsdesk.core.testing.cast import Cast

OBJECT, CREATE, LIST, SELF = "object", "create", "list", "self"

OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/notification-preferences"): SELF,
    ("PUT", "/api/v1/notification-preferences"): SELF,
    ("GET", "/api/v1/notifications"): LIST,
    ("POST", "/api/v1/notifications/{notification_id}/retry"): OBJECT,
    ("GET", "/api/v1/chat-webhooks"): LIST,
    ("POST", "/api/v1/chat-webhooks"): CREATE,
    ("PATCH", "/api/v1/chat-webhooks/{webhook_id}"): OBJECT,
    ("DELETE", "/api/v1/chat-webhooks/{webhook_id}"): OBJECT,
    ("GET", "/api/v1/notification-templates"): LIST,
    ("PUT", "/api/v1/notification-templates"): CREATE,
    ("POST", "/api/v1/notification-templates/preview"): SELF,
    ("GET", "/api/v1/inbound-mail"): LIST,
    ("POST", "/api/v1/inbound-mail/{mail_id}/reprocess"): OBJECT,
}


def _notification(org: Any, status: str = "failed") -> int:
    from opsdesk.notify.models import Notification

    found = Notification.objects.filter(organization=org, subject="isolation").first()
    if found is None:
        found = Notification.objects.create(
            organization=org,
            event="created",
            channel="email",
            recipient_address=f"someone@{org.slug}.test",
            subject="isolation",
            status=status,
            attempts=1,
            last_error="refused",
        )
    return found.pk


def _webhook(org: Any) -> int:
    from opsdesk.notify.models import ChatWebhook

    found = ChatWebhook.objects.filter(organization=org, name="isolation").first()
    if found is None:
        found = ChatWebhook.objects.create(
            organization=org,
            name="isolation",
            kind="slack",
            url="https://hooks.slack.invalid/services/T000/B000/secret",
            is_active=False,
        )
    return found.pk


def _mail(org: Any) -> int:
    from opsdesk.notify.models import InboundMail

    found = InboundMail.objects.filter(organization=org, subject="isolation").first()
    if found is None:
        found = InboundMail.objects.create(
            organization=org,
            raw=b"Subject: isolation\r\n\r\nkept for review",
            subject="isolation",
            status="review",
            reason="No From address.",
        )
    return found.pk


def _template(org: Any) -> None:
    from opsdesk.notify.models import NotificationTemplate

    NotificationTemplate.objects.get_or_create(
        organization=org,
        event="created",
        channel="email",
        defaults={"subject": "Got it", "body": "{{ number }}"},
    )


def _rows(cast: Cast) -> None:
    for org in (cast.org_a, cast.org_b):
        _notification(org)
        _webhook(org)
        _mail(org)
        _template(org)


LIST_DATA: list[Callable[[Cast], None]] = [_rows]

PATH_PARAMETERS: dict[str, Callable[[Cast], int]] = {
    "notification_id": lambda c: _notification(c.org_b),
    "webhook_id": lambda c: _webhook(c.org_b),
    "mail_id": lambda c: _mail(c.org_b),
}

BODIES: dict[tuple[str, str], Callable[[Cast], dict]] = {
    ("PUT", "/api/v1/notification-preferences"): lambda c: {
        "preferences": [{"event": "assigned", "email": False}]
    },
    ("POST", "/api/v1/chat-webhooks"): lambda c: {
        "organization_id": c.org_b.pk,
        "name": "Intruder",
        "kind": "slack",
        "url": "https://hooks.slack.invalid/services/intruder",
    },
    ("PUT", "/api/v1/notification-templates"): lambda c: {
        "organization_id": c.org_b.pk,
        "event": "created",
        "channel": "email",
        "subject": "Hijacked",
        "body": "Hijacked {{ number }}",
    },
    ("POST", "/api/v1/notification-templates/preview"): lambda c: {
        "subject": "{{ number }}",
        "body": "Hello {{ recipient }}",
    },
    ("PATCH", "/api/v1/chat-webhooks/{webhook_id}"): lambda c: {
        "url": "https://attacker.invalid/steal"
    },
}

CREATE_IN_B: dict[tuple[str, str], int] = {
    ("POST", "/api/v1/chat-webhooks"): 404,
    ("PUT", "/api/v1/notification-templates"): 404,
}


def _is_b(c: Cast, caller: Any, item: dict) -> bool:
    return item["organization_id"] == c.org_b.pk


LISTS: dict[str, tuple[Callable[[Cast, Any, dict], bool], Callable[[Cast], dict]]] = {
    path: (_is_b, lambda c: {"organization": c.org_b.pk})
    for path in (
        "/api/v1/notifications",
        "/api/v1/chat-webhooks",
        "/api/v1/inbound-mail",
        "/api/v1/notification-templates",
    )
}

REAL_IDS: dict[str, Callable[[Cast], int]] = {
    "notification_id": lambda c: _notification(c.org_a),
    "webhook_id": lambda c: _webhook(c.org_a),
    "mail_id": lambda c: _mail(c.org_a),
}
