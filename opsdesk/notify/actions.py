"""Every write of notifications and mail in: preferences, chat webhooks, templates, retrying
a notification, reprocessing or dismissing a received mail."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from opsdesk.accounts.models import Team
from opsdesk.core.actions import require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action
from opsdesk.notify import rendering
from opsdesk.notify.choices import (
    Event,
    InboundStatus,
    NotificationStatus,
    TemplateChannel,
    WebhookKind,
)
from opsdesk.notify.models import (
    ChatWebhook,
    InboundMail,
    Notification,
    NotificationPreference,
    NotificationTemplate,
)

# --- preferences ---------------------------------------------------------------------------


def preferences_of(user: Any) -> dict[str, dict[str, bool]]:
    """{event: {"email": bool, "chat": bool}} for every event, defaults filled in."""
    stored = {p.event: p for p in NotificationPreference.objects.filter(user_id=user.pk)}
    return {
        event: {
            "email": stored[event].email if event in stored else True,
            "chat": stored[event].chat if event in stored else True,
        }
        for event in Event.values
    }


@transaction.atomic
def set_preferences(*, acting_user: Any, changes: dict[str, dict[str, bool]]) -> dict:
    """Change the caller's own preferences: ``{event: {"email": bool, "chat": bool}}``."""
    if acting_user is None or not getattr(acting_user, "is_authenticated", False):
        raise PermissionDenied("Log in to change your notification preferences.")
    errors: dict[str, str] = {}
    for event, channels in changes.items():
        if event not in Event.values:
            errors[event] = f"Unknown event; one of: {', '.join(Event.values)}."
        elif not isinstance(channels, dict) or set(channels) - {"email", "chat"}:
            errors[event] = 'Give {"email": true|false, "chat": true|false}.'
        elif any(not isinstance(v, bool) for v in channels.values()):
            errors[event] = "Each channel is true or false."
    if errors:
        raise FieldError(errors)
    with acting_as(acting_user):
        for event, channels in changes.items():
            pref = NotificationPreference.objects.filter(
                user_id=acting_user.pk, event=event
            ).first()
            if pref is None:
                pref = NotificationPreference(user_id=acting_user.pk, event=event)
            before = (pref.email, pref.chat, pref.pk)
            pref.email = channels.get("email", pref.email)
            pref.chat = channels.get("chat", pref.chat)
            if (pref.email, pref.chat, pref.pk) != before:
                pref.save()
    return preferences_of(acting_user)


# --- chat webhooks -------------------------------------------------------------------------

WEBHOOK_FIELDS = ("name", "kind", "url", "events", "team", "is_active")


def _check_webhook(hook: ChatWebhook) -> None:
    errors: dict[str, str] = {}
    if not (hook.name or "").strip():
        errors["name"] = "A name is required."
    if hook.kind not in WebhookKind.values:
        errors["kind"] = f"One of: {', '.join(WebhookKind.values)}."
    if not (hook.url or "").lower().startswith(("https://", "http://")):
        errors["url"] = "An http(s) URL of an incoming webhook."
    events = hook.events
    if not isinstance(events, list) or any(e not in Event.values for e in events):
        errors["events"] = f"A list of: {', '.join(Event.values)} (empty: all)."
    if hook.team_id is not None and hook.team.organization_id != hook.organization_id:
        errors["team_id"] = "The team belongs to another organisation."
    if errors:
        raise FieldError(errors)


@transaction.atomic
def create_webhook(
    *,
    acting_user: Any,
    organization: Organization,
    name: str,
    kind: str,
    url: str,
    events: list[str] | None = None,
    team: Team | None = None,
    is_active: bool = True,
) -> ChatWebhook:
    require(acting_user, ChatWebhook, Action.ADD, organization.pk)
    hook = ChatWebhook(
        organization=organization,
        name=(name or "").strip(),
        kind=kind,
        url=(url or "").strip(),
        events=list(events or []),
        team=team,
        is_active=is_active,
    )
    _check_webhook(hook)
    with acting_as(acting_user):
        return save_validated(hook)


@transaction.atomic
def update_webhook(*, acting_user: Any, webhook: ChatWebhook, **changes: Any) -> ChatWebhook:
    require(acting_user, ChatWebhook, Action.CHANGE, webhook.organization_id)
    unknown = sorted(set(changes) - set(WEBHOOK_FIELDS))
    if unknown:
        raise FieldError({name: "This field cannot be changed." for name in unknown})
    for name, value in changes.items():
        if name in ("name", "url") and isinstance(value, str):
            value = value.strip()
        if name == "events":
            value = list(value or [])
        setattr(webhook, name, value)
    _check_webhook(webhook)
    with acting_as(acting_user):
        return save_validated(webhook)


