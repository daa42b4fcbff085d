"""Enumerations of service-level management."""

from django.db import models


class Kind(models.TextChoices):
    SLA = "sla", "SLA (customer)"
    OLA = "ola", "OLA (internal team)"
    UC = "uc", "UC (supplier)"


class TicketType(models.TextChoices):
    INCIDENT = "incident", "Incident"


class Metric(models.TextChoices):
    RESPONSE = "response", "First response"
    RESOLUTION = "resolution", "Resolution"


class ClockStatus(models.TextChoices):
    NOT_STARTED = "not_started", "Not started"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    WAITING = "waiting", "With another party"
    STOPPED = "stopped", "Stopped"
    CANCELLED = "cancelled", "Cancelled"


#: Statuses of a clock that can still breach.
LIVE_STATUSES = (ClockStatus.RUNNING, ClockStatus.PAUSED, ClockStatus.WAITING)


class EventKind(models.TextChoices):
    WARNING = "warning", "Warning"
    BREACH = "breach", "Breach"


class EscalationAction(models.TextChoices):
    NOTIFY = "notify", "Notify"
    REASSIGN = "reassign", "Reassign"
    RAISE_PRIORITY = "raise_priority", "Raise priority"


#: Who a "notify" escalation reaches.
NOTIFY_TARGETS = ("assignee", "group", "group_manager", "requester")
