"""Sending one outbox row: email through Django's mail backend, chat through a webhook.

A failure is recorded on the row (status failed, attempts + 1, the error, the time of the
next attempt with exponential backoff) and never raised: the periodic job
`retry_due` tries again until `MAX_ATTEMPTS`, and a person can retry from the outbox.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db.models import F
from django.utils import timezone

from opsdesk.notify.choices import MAX_ATTEMPTS, Channel, NotificationStatus
from opsdesk.notify.models import Notification

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT = 5  # seconds
#: A pending row whose task never ran (lost queue) is picked up after this long.
STUCK_AFTER = timedelta(minutes=10)


def backoff(attempts: int) -> timedelta:
    """2, 4, 8, 16 ... minutes after the n-th failed attempt, at most a day."""
    return timedelta(minutes=min(2**attempts, 24 * 60))


def thread_id(notification: Notification, slug: str, domain: str) -> str:
    """The same Message-ID-like reference for every mail about one ticket, so that mail
    clients thread them (In-Reply-To / References)."""
    return f"<{notification.subject_type}-{notification.subject_id}.{slug}@{domain}>"


def build_email(notification: Notification) -> EmailMessage:
    from opsdesk.notify.events import mail_domain
    from opsdesk.servicedesk.models import ServiceDeskSettings

    org = notification.organization
    number = (notification.data or {}).get("number") or _number(notification)
    subject = notification.subject.replace("\r", " ").replace("\n", " ")
    if number and f"[{number}]" not in subject:
        subject = f"[{number}] {subject}"
    domain = mail_domain()
    headers = {
        "Message-ID": notification.message_id,
        "Auto-Submitted": "auto-generated",
        "X-Auto-Response-Suppress": "All",
        "X-OpsDesk-Loop": org.slug,
    }
    if notification.subject_id:
        ref = thread_id(notification, org.slug, domain)
        headers["In-Reply-To"] = ref
        headers["References"] = ref
    desk = ServiceDeskSettings.objects.filter(organization_id=org.pk).first()
    reply_to = [desk.email_address] if desk and desk.email_address else None
    return EmailMessage(
        subject=subject,
        body=notification.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.recipient_address],
        reply_to=reply_to,
        headers=headers,
    )


def _number(notification: Notification) -> str:
    from opsdesk.servicedesk.timeline import subject_model

    if not notification.subject_type or not notification.subject_id:
        return ""
    try:
        model = subject_model(notification.subject_type)
    except Exception:
        return ""
    found = model._base_manager.filter(pk=notification.subject_id).values("number").first()
    return found["number"] if found else ""


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(notification: Notification) -> dict[str, Any]:
    """Slack incoming-webhook message: ``text`` (fallback, notifications) and Block Kit."""
    facts = notification.data or {}
    text = notification.body
    head = _slack_escape(text)
    if facts.get("url") and facts.get("number"):
        head = f"<{facts['url']}|{_slack_escape(facts['number'])}> {head}"
    context = [
        f"*{label}:* {_slack_escape(str(facts[key]))}"
        for key, label in (("priority", "Priority"), ("state", "State"))
        if facts.get(key)
    ]
    if facts.get("for"):
        context.append("*For:* " + _slack_escape(", ".join(facts["for"])))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": head[:3000]}}
    ]
    if context:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]}
        )
    return {"text": text[:3000], "blocks": blocks}


def teams_payload(notification: Notification) -> dict[str, Any]:
    """Microsoft Teams incoming-webhook message carrying an Adaptive Card attachment."""
    facts = notification.data or {}
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": f"{facts.get('number', '')} {facts.get('title', '')}".strip() or "OpsDesk",
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
        },
        {"type": "TextBlock", "text": notification.body, "wrap": True},
    ]
    fact_rows = [
        {"title": label, "value": str(facts[key])}
        for key, label in (("priority", "Priority"), ("state", "State"))
        if facts.get(key)
    ]
    if facts.get("for"):
        fact_rows.append({"title": "For", "value": ", ".join(facts["for"])})
    if fact_rows:
        body.append({"type": "FactSet", "facts": fact_rows})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if facts.get("url"):
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open", "url": facts["url"]}]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def post_json(url: str, payload: dict[str, Any]) -> int:
    """POST `payload` to `url`; raises on a network error or a non-2xx answer."""
    if not url.lower().startswith(("https://", "http://")):
        raise ValueError("The webhook URL must be http(s).")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "OpsDesk"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as response:  # noqa: S310
        return int(response.status)


def _deliver(notification: Notification) -> None:
    if notification.channel == Channel.EMAIL:
        message = build_email(notification)
        with get_connection(fail_silently=False, timeout=30) as connection:
            message.connection = connection
            message.send()
        return
    hook = notification.webhook
    if hook is None:
        raise RuntimeError("The chat webhook was deleted.")
    if notification.channel == Channel.SLACK:
        post_json(hook.url, slack_payload(notification))
    else:
        post_json(hook.url, teams_payload(notification))


def send(notification_id: int) -> str:
    """Send one notification now; returns its status. Never raises for a delivery error.

    The row is claimed by bumping ``attempts`` conditionally (two workers cannot both win),
    and the network call runs outside any transaction so a slow server holds no lock."""
    notification = (
        Notification.objects.select_related("organization", "webhook")
        .filter(pk=notification_id)
        .first()
    )
    if notification is None:
        return "missing"
    if notification.status == NotificationStatus.SENT:
        return notification.status
    claimed = (
        Notification.objects.filter(pk=notification.pk, attempts=notification.attempts)
        .exclude(status=NotificationStatus.SENT)
        .update(attempts=F("attempts") + 1)
    )
    if not claimed:
        return "busy"
    notification.attempts += 1
    try:
        _deliver(notification)
    except Exception as exc:
        notification.status = NotificationStatus.FAILED
        notification.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        notification.next_attempt_at = (
            timezone.now() + backoff(notification.attempts)
            if notification.attempts < MAX_ATTEMPTS
            else None
        )
        logger.warning("notification %s failed: %s", notification.pk, notification.last_error)
    else:
        notification.status = NotificationStatus.SENT
        notification.sent_at = timezone.now()
        notification.last_error = ""
        notification.next_attempt_at = None
    notification.save(update_fields=["status", "last_error", "next_attempt_at", "sent_at"])
    return notification.status


def due_for_retry(now: Any = None) -> list[int]:
    now = now or timezone.now()
    failed = Notification.objects.filter(
        status=NotificationStatus.FAILED, attempts__lt=MAX_ATTEMPTS, next_attempt_at__lte=now
    )
    stuck = Notification.objects.filter(
        status=NotificationStatus.PENDING, created_at__lt=now - STUCK_AFTER
    )
    return sorted(
        set(failed.values_list("pk", flat=True)) | set(stuck.values_list("pk", flat=True))
    )


def retry_due(now: Any = None) -> dict[str, int]:
    """Send again every failed notification whose backoff has passed (and pending ones whose
    task was lost); returns counts by resulting status."""
    counts: dict[str, int] = {}
    for pk in due_for_retry(now):
        status = send(pk)
        counts[status] = counts.get(status, 0) + 1
    return counts
