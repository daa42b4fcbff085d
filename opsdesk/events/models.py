"""Event management: the integrations monitoring tools post through, the durable inbox, the
deduplicated alerts and their history, alert groups (one incident each), silences, per
organisation correlation settings, operator feedback, and self-healing runbooks."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from opsdesk.core.models import (
    ChangeLogged,
    ChangeLoggedQuerySet,
    Numbered,
    Organization,
    TenantOwned,
)
from opsdesk.core.permissions import DEFAULT_ROLE_ACTIONS, MANAGED_CONFIG_ROLE_ACTIONS
from opsdesk.core.sealed import SealedJSONField, SealedTextField
from opsdesk.events.choices import (
    EventStatus,
    FeedbackKind,
    GroupState,
    InboxState,
    Method,
    RunbookActionKind,
    RunState,
    Severity,
    Source,
)

#: Operational records (alerts, groups, silences, runbook runs): agents work them, managers
#: also delete, auditors read (the platform default).
EVENT_ROLE_ACTIONS = DEFAULT_ROLE_ACTIONS
#: Configuration (integrations, settings, runbooks): managers and admins write, agents and
#: auditors read.
EVENT_CONFIG_ROLE_ACTIONS = MANAGED_CONFIG_ROLE_ACTIONS

_USER = settings.AUTH_USER_MODEL
_CI = "cmdb.ConfigurationItem"


def _organization_unindexed() -> models.ForeignKey:
    """`TenantOwned.organization` without its own index, for the pipeline's high-volume
    tables whose composite indexes (or unique constraint) already start with it: every
    index is written for every row the pipeline inserts or moves."""
    return models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="+", db_index=False
    )


def _log_reference(to: Any, **options: Any) -> models.ForeignKey:
    """A reference from the pipeline's append-only logs (alert history, correlation
    decisions) without a database-level foreign key constraint, as Sentry does for its
    high-volume tables. Django's constraints are DEFERRABLE INITIALLY DEFERRED, so
    PostgreSQL checks every reference of every row inserted at the commit: measured, 5,000
    history rows took 53 ms to insert and 63 ms more to commit. The rows reference alerts,
    groups and inbox entries that the same transaction wrote or read (the pipeline never
    makes them up), nothing deletes alerts or groups but through the ORM (which cascades
    or nulls these references itself, `on_delete`), and organisations are protected."""
    return models.ForeignKey(to, db_constraint=False, **options)


class EventIntegration(TenantOwned, ChangeLogged):
    """A monitoring source allowed to post events: its own bearer token (stored hashed) and,
    where the source can sign, an HMAC secret. ``options`` holds source specifics (e.g. the
    SNS topic ARNs a CloudWatch integration accepts)."""

    name = models.CharField(max_length=200)
    source = models.CharField(max_length=20, choices=Source.choices)
    token_hash = models.CharField(max_length=128, unique=True)
    token_prefix = models.CharField(max_length=12, blank=True)
    secret = SealedTextField(blank=True, help_text="HMAC secret, stored sealed.")
    default_service = models.ForeignKey(
        _CI, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    options = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = EVENT_CONFIG_ROLE_ACTIONS
    audit_exclude = frozenset({"updated_at", "token_hash", "secret", "last_used_at"})

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="event_integration_name")
        ]

    def __str__(self) -> str:
        return self.name


class InboxEntry(TenantOwned):
    """One accepted intake request: its normalised events and (size-limited) raw body, stored
    before the request is acknowledged. Workers process pending entries through the pipeline
    and mark them done in the same transaction as the effects, so a crash never loses or
    doubles an acknowledged event."""

    integration = models.ForeignKey(
        EventIntegration, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=20, choices=Source.choices)
    received_at = models.DateTimeField(default=timezone.now)
    content_type = models.CharField(max_length=200, blank=True)
    raw = models.TextField(blank=True, help_text="The request body, cut at RAW_LIMIT bytes.")
    raw_truncated = models.BooleanField(default=False)
    events = models.JSONField(default=list, help_text="The normalised events, in order.")
    event_count = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=10, choices=InboxState.choices, default=InboxState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    locked_by = models.CharField(max_length=200, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    #: "db" or "nats": which transport carries the entry to the workers.
    transport = models.CharField(max_length=10, default="db")

    role_actions: ClassVar[dict[str, frozenset[str]]] = EVENT_CONFIG_ROLE_ACTIONS

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["state", "id"], name="event_inbox_pending")]

    def __str__(self) -> str:
        return f"inbox {self.pk} ({self.source}, {self.event_count} events, {self.state})"


class CorrelationSettings(TenantOwned, ChangeLogged):
    """How one organisation's events are grouped and turned into incidents."""

    window_seconds = models.PositiveIntegerField(
        default=600, help_text="Events further apart than this never join the same group."
    )
    topology_hops = models.PositiveSmallIntegerField(
        default=3, help_text="CIs within this many CMDB hops correlate."
    )
    group_by = models.JSONField(
        default=list,
        blank=True,
        help_text="Labels whose equal values group events in the time window, e.g. "
        '["alertname", "cluster"]; empty = time correlation off.',
    )
    text_similarity = models.FloatField(
        default=0.8, help_text="Template similarity (0-1) above which events correlate by text."
    )
    flap_transitions = models.PositiveSmallIntegerField(
        default=4, help_text="Status changes within the flap window that mark an alert flapping."
    )
    flap_window_seconds = models.PositiveIntegerField(default=900)
    open_incidents = models.BooleanField(
        default=True, help_text="Alert groups open, update and resolve incidents."
    )
    incident_min_severity = models.CharField(
        max_length=10, choices=Severity.choices, default=Severity.WARNING
    )
    incident_team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolve_after_seconds = models.PositiveIntegerField(
        default=300, help_text="A group whose alerts all resolved stays open this long."
    )
    propagation_seconds = models.PositiveIntegerField(
        default=180,
        help_text="A topology join needs an alert of the group on the connecting CI that "
        "started at most this long before or after the new one (how long a failure takes to "
        "reach what depends on it and be noticed).",
    )
    reopen_seconds = models.PositiveIntegerField(
        default=3600,
        help_text="A group that fires again this soon after its incident was resolved reopens "
        "the incident; later, it opens a new one.",
    )

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = EVENT_CONFIG_ROLE_ACTIONS

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="one_correlation_settings")
        ]

    def __str__(self) -> str:
        return f"correlation settings of {self.organization_id}"

    @classmethod
    def for_org(cls, organization_id: int) -> CorrelationSettings:
        found = cls.objects.filter(organization_id=organization_id).first()
        return found or cls(organization_id=organization_id)


