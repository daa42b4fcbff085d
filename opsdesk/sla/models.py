"""Service-level definitions (SLA, OLA, UC), the clocks computed from ticket history, the
warnings and breaches raised on them, and the log of recomputations.

A `Clock` is derived data: `opsdesk.sla.clocks.recompute` rebuilds it from the ticket's
timeline at any time (replay). What is *not* derived is `ClockEvent`: a warning or breach
is a fact recorded once (a unique constraint), acted on once (escalations), never twice.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.utils import timezone

from opsdesk.core.models import BusinessCalendar, ChangeLogged, ChangeLoggedQuerySet, TenantOwned
from opsdesk.core.permissions import Action, RestrictedQuerySet, Role
from opsdesk.sla.choices import ClockStatus, EventKind, Kind, Metric, TicketType

DEFINITION_ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.AGENT: frozenset({Action.VIEW}),
    Role.MANAGER: frozenset({Action.VIEW}),
    Role.AUDITOR: frozenset({Action.VIEW, Action.AUDIT}),
    Role.ADMIN: frozenset({Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE, Action.AUDIT}),
}

#: Clocks are read by whoever works tickets; requesters see their own tickets' SLA via the
#: ticket, not this table.
CLOCK_ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.AGENT: frozenset({Action.VIEW}),
    Role.MANAGER: frozenset({Action.VIEW}),
    Role.AUDITOR: frozenset({Action.VIEW}),
    Role.ADMIN: frozenset({Action.VIEW}),
}


def default_thresholds() -> list[int]:
    return [50, 75, 90]


def default_pause() -> list[str]:
    return ["on_hold:awaiting_requester"]


def default_stop() -> list[str]:
    return ["resolved", "closed", "cancelled"]


class Definition(TenantOwned, ChangeLogged):
    """An SLA (customer), OLA (internal team) or UC (supplier): what it applies to, its
    targets per priority, its calendar and the ticket states that start, pause, stop and
    reset its clocks. Targets are business minutes on the calendar."""

    name = models.CharField(max_length=150)
    kind = models.CharField(max_length=3, choices=Kind.choices, default=Kind.SLA)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    customer = models.CharField(
        max_length=200, blank=True, help_text="SLA: the customer it is agreed with."
    )
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="OLA: the team (assignment group) it binds; its clock runs while the team "
        "holds the ticket.",
    )
    vendor = models.ForeignKey(
        "vendors.Vendor",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="UC: the supplier it binds.",
    )
    ticket_type = models.CharField(
        max_length=20, choices=TicketType.choices, default=TicketType.INCIDENT
    )
    services = models.ManyToManyField(
        "cmdb.ConfigurationItem",
        blank=True,
        related_name="+",
        help_text="Business services it covers; none means every service.",
    )
    priorities = models.JSONField(
        default=list, blank=True, help_text="Priorities it covers (1-5); empty means all."
    )
    conditions = models.JSONField(
        default=list,
        blank=True,
        help_text='Further conditions: [{"field": "channel", "op": "eq", "value": "email"}].',
    )
    response_minutes = models.JSONField(
        default=dict, blank=True, help_text='First-response target per priority: {"1": 15}.'
    )
    resolution_minutes = models.JSONField(
        default=dict, blank=True, help_text='Resolution target per priority: {"1": 240}.'
    )
    calendar = models.ForeignKey(
        BusinessCalendar,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty: the ticket's country calendar, else the organisation's default.",
    )
    start_when = models.JSONField(
        default=list, blank=True, help_text="States that start the clock; empty: on creation."
    )
    pause_when = models.JSONField(default=default_pause, blank=True)
    stop_when = models.JSONField(default=default_stop, blank=True)
    reset_when = models.JSONField(
        default=list, blank=True, help_text='"reopen" and/or "priority_change".'
    )
    run_when = models.JSONField(
        default=list,
        blank=True,
        help_text="Only these states count (a UC counts while awaiting the vendor); empty: "
        "every state that is not paused.",
    )
    warning_thresholds = models.JSONField(default=default_thresholds, blank=True)
    escalations = models.JSONField(
        default=list,
        blank=True,
        help_text='[{"at": 75, "action": "notify", "to": "group_manager"}, '
        '{"at": 90, "action": "raise_priority"}, {"at": 100, "action": "reassign", "team": 3}]',
    )
    version = models.PositiveIntegerField(default=1)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = DEFINITION_ROLE_ACTIONS

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="sla_definition_name")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display().split(' ')[0]} {self.name}"


class ClockQuerySet(RestrictedQuerySet):
    pass


class Clock(TenantOwned):
    """One clock of one ticket under one definition and metric, as last computed.

    service, team, vendor and priority are copied from the ticket and definition so that
    reports group without joins.
    """

    # No index of its own: clock_report starts with it (and the planner, given both, picks
    # the narrower one and filters millions of rows).
    organization = models.ForeignKey(
        "core.Organization", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    definition = models.ForeignKey(
        Definition,
        on_delete=models.CASCADE,
        related_name="clocks",
        db_index=False,  # the unique constraint starts with definition
    )
    kind = models.CharField(max_length=3, choices=Kind.choices)
    metric = models.CharField(max_length=12, choices=Metric.choices)
    subject_type = models.CharField(max_length=20, default="incident")
    subject_id = models.BigIntegerField()
    number = models.CharField(max_length=32, blank=True, help_text="The ticket's number.")
    service = models.ForeignKey(
        "cmdb.ConfigurationItem",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        related_name="+",
    )
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        db_index=False,  # reports group on it within an organisation's period
        related_name="+",
        help_text="OLA: its team; otherwise the ticket's assignment group.",
    )
    vendor = models.ForeignKey(
        "vendors.Vendor",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    priority = models.PositiveSmallIntegerField(default=5)
    calendar = models.ForeignKey(
        BusinessCalendar,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    status = models.CharField(
        max_length=12, choices=ClockStatus.choices, default=ClockStatus.NOT_STARTED
    )
    target_seconds = models.PositiveIntegerField()
    elapsed_seconds = models.PositiveIntegerField(default=0, help_text="Business time counted.")
    paused_seconds = models.PositiveIntegerField(default=0, help_text="Wall time paused.")
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(
        null=True, blank=True, help_text="When the target runs out if the clock keeps running."
    )
    breached = models.BooleanField(default=False)
    breached_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(
        null=True, blank=True, help_text="The next warning or breach the sweep must look at."
    )
    breach_probability = models.FloatField(null=True, blank=True)
    prediction = models.JSONField(
        default=dict, blank=True, help_text="How the probability was reached (see prediction)."
    )
    predicted_at = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField(default=timezone.now)
    definition_version = models.PositiveIntegerField(default=1)

    objects = ClockQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = CLOCK_ROLE_ACTIONS

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["definition", "subject_type", "subject_id", "metric"],
                name="one_clock_per_ticket_definition_metric",
            )
        ]
        indexes = [
            models.Index(fields=["subject_type", "subject_id"], name="clock_subject"),
            models.Index(fields=["status", "next_check_at"], name="clock_sweep"),
            # Reports read a period's stopped clocks of an organisation; on PostgreSQL the
            # counted and grouped columns are in the index: the report scans only the index.
            models.Index(
                fields=["organization", "kind", "stopped_at"],
                include=[
                    "metric",
                    "status",
                    "breached",
                    "service",
                    "priority",
                    "team",
                    "vendor",
                    "definition",
                ],
                name="clock_report",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.definition.name if self.definition_id else ''} {self.metric}"

    @property
    def percent(self) -> float:
        return 100.0 * self.elapsed_seconds / self.target_seconds if self.target_seconds else 0.0

    def remaining_seconds(self, now: Any = None) -> float:
        """Business seconds left (negative once breached), as of `now` for a running clock."""
        if self.status == ClockStatus.RUNNING and self.due_at is not None:
            from opsdesk.sla.calendars import calendar_for_clock

            now = now or timezone.now()
            cal = calendar_for_clock(self)
            if now <= self.due_at:
                return cal.business_seconds(now, self.due_at)
            return -cal.business_seconds(self.due_at, now)
        return float(self.target_seconds - self.elapsed_seconds)


class ClockEvent(TenantOwned):
    """A warning threshold or the breach, crossed by a clock: recorded once, acted on once."""

    clock = models.ForeignKey(Clock, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=10, choices=EventKind.choices)
    threshold = models.PositiveSmallIntegerField(help_text="Percent of the target; 100 = breach.")
    at = models.DateTimeField(help_text="When the clock crossed it.")
    recorded_at = models.DateTimeField(default=timezone.now)
    actions = models.JSONField(default=list, blank=True, help_text="Escalations performed.")

    objects = RestrictedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = CLOCK_ROLE_ACTIONS

    class Meta:
        ordering = ["at"]
        constraints = [
            models.UniqueConstraint(
                fields=["clock", "kind", "threshold"], name="one_event_per_clock_threshold"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.threshold}% {self.clock_id}"


class Recompute(TenantOwned):
    """A recomputation of open clocks after a calendar or definition changed: why, and what
    moved."""

    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=300)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    tickets = models.PositiveIntegerField(default=0)
    clocks = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0, help_text="Clocks whose due time moved.")
    details = models.JSONField(default=list, blank=True, help_text="[{number, metric, from, to}]")

    objects = RestrictedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = DEFINITION_ROLE_ACTIONS

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.reason}"
