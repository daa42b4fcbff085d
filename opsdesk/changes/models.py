"""Change enablement and release: changes and their templates, risk settings, approvals
and CAB meetings, maintenance and freeze windows, deployments from CI/CD pipelines, links
between changes and the incidents they caused, and post-implementation reviews."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from opsdesk.changes.choices import (
    ApprovalState,
    ApproverKind,
    CabDecision,
    CabKind,
    CabState,
    ChangeState,
    ChangeType,
    CloseCode,
    DeploymentOutcome,
    DeploymentSource,
    InducedState,
    ReviewState,
    RiskClass,
    WindowKind,
)
from opsdesk.core.models import ChangeLogged, ChangeLoggedQuerySet, Numbered, TenantOwned
from opsdesk.core.permissions import MANAGED_CONFIG_ROLE_ACTIONS, Action, Role
from opsdesk.core.sealed import SealedTextField

#: Changes and the records around them: agents raise and work changes, managers also
#: delete and configure, auditors read.
CHANGE_ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.AGENT: frozenset({Action.VIEW, Action.ADD, Action.CHANGE}),
    Role.MANAGER: frozenset({Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE}),
    Role.AUDITOR: frozenset({Action.VIEW, Action.AUDIT}),
    Role.ADMIN: frozenset(
        {Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE, Action.AUDIT, Action.ADMIN}
    ),
}
#: Configuration (templates, policies, weights, windows, integrations): managers and admins
#: write, agents and auditors read.
CONFIG_ROLE_ACTIONS = MANAGED_CONFIG_ROLE_ACTIONS

_USER = settings.AUTH_USER_MODEL
_CI = "cmdb.ConfigurationItem"


class ChangeTemplate(TenantOwned, ChangeLogged):
    """A pre-approved standard change in the template catalogue. Deployments whose service or
    CI is among `match_cis` (and whose environment is among `match_environments`, when set)
    become a standard change from this template that opens and closes itself."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=100, blank=True)
    implementation_plan = models.TextField(blank=True)
    backout_plan = models.TextField(blank=True)
    test_plan = models.TextField(blank=True)
    risk_class = models.CharField(max_length=20, choices=RiskClass.choices, default=RiskClass.LOW)
    assignment_group = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    default_duration_minutes = models.PositiveIntegerField(default=60)
    cis = models.ManyToManyField(_CI, blank=True, related_name="+", help_text="Usual CIs.")
    match_cis = models.ManyToManyField(
        _CI,
        blank=True,
        related_name="+",
        help_text="Deployments to these services or CIs become a change from this template.",
    )
    match_environments = models.JSONField(
        default=list, blank=True, help_text="Deployment environments it covers; empty = any."
    )
    is_active = models.BooleanField(default=True)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = CONFIG_ROLE_ACTIONS

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="change_template_name")
        ]

    def __str__(self) -> str:
        return self.name


