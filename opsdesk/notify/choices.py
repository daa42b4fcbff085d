"""Enumerations of notifications and mail in."""

from django.db import models


class Event(models.TextChoices):
    """What a notification is about; each maps from timeline activity kinds."""

    CREATED = "created", "Ticket created (acknowledgement)"
    ASSIGNED = "assigned", "Assigned"
    COMMENT = "comment", "Public comment"
    WORK_NOTE = "work_note", "Work note"
    STATE_CHANGED = "state_changed", "State changed"
    RESOLVED = "resolved", "Resolved"
    APPROVAL = "approval", "Approval requested"
    SLA_WARNING = "sla_warning", "SLA warning"
    SLA_BREACH = "sla_breach", "SLA breached"


class Channel(models.TextChoices):
    """Where one notification goes."""

    EMAIL = "email", "Email"
    SLACK = "slack", "Slack"
    TEAMS = "teams", "Microsoft Teams"


class PreferenceChannel(models.TextChoices):
    """What a person chooses per event: mail to them, and being named in chat posts."""

    EMAIL = "email", "Email"
    CHAT = "chat", "Chat"


class TemplateChannel(models.TextChoices):
    EMAIL = "email", "Email"
    CHAT = "chat", "Chat (Slack and Teams)"


class WebhookKind(models.TextChoices):
    SLACK = "slack", "Slack"
    TEAMS = "teams", "Microsoft Teams"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class InboundStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored"
    REVIEW = "review", "Needs review"
    DISMISSED = "dismissed", "Dismissed"


#: Attempts after which a failed notification is no longer retried automatically.
MAX_ATTEMPTS = 5
