"""Notifications out (preferences, the outbox, chat webhooks, templates) and mail in.

The outbox (`Notification`) holds one row per recipient and channel, written when a
timeline activity is committed and sent by a background task, so a slow or broken mail
server never slows down or breaks the change that caused it, and nothing sent is lost.
Every message received (`InboundMail`) is stored with its raw bytes before anything else
is done with it.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from opsdesk.core.models import ChangeLogged, ChangeLoggedQuerySet, Organization, TenantOwned
from opsdesk.core.permissions import Action, RestrictedQuerySet, Role
from opsdesk.notify.choices import (
    Channel,
    Event,
    InboundStatus,
    NotificationStatus,
    PreferenceChannel,
    TemplateChannel,
    WebhookKind,
)

#: Configuration only admins change; managers read it.
ADMIN_ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.MANAGER: frozenset({Action.VIEW}),
    Role.ADMIN: frozenset({Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE}),
}

#: The outbox and the inbound mail: managers and admins read them and retry/reprocess.
DESK_LOG_ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.MANAGER: frozenset({Action.VIEW, Action.CHANGE}),
    Role.ADMIN: frozenset({Action.VIEW, Action.CHANGE}),
}


class NotificationPreference(ChangeLogged):
    """Whether a person wants `event` by email and named in chat posts. No row: the default
    (email on, chat on)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    event = models.CharField(max_length=20, choices=Event.choices)
    email = models.BooleanField(default=True)
    chat = models.BooleanField(default=True)

    objects = ChangeLoggedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "event"], name="one_preference_per_event")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.event}: email={self.email} chat={self.chat}"

    def wants(self, channel: str) -> bool:
        return self.email if channel == PreferenceChannel.EMAIL else self.chat


class ChatWebhook(TenantOwned, ChangeLogged):
    """A Slack or Microsoft Teams incoming webhook that receives the organisation's events.

    The URL is a secret (whoever has it can post to the channel): it is redacted in the
    audit trail and shown masked."""

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=WebhookKind.choices)
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, blank=True, help_text="Events posted; empty: all.")
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Only tickets assigned to this team.",
    )
    is_active = models.BooleanField(default=True)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = ADMIN_ROLE_ACTIONS
    audit_redact: ClassVar[frozenset[str]] = frozenset({"url"})

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="webhook_name_per_org")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    def wants(self, event: str, team_id: int | None) -> bool:
        if not self.is_active:
            return False
        if self.events and event not in self.events:
            return False
        return self.team_id is None or self.team_id == team_id


def mask_url(url: str) -> str:
    """``https://hooks.slack.com/services/T0/B0/XXXX`` -> ``https://hooks.slack.com/…XXXX``."""
    if not url:
        return ""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0]
    return f"{scheme}://{host}/…{url[-4:]}" if len(url) > len(scheme) + len(host) + 8 else url


class NotificationTemplate(ChangeLogged):
    """The subject and body of one event on one channel, in Django template syntax.

    ``organization`` empty: the platform default, replacing the built-in text for every
    organisation; otherwise an organisation's own wording. See `opsdesk.notify.rendering`
    for what a template may use."""

    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    event = models.CharField(max_length=20, choices=Event.choices)
    channel = models.CharField(max_length=10, choices=TemplateChannel.choices)
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField()

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = ADMIN_ROLE_ACTIONS

    class Meta:
        ordering = ["event", "channel"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "event", "channel"], name="one_template_per_event"
            ),
            models.UniqueConstraint(
                fields=["event", "channel"],
                condition=models.Q(organization__isnull=True),
                name="one_default_template_per_event",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event}/{self.channel} ({self.organization_id or 'default'})"


class Notification(TenantOwned):
    """One message to one recipient on one channel: the outbox.

    Not change-logged: it is itself a log, and the sender updates it at every attempt."""

    event = models.CharField(max_length=20, choices=Event.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    recipient_address = models.CharField(
        max_length=254, blank=True, help_text="The address mailed (e.g. a requester by mail)."
    )
    webhook = models.ForeignKey(
        ChatWebhook, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subject = models.CharField(max_length=400, blank=True)
    body = models.TextField(blank=True)
    subject_type = models.CharField(max_length=20, blank=True)
    subject_id = models.BigIntegerField(null=True, blank=True)
    activity_id = models.BigIntegerField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True, help_text="Facts for chat cards.")
    message_id = models.CharField(max_length=300, blank=True, db_index=True)
    status = models.CharField(
        max_length=10, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = DESK_LOG_ROLE_ACTIONS

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "status", "-created_at"], name="notif_org_status"),
            models.Index(fields=["status", "next_attempt_at"], name="notif_retry"),
        ]

    def __str__(self) -> str:
        return f"{self.event} via {self.channel} to {self.recipient_label}"

    @property
    def recipient_label(self) -> str:
        if self.webhook_id is not None:
            return self.webhook.name if self.webhook else "(deleted webhook)"
        return self.recipient_address


class InboundMail(models.Model):
    """A message received for the service desk, kept raw before it is processed.

    ``organization`` is empty when the recipient address matches no organisation: such a
    message waits for review by a platform administrator."""

    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    raw = models.BinaryField()
    received_at = models.DateTimeField(default=timezone.now)
    mail_from = models.CharField(max_length=320, blank=True, help_text="The envelope sender.")
    rcpt_to = models.JSONField(default=list, blank=True, help_text="The envelope recipients.")
    sender = models.CharField(max_length=320, blank=True, help_text="From: header address.")
    message_id = models.CharField(max_length=300, blank=True, db_index=True)
    subject = models.CharField(max_length=400, blank=True)
    status = models.CharField(
        max_length=12, choices=InboundStatus.choices, default=InboundStatus.RECEIVED
    )
    reason = models.CharField(max_length=300, blank=True, help_text="Why ignored or for review.")
    error = models.TextField(blank=True)
    incident = models.ForeignKey(
        "servicedesk.Incident",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_incident = models.BooleanField(default=False)
    processed_at = models.DateTimeField(null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = DESK_LOG_ROLE_ACTIONS

    class Meta:
        verbose_name = "inbound mail"
        verbose_name_plural = "inbound mail"
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "status", "-received_at"], name="inmail_status")
        ]

    def __str__(self) -> str:
        return f"{self.sender or self.mail_from}: {self.subject}"