class Change(TenantOwned, ChangeLogged, Numbered):
    number_prefix = "CHG"

    change_type = models.CharField(
        max_length=20, choices=ChangeType.choices, default=ChangeType.NORMAL
    )
    state = models.CharField(max_length=20, choices=ChangeState.choices, default=ChangeState.NEW)
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    justification = models.TextField(blank=True)
    implementation_plan = models.TextField(blank=True)
    backout_plan = models.TextField(blank=True)
    test_plan = models.TextField(blank=True)
    template = models.ForeignKey(
        ChangeTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="changes"
    )
    service = models.ForeignKey(
        _CI,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The business service the change is for.",
    )
    cis = models.ManyToManyField(_CI, blank=True, related_name="changes")
    assignment_group = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    assignee = models.ForeignKey(
        _USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    change_manager = models.ForeignKey(
        _USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_by = models.ForeignKey(
        _USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    planned_start = models.DateTimeField(null=True, blank=True)
    planned_end = models.DateTimeField(null=True, blank=True)
    actual_start = models.DateTimeField(null=True, blank=True)
    actual_end = models.DateTimeField(null=True, blank=True)
    #: Why this change may be scheduled inside a freeze window (refused without it).
    freeze_justification = models.TextField(blank=True)
    #: The answers to the risk questionnaire, {question key: answer key}.
    risk_answers = models.JSONField(default=dict, blank=True)
    #: The last risk assessment: {"score", "class", "factors": [...], "weights": {...}}.
    risk_assessment = models.JSONField(default=dict, blank=True)
    risk_score = models.FloatField(null=True, blank=True)
    risk_class = models.CharField(max_length=20, choices=RiskClass.choices, blank=True)
    risk_assessed_at = models.DateTimeField(null=True, blank=True)
    #: Conflicts found when the change was last scheduled: [{"kind", "reason", ...}].
    conflicts = models.JSONField(default=list, blank=True)
    close_code = models.CharField(max_length=30, choices=CloseCode.choices, blank=True)
    close_notes = models.TextField(blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = CHANGE_ROLE_ACTIONS

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "number"], name="change_number"),
            models.CheckConstraint(
                condition=models.Q(planned_end__isnull=True)
                | models.Q(planned_start__isnull=True)
                | models.Q(planned_end__gt=models.F("planned_start")),
                name="change_planned_end_after_start",
                violation_error_message="The planned end must be after the planned start.",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "state"], name="change_org_state"),
            models.Index(fields=["organization", "planned_start"], name="change_org_start"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    @property
    def workflow(self) -> Any:
        from opsdesk.changes.workflows import workflow_for

        return workflow_for(self.change_type)


class RiskSettings(TenantOwned, ChangeLogged):
    """One row per organisation: the weights of the risk factors, the score thresholds of the
    risk classes, the questionnaire, and how long after a change an incident on its CIs is
    suggested as change-induced. Empty JSON means the documented defaults
    (`opsdesk.changes.risk`)."""

    weights = models.JSONField(default=dict, blank=True)
    thresholds = models.JSONField(default=dict, blank=True)
    questionnaire = models.JSONField(default=list, blank=True)
    induced_window_hours = models.PositiveIntegerField(default=24)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = CONFIG_ROLE_ACTIONS

    class Meta:
        verbose_name_plural = "risk settings"
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="one_risk_settings_per_org")
        ]

    def __str__(self) -> str:
        return f"Risk settings of {self.organization_id}"


class ApprovalPolicy(TenantOwned, ChangeLogged):
    """Who must approve a change of these types and risk classes, in ordered steps. The
    policy with the lowest `order` that matches a change applies."""

    name = models.CharField(max_length=200)
    change_types = models.JSONField(default=list, blank=True, help_text="Empty = any type.")
    risk_classes = models.JSONField(default=list, blank=True, help_text="Empty = any class.")
    order = models.PositiveIntegerField(default=100)
    is_active = models.BooleanField(default=True)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = CONFIG_ROLE_ACTIONS

    class Meta:
        ordering = ["order", "name"]
        verbose_name_plural = "approval policies"
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="approval_policy_name")
        ]

    def __str__(self) -> str:
        return self.name


class ApprovalStep(TenantOwned, ChangeLogged):
    """One step of a policy: who approves and how many approvals it needs (its quorum).
    Steps run in `position` order; a step starts when the one before reached its quorum."""

    policy = models.ForeignKey(ApprovalPolicy, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(default=1)
    name = models.CharField(max_length=200)
    approver_kind = models.CharField(max_length=20, choices=ApproverKind.choices)
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    users = models.ManyToManyField(_USER, blank=True, related_name="+")
    quorum = models.PositiveSmallIntegerField(default=1)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = CONFIG_ROLE_ACTIONS

    class Meta:
        ordering = ["policy", "position"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "position"], name="approval_step_position")
        ]

    def __str__(self) -> str:
        return f"{self.policy} #{self.position} {self.name}"