class AlertGroup(TenantOwned, Numbered):
    """Alerts believed to share one cause; it opens, updates and resolves one incident."""

    number_prefix = "ALG"

    title = models.CharField(max_length=500)
    state = models.CharField(max_length=10, choices=GroupState.choices, default=GroupState.OPEN)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.INFO)
    #: The correlation key of the first alert (group-by labels or template), for lookups.
    key = models.CharField(max_length=200, blank=True, db_index=True)
    method = models.CharField(max_length=10, choices=Method.choices, default=Method.NEW)
    service = models.ForeignKey(
        _CI, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    incident = models.ForeignKey(
        "servicedesk.Incident",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="alert_groups",
    )
    onset_at = models.DateTimeField(help_text="Start of the earliest event: the fault onset.")
    opened_at = models.DateTimeField(default=timezone.now, help_text="When OpsDesk opened it.")
    last_event_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    alert_count = models.PositiveIntegerField(default=0)
    event_count = models.PositiveIntegerField(default=0)
    firing_count = models.PositiveIntegerField(default=0)
    #: Ranked candidates: [{ci_id, ci, score, evidence: [sentence, ...], change_id?}], best first.
    root_causes = models.JSONField(default=list, blank=True)
    cause_change = models.ForeignKey(
        "changes.Change", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_groups"
    )
    updated_at = models.DateTimeField(auto_now=True)

    role_actions: ClassVar[dict[str, frozenset[str]]] = EVENT_ROLE_ACTIONS

    class Meta:
        ordering = ["-last_event_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "state", "last_event_at"], name="alert_group_open")
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"


class Alert(TenantOwned):
    """One deduplicated event stream: every event with the same fingerprint folds into it
    (count, first and last seen). The columns are the normalised event's."""

    integration = models.ForeignKey(
        EventIntegration, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=20, choices=Source.choices)
    external_id = models.CharField(max_length=500, blank=True)
    fingerprint = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=EventStatus.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    #: The text with volatile tokens (ids, IPs, numbers, times) replaced, and its template.
    normalised_text = models.TextField(blank=True)
    template = models.TextField(blank=True)
    resource = models.JSONField(default=dict, blank=True, help_text="OpenTelemetry names.")
    labels = models.JSONField(default=dict, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    count = models.PositiveIntegerField(default=1)
    transitions = models.PositiveIntegerField(default=0)
    flapping = models.BooleanField(default=False)
    ci = models.ForeignKey(_CI, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    binding = models.CharField(max_length=300, blank=True, help_text="How the CI was found.")
    suppressed_by = models.CharField(max_length=300, blank=True)
    #: Indexed by ``alert_group_start`` (group first), not on its own.
    group = models.ForeignKey(
        AlertGroup,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="alerts",
        db_index=False,
    )
    #: Indexed by ``one_alert_per_fingerprint`` and ``alert_ci`` (organisation first).
    organization = _organization_unindexed()

    role_actions: ClassVar[dict[str, frozenset[str]]] = EVENT_ROLE_ACTIONS

    class Meta:
        ordering = ["-last_seen", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "fingerprint"], name="one_alert_per_fingerprint"
            )
        ]
        indexes = [
            # Not on last_seen: a repeat changes only columns no index holds, so PostgreSQL
            # updates the row in place (a HOT update, with the table's free space: migration
            # events.0005) instead of adding an entry to every index for every repeat.
            models.Index(fields=["organization", "ci"], name="alert_ci"),
            models.Index(fields=["group", "starts_at"], name="alert_group_start"),
            # The flapping stage reads an organisation's flapping alerts every batch: a few
            # rows, found without reading the others (a repeat does not change ``flapping``,
            # so it stays a HOT update).
            models.Index(
                fields=["organization"], condition=Q(flapping=True), name="alert_flapping"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.status})"


class AlertEvent(TenantOwned):
    """What happened to an alert: it fired, resolved, repeated (``count`` duplicates folded
    into one row per batch), was suppressed or started flapping. The group page's timeline."""

    alert = _log_reference(Alert, on_delete=models.CASCADE, related_name="history")
    #: Indexed by ``alert_event_group_at`` (group first), not on its own.
    group = _log_reference(
        AlertGroup,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="events",
        db_index=False,
    )
    at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=EventStatus.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    kind = models.CharField(max_length=20, help_text="fired, resolved, repeated, ...")
    count = models.PositiveIntegerField(default=1)
    note = models.CharField(max_length=500, blank=True)
    inbox = _log_reference(
        InboxEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    organization = _log_reference(Organization, on_delete=models.PROTECT, related_name="+")

    role_actions: ClassVar[dict[str, frozenset[str]]] = EVENT_ROLE_ACTIONS

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["group", "at"], name="alert_event_group_at")]

    def __str__(self) -> str:
        return f"{self.kind} at {self.at:%H:%M:%S}"


class CorrelationDecision(TenantOwned):
    """Why an alert joined (or opened) a group: the method, a score and a sentence."""

    group = _log_reference(AlertGroup, on_delete=models.CASCADE, related_name="decisions")
    alert = _log_reference(Alert, on_delete=models.CASCADE, related_name="decisions")
    method = models.CharField(max_length=10, choices=Method.choices)
    score = models.FloatField(default=1.0)
    reason = models.TextField()
    at = models.DateTimeField(default=timezone.now)
    #: The operator of a merge or split (None for the pipeline's decisions: nearly every
    #: row). Not indexed: decisions are read by group or alert, never by actor.
    actor = _log_reference(
        _USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    #: Read by group or alert only: no index of its own (see `_organization_unindexed`).
    organization = _log_reference(
        Organization, on_delete=models.PROTECT, related_name="+", db_index=False
    )

    role_actions: ClassVar[dict[str, frozenset[str]]] = EVENT_ROLE_ACTIONS

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.method}: {self.reason[:60]}"


class Silence(TenantOwned, ChangeLogged):
    """Alertmanager-style matchers ``[{"name", "value", "op"}]`` (op ``=``, ``!=``, ``=~``,
    ``!~``) over labels and resource attributes, active from ``starts_at`` to ``ends_at``.
    Silenced events are stored and counted but open no group."""

    matchers = models.JSONField()
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField()
    comment = models.TextField()
    created_by = models.ForeignKey(
        _USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expired_early_at = models.DateTimeField(null=True, blank=True)
    matched_count = models.PositiveIntegerField(default=0)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = EVENT_ROLE_ACTIONS

    class Meta:
        ordering = ["-starts_at", "-id"]

    def __str__(self) -> str:
        return self.comment[:80]

    def is_active_at(self, when: Any) -> bool:
        end = self.expired_early_at or self.ends_at
        return self.starts_at <= when < end


class GroupFeedback(TenantOwned):
    """An operator's correction of the grouping (merge or split): the quality metrics count it."""

    kind = models.CharField(max_length=10, choices=FeedbackKind.choices)
    group = models.ForeignKey(AlertGroup, on_delete=models.CASCADE, related_name="feedback")
    other_group = models.ForeignKey(
        AlertGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    alert_ids = models.JSONField(default=list, blank=True)
    note = models.TextField(blank=True)
    actor = models.ForeignKey(
        _USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    role_actions: ClassVar[dict[str, frozenset[str]]] = EVENT_ROLE_ACTIONS

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.group_id}"


class Runbook(TenantOwned, ChangeLogged):
    """A self-healing action run on alert groups that match its conditions, inside guard
    rails: dry run, approval, a rate limit per CI, a maximum blast radius, and a verify step
    (the alert must clear within ``verify_seconds``, else the incident is escalated)."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    #: {"ci_classes": [...], "title_contains": "...", "labels": [matcher, ...],
    #:  "min_severity": "major"}
    conditions = models.JSONField(default=dict, blank=True)
    action_kind = models.CharField(max_length=20, choices=RunbookActionKind.choices)
    #: http: {"url", "method", "headers", "body"}; command: {"command": [...]};
    #: standard_change: {"template_id": N}
    action = models.JSONField(default=dict, blank=True)
    #: The credentials of an http action's headers by header name (the action shows them
    #: masked); redacted in the audit, never returned by the API or the pages.
    secret_headers = SealedJSONField(default=dict, blank=True)
    dry_run = models.BooleanField(default=True)
    requires_approval = models.BooleanField(default=False)
    max_runs_per_ci_per_hour = models.PositiveSmallIntegerField(default=3)
    max_blast_radius = models.PositiveIntegerField(
        default=5, help_text="Refuse when the group touches more CIs than this."
    )
    verify_seconds = models.PositiveIntegerField(default=600)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = EVENT_CONFIG_ROLE_ACTIONS
    audit_redact: ClassVar[frozenset[str]] = frozenset({"secret_headers"})

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="runbook_name")
        ]

    def __str__(self) -> str:
        return self.name

    def sent_action(self) -> dict[str, Any]:
        """The action with its credentials, for running it (never for showing it)."""
        from opsdesk.events.runbook_exec import with_secrets

        return with_secrets(self.action, self.secret_headers or {})


class RunbookRun(TenantOwned, ChangeLogged):
    """One run (or refusal, or dry run) of a runbook on a group, attached to its incident."""

    runbook = models.ForeignKey(Runbook, on_delete=models.PROTECT, related_name="runs")
    group = models.ForeignKey(AlertGroup, on_delete=models.CASCADE, related_name="runbook_runs")
    ci = models.ForeignKey(_CI, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    state = models.CharField(max_length=20, choices=RunState.choices)
    dry_run = models.BooleanField(default=False)
    reason = models.TextField(blank=True, help_text="Why it was refused, escalated or failed.")
    requested_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        _USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    verify_until = models.DateTimeField(null=True, blank=True)
    request = models.JSONField(default=dict, blank=True)
    response = models.JSONField(default=dict, blank=True)
    output = models.TextField(blank=True)
    change = models.ForeignKey(
        "changes.Change", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = EVENT_ROLE_ACTIONS

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["runbook", "ci", "requested_at"], name="runbook_run_rate")]

    def __str__(self) -> str:
        return f"{self.runbook_id} on {self.group_id}: {self.state}"