@transaction.atomic
def delete_webhook(*, acting_user: Any, webhook: ChatWebhook) -> None:
    require(acting_user, ChatWebhook, Action.DELETE, webhook.organization_id)
    with acting_as(acting_user):
        webhook.delete()


# --- templates -----------------------------------------------------------------------------


@transaction.atomic
def save_template(
    *,
    acting_user: Any,
    organization: Organization,
    event: str,
    channel: str,
    subject: str,
    body: str,
) -> NotificationTemplate:
    """Create or change the organisation's wording of `event` on `channel`. A template that
    does not render is refused with a 422 naming ``subject`` or ``body``."""
    require(acting_user, NotificationTemplate, Action.CHANGE, organization.pk)
    errors: dict[str, str] = {}
    if event not in Event.values:
        errors["event"] = f"One of: {', '.join(Event.values)}."
    if channel not in TemplateChannel.values:
        errors["channel"] = f"One of: {', '.join(TemplateChannel.values)}."
    if not (body or "").strip():
        errors["body"] = "A body is required."
    if channel == TemplateChannel.EMAIL and not (subject or "").strip():
        errors["subject"] = "A mail needs a subject."
    if errors:
        raise FieldError(errors)
    errors = rendering.validate(subject or "", body)
    if errors:
        raise FieldError(errors)
    template = NotificationTemplate.objects.filter(
        organization=organization, event=event, channel=channel
    ).first() or NotificationTemplate(organization=organization, event=event, channel=channel)
    template.subject = subject or ""
    template.body = body
    with acting_as(acting_user):
        return save_validated(template)


@transaction.atomic
def reset_template(*, acting_user: Any, template: NotificationTemplate) -> None:
    """Remove the organisation's wording: the default is used again."""
    if template.organization_id is None:
        if not getattr(acting_user, "is_superuser", False):
            raise PermissionDenied("Only platform administrators change the defaults.")
    else:
        require(acting_user, NotificationTemplate, Action.DELETE, template.organization_id)
    with acting_as(acting_user):
        template.delete()


# --- the outbox ----------------------------------------------------------------------------


@transaction.atomic
def retry_notification(*, acting_user: Any, notification: Notification) -> Notification:
    """Queue a failed notification again now (also after the automatic attempts ran out)."""
    require(acting_user, Notification, Action.CHANGE, notification.organization_id)
    if notification.status != NotificationStatus.FAILED:
        raise Conflict(
            f"Only failed notifications can be retried; this one is {notification.status}.",
            field="status",
        )
    notification.status = NotificationStatus.PENDING
    notification.next_attempt_at = None
    notification.save(update_fields=["status", "next_attempt_at"])
    pk = notification.pk

    def _queue() -> None:
        from opsdesk.notify.events import enqueue

        enqueue([pk])

    transaction.on_commit(_queue)
    return notification


# --- mail in -------------------------------------------------------------------------------


def _require_mail(user: Any, mail: InboundMail) -> None:
    if mail.organization_id is None:
        if not getattr(user, "is_superuser", False):
            raise PermissionDenied("Only platform administrators handle mail for no organisation.")
        return
    require(user, InboundMail, Action.CHANGE, mail.organization_id)


def reprocess_mail(*, acting_user: Any, mail: InboundMail) -> InboundMail:
    """Process a message kept for review again (after the address or the sender's account
    was fixed). Not atomic as a whole: the mail row keeps its outcome either way."""
    _require_mail(acting_user, mail)
    if mail.status not in (InboundStatus.REVIEW, InboundStatus.IGNORED, InboundStatus.RECEIVED):
        raise Conflict(f"This message is already {mail.status}.", field="status")
    from opsdesk.notify.inbound import process

    return process(mail.pk, force=mail.status == InboundStatus.IGNORED)


@transaction.atomic
def dismiss_mail(*, acting_user: Any, mail: InboundMail, reason: str = "") -> InboundMail:
    _require_mail(acting_user, mail)
    if mail.status != InboundStatus.REVIEW:
        raise Conflict("Only messages waiting for review can be dismissed.", field="status")
    mail.status = InboundStatus.DISMISSED
    who = getattr(acting_user, "email", "")
    mail.reason = (f"Dismissed by {who}" + (f": {reason}" if reason else ""))[:300]
    mail.processed_at = timezone.now()
    mail.save(update_fields=["status", "reason", "processed_at"])
    return mail