class Approval(TenantOwned, ChangeLogged):
    """One approver asked to approve one step of one change. The step's name and quorum are
    copied from the policy when the change asks for authorisation, so a later policy edit
    does not rewrite what was asked."""

    change = models.ForeignKey(Change, on_delete=models.CASCADE, related_name="approvals")
    step = models.PositiveSmallIntegerField(default=1)
    step_name = models.CharField(max_length=200)
    quorum = models.PositiveSmallIntegerField(default=1)
    approver = models.ForeignKey(
        _USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    #: For a CAB step: decided in a meeting by its chair, not by one approver.
    cab = models.BooleanField(default=False)
    #: The policy whose step this is (empty: the documented default plan); the next step is
    #: the policy's step after this one when this step reaches its quorum.
    policy = models.ForeignKey(
        ApprovalPolicy, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    #: For a team step: the team any current member of which may decide.
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(
        max_length=20, choices=ApprovalState.choices, default=ApprovalState.REQUESTED
    )
    comment = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        _USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    #: The round of authorisation (a change rejected and resubmitted asks again: round + 1).
    round = models.PositiveSmallIntegerField(default=1)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = CHANGE_ROLE_ACTIONS

    class Meta:
        ordering = ["change", "round", "step", "id"]
        indexes = [
            models.Index(fields=["organization", "state"], name="chg_approval_org_state"),
            models.Index(fields=["approver", "state"], name="chg_approval_approver_state"),
        ]

    def __str__(self) -> str:
        return f"{self.change_id} step {self.step} {self.state}"


class CabMeeting(TenantOwned, ChangeLogged, Numbered):
    number_prefix = "CAB"

    kind = models.CharField(max_length=10, choices=CabKind.choices, default=CabKind.CAB)
    title = models.CharField(max_length=255)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    location = models.CharField(max_length=255, blank=True)
    state = models.CharField(max_length=20, choices=CabState.choices, default=CabState.PLANNED)
    chair = models.ForeignKey(
        _USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    members = models.ManyToManyField(_USER, blank=True, related_name="+")
    notes = models.TextField(blank=True)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = CHANGE_ROLE_ACTIONS

    class Meta:
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "number"], name="cab_number"),
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="cab_ends_after_start",
                violation_error_message="The meeting must end after it starts.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"


class CabAgendaItem(TenantOwned, ChangeLogged):
    meeting = models.ForeignKey(CabMeeting, on_delete=models.CASCADE, related_name="items")
    change = models.ForeignKey(Change, on_delete=models.CASCADE, related_name="cab_items")
    position = models.PositiveSmallIntegerField(default=1)
    decision = models.CharField(
        max_length=20, choices=CabDecision.choices, default=CabDecision.PENDING
    )
    decision_notes = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        _USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = CHANGE_ROLE_ACTIONS

    class Meta:
        ordering = ["meeting", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["meeting", "change"], name="one_agenda_item_per_change")
        ]

    def __str__(self) -> str:
        return f"{self.meeting_id}: {self.change_id} {self.decision}"


class ChangeWindow(TenantOwned, ChangeLogged):
    """A maintenance window (changes belong here) or a freeze window (changes are refused
    here unless justified as emergencies). With no services it covers the whole
    organisation. `rrule` (RFC 5545, e.g. ``FREQ=WEEKLY;BYDAY=SU``) repeats it from
    `starts_at` with the same duration."""

    kind = models.CharField(max_length=20, choices=WindowKind.choices)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    rrule = models.CharField(max_length=500, blank=True)
    services = models.ManyToManyField(_CI, blank=True, related_name="+")
    is_active = models.BooleanField(default=True)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = CONFIG_ROLE_ACTIONS

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="window_ends_after_start",
                violation_error_message="The window must end after it starts.",
            ),
        ]
        indexes = [models.Index(fields=["organization", "kind", "starts_at"], name="window_org")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.name}"


class DeploymentIntegration(TenantOwned, ChangeLogged):
    """A CI/CD pipeline allowed to post deployments: its own token (stored hashed) and, where
    the source can sign (GitHub's ``X-Hub-Signature-256``), an HMAC secret."""

    name = models.CharField(max_length=200)
    source = models.CharField(max_length=20, choices=DeploymentSource.choices)
    token_hash = models.CharField(max_length=128, unique=True)
    token_prefix = models.CharField(max_length=12, blank=True)
    secret = SealedTextField(blank=True, help_text="HMAC secret, stored sealed.")
    default_service = models.ForeignKey(
        _CI, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = CONFIG_ROLE_ACTIONS
    audit_exclude = frozenset({"updated_at", "token_hash", "secret", "last_used_at"})

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="deploy_integration_name")
        ]

    def __str__(self) -> str:
        return self.name


class Deployment(TenantOwned, ChangeLogged):
    """One deployment reported by a pipeline; (integration, external_id) makes a redelivered
    webhook update the same record instead of creating a twin."""

    integration = models.ForeignKey(
        DeploymentIntegration,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="deployments",
    )
    source = models.CharField(max_length=20, choices=DeploymentSource.choices)
    external_id = models.CharField(max_length=200)
    service = models.ForeignKey(
        _CI, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ci = models.ForeignKey(_CI, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=100, blank=True)
    version = models.CharField(max_length=200, blank=True)
    outcome = models.CharField(
        max_length=20, choices=DeploymentOutcome.choices, default=DeploymentOutcome.IN_PROGRESS
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    repository = models.CharField(max_length=300, blank=True)
    commit_sha = models.CharField(max_length=64, blank=True)
    pipeline_url = models.URLField(max_length=500, blank=True)
    triggered_by = models.CharField(max_length=200, blank=True)
    change = models.ForeignKey(
        Change, null=True, blank=True, on_delete=models.SET_NULL, related_name="deployments"
    )
    #: Deployed inside a freeze window: recorded as it happened, with no standard change.
    during_freeze = models.BooleanField(default=False)
    #: Why the deployment has no change (or what is odd about it), shown in the list:
    #: "Deployed during freeze Month-end freeze", "No standard-change template matches".
    flag = models.CharField(max_length=500, blank=True)
    payload = models.JSONField(default=dict, blank=True)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = CHANGE_ROLE_ACTIONS
    audit_exclude = frozenset({"updated_at", "payload"})

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "source", "external_id"], name="deployment_external_id"
            )
        ]
        indexes = [
            models.Index(fields=["organization", "started_at"], name="deployment_org_started"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id} {self.version}"


class WebhookDelivery(models.Model):
    """Every deployment webhook request that was refused (bad token, signature or shape),
    kept for the admin: refused requests change nothing else. The organisation is known only
    when the token was."""

    organization = models.ForeignKey(
        "core.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    integration = models.ForeignKey(
        DeploymentIntegration, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=40)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    status_code = models.PositiveSmallIntegerField()
    reason = models.TextField()
    remote_addr = models.CharField(max_length=64, blank=True)
    excerpt = models.TextField(blank=True, help_text="The first 2 KB of the body.")

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.source} {self.status_code} {self.reason[:40]}"


class InducedLink(TenantOwned, ChangeLogged):
    """An incident suggested (or confirmed by an agent) as caused by a change or a
    deployment."""

    incident = models.ForeignKey(
        "servicedesk.Incident", on_delete=models.CASCADE, related_name="induced_links"
    )
    change = models.ForeignKey(
        Change, null=True, blank=True, on_delete=models.CASCADE, related_name="induced_links"
    )
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.CASCADE, related_name="induced_links"
    )
    state = models.CharField(
        max_length=20, choices=InducedState.choices, default=InducedState.SUGGESTED
    )
    reason = models.TextField(blank=True, help_text="Why it was suggested.")
    score = models.FloatField(default=0.0)
    decided_by = models.ForeignKey(
        _USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = CHANGE_ROLE_ACTIONS

    class Meta:
        ordering = ["-score", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["change", "incident"],
                condition=models.Q(change__isnull=False),
                name="one_induced_link_per_change",
            ),
            models.UniqueConstraint(
                fields=["deployment", "incident"],
                condition=models.Q(deployment__isnull=False),
                name="one_induced_link_per_deployment",
            ),
            models.CheckConstraint(
                condition=models.Q(change__isnull=False) | models.Q(deployment__isnull=False),
                name="induced_link_has_cause",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.incident_id} <- {self.change_id or self.deployment_id} {self.state}"


class PostImplementationReview(TenantOwned, ChangeLogged):
    """Required before a failed, backed-out or emergency change may close."""

    change = models.OneToOneField(Change, on_delete=models.CASCADE, related_name="review")
    state = models.CharField(max_length=20, choices=ReviewState.choices, default=ReviewState.OPEN)
    summary = models.TextField(blank=True)
    what_went_well = models.TextField(blank=True)
    what_went_wrong = models.TextField(blank=True)
    root_cause = models.TextField(blank=True)
    lessons = models.TextField(blank=True)
    follow_up = models.TextField(blank=True)
    completed_by = models.ForeignKey(
        _USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = CHANGE_ROLE_ACTIONS

    class Meta:
        verbose_name = "post-implementation review"

    def __str__(self) -> str:
        return f"Review of {self.change_id}"
