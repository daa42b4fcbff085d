"""Incidents, major incidents, the ticket timeline, attachments, watchers and saved views.

The timeline (`Activity`) is shared by every kind of ticket (incidents, requests, tasks,
problems): it is the story a person reads, the state history that imports rebuild and that
service-level clocks replay, and the stream notifications listen to.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from opsdesk.core.models import ChangeLogged, ChangeLoggedQuerySet, Numbered, TenantOwned
from opsdesk.core.permissions import Action, RestrictedQuerySet, Role
from opsdesk.servicedesk.choices import (
    DEFAULT_ATTACHMENT_TYPES,
    DEFAULT_PRIORITY_MATRIX,
    DEFAULT_RESOLUTION_CODES,
    ActivityKind,
    Channel,
    CommunicationAudience,
    HoldReason,
    Impact,
    IncidentState,
    Priority,
    ReviewActionState,
    ReviewState,
    SubjectType,
    Urgency,
)

#: Agents work tickets; requesters see only their own (see `scope_for_role`).
TICKET_ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.REQUESTER: frozenset({Action.VIEW, Action.ADD}),
    Role.AGENT: frozenset({Action.VIEW, Action.ADD, Action.CHANGE}),
    Role.MANAGER: frozenset({Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE}),
    Role.AUDITOR: frozenset({Action.VIEW, Action.AUDIT}),
    Role.ADMIN: frozenset(
        {Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE, Action.AUDIT, Action.ADMIN}
    ),
}

#: Configuration an admin edits; everyone who works tickets reads it.
CONFIG_ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.REQUESTER: frozenset({Action.VIEW}),
    Role.AGENT: frozenset({Action.VIEW}),
    Role.MANAGER: frozenset({Action.VIEW}),
    Role.AUDITOR: frozenset({Action.VIEW}),
    Role.ADMIN: frozenset({Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE}),
}


class ServiceDeskSettings(TenantOwned, ChangeLogged):
    """Per-organisation rules of the service desk (one row per organisation)."""

    priority_matrix = models.JSONField(
        default=dict, help_text='{"impact,urgency": priority}, e.g. {"1,1": 1, ...}'
    )
    resolution_codes = models.JSONField(default=list)
    auto_close_days = models.PositiveSmallIntegerField(
        default=7, help_text="Resolved incidents close automatically after this many days."
    )
    attachment_max_bytes = models.PositiveIntegerField(default=10 * 1024 * 1024)
    attachment_types = models.JSONField(default=list, help_text="Allowed MIME types.")
    email_address = models.EmailField(
        blank=True, help_text="Mail to this address becomes an incident in this organisation."
    )
    default_team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    auto_declare_p1 = models.BooleanField(
        default=True, help_text="A P1 incident is declared a major incident automatically."
    )

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = CONFIG_ROLE_ACTIONS

    class Meta:
        verbose_name = "service desk settings"
        verbose_name_plural = "service desk settings"
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="one_sd_settings_per_org")
        ]

    def __str__(self) -> str:
        return f"Service desk settings of organisation {self.organization_id}"

    @classmethod
    def for_org(cls, organization_id: int) -> ServiceDeskSettings:
        """The organisation's settings, created with the defaults on first use."""
        found = cls.objects.filter(organization_id=organization_id).first()
        if found is not None:
            return found
        from opsdesk.core.context import acting_as

        with acting_as(None):
            found, _ = cls.objects.get_or_create(
                organization_id=organization_id,
                defaults={
                    "priority_matrix": dict(DEFAULT_PRIORITY_MATRIX),
                    "resolution_codes": list(DEFAULT_RESOLUTION_CODES),
                    "attachment_types": list(DEFAULT_ATTACHMENT_TYPES),
                },
            )
        return found

    def priority_for(self, impact: int, urgency: int) -> int:
        matrix = self.priority_matrix or DEFAULT_PRIORITY_MATRIX
        return int(
            matrix.get(f"{impact},{urgency}", DEFAULT_PRIORITY_MATRIX[f"{impact},{urgency}"])
        )


class Category(TenantOwned, ChangeLogged):
    """Incident category; a category with a parent is a subcategory."""

    name = models.CharField(max_length=100)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    is_active = models.BooleanField(default=True)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = CONFIG_ROLE_ACTIONS

    class Meta:
        verbose_name_plural = "categories"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "parent", "name"], name="category_name_per_parent"
            ),
            models.UniqueConstraint(
                fields=["organization", "name"],
                condition=Q(parent__isnull=True),
                name="top_category_name_per_org",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class IncidentQuerySet(ChangeLoggedQuerySet):
    def open(self) -> IncidentQuerySet:
        from opsdesk.servicedesk.choices import OPEN_STATES

        return self.filter(state__in=OPEN_STATES)


class Incident(TenantOwned, ChangeLogged, Numbered):
    """An unplanned interruption or degradation of a service, as a requester reports it."""

    number_prefix = "INC"

    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="requested_incidents",
    )
    requester_email = models.EmailField(
        blank=True, help_text="For mail from someone without an account."
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.PORTAL)
    service = models.ForeignKey(
        "cmdb.ConfigurationItem",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="service_incidents",
        help_text="The affected business service.",
    )
    ci = models.ForeignKey(
        "cmdb.ConfigurationItem",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="incidents",
        help_text="The affected configuration item.",
    )
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    subcategory = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    impact = models.PositiveSmallIntegerField(choices=Impact.choices, default=Impact.LOW)
    urgency = models.PositiveSmallIntegerField(choices=Urgency.choices, default=Urgency.LOW)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.P5)
    state = models.CharField(
        max_length=20, choices=IncidentState.choices, default=IncidentState.NEW
    )
    hold_reason = models.CharField(max_length=30, choices=HoldReason.choices, blank=True)
    resolution_code = models.CharField(max_length=60, blank=True)
    resolution_notes = models.TextField(blank=True)
    assignment_group = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="incidents"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assigned_incidents",
    )
    reassignment_count = models.PositiveIntegerField(default=0)
    reopen_count = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(default=timezone.now)
    first_assigned_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    first_contact_resolution = models.BooleanField(
        default=False,
        help_text="Resolved by the agent who opened it, never reassigned or reopened.",
    )
    location = models.CharField(max_length=200, blank=True)
    # Links
    problem = models.ForeignKey(
        "problems.Problem",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="incidents",
    )
    known_error = models.ForeignKey(
        "problems.KnownError",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="incidents",
    )
    # Major incidents
    is_major = models.BooleanField(default=False)
    major_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    major_declared_at = models.DateTimeField(null=True, blank=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
        help_text="The major incident this one is a child of.",
    )
    # Imports
    source = models.CharField(max_length=40, blank=True, help_text="e.g. servicenow, email")
    external_id = models.CharField(max_length=100, blank=True)

    objects = IncidentQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = TICKET_ROLE_ACTIONS

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "number"], name="incident_number"),
            models.UniqueConstraint(
                fields=["organization", "source", "external_id"],
                condition=~Q(external_id=""),
                name="incident_external_id",
            ),
        ]
        indexes = [
            # Open-by-priority counts and ageing on the dashboard: an index-only scan.
            models.Index(
                fields=["organization", "state", "priority", "opened_at"], name="inc_org_state_prio"
            ),
            # The default queue order (priority, then newest first): a page of a million
            # incidents is read off the index instead of sorted.
            models.Index(
                fields=["organization", "priority", "-opened_at", "-id"], name="inc_org_prio_opened"
            ),
            models.Index(
                fields=["organization", "priority", "-opened_at", "-id"],
                condition=Q(state__in=["new", "in_progress", "on_hold"]),
                name="inc_open_queue",
            ),
            models.Index(fields=["assignment_group", "state"], name="inc_group_state"),
            models.Index(fields=["assignee", "state"], name="inc_assignee_state"),
            models.Index(fields=["requester", "-opened_at"], name="inc_requester"),
            models.Index(fields=["organization", "-opened_at"], name="inc_org_opened"),
            models.Index(fields=["organization", "resolved_at"], name="inc_org_resolved"),
            models.Index(fields=["ci", "state"], name="inc_ci_state"),
            models.Index(fields=["service", "state"], name="inc_service_state"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    @classmethod
    def scope_for_role(cls, role: str, user: Any) -> Q | None:
        if role == Role.REQUESTER:
            return Q(requester_id=user.pk)
        return None

    @property
    def is_open(self) -> bool:
        from opsdesk.servicedesk.choices import OPEN_STATES

        return self.state in OPEN_STATES


class Activity(TenantOwned):
    """One entry of a ticket's timeline: a state change, an assignment, a comment, a link...

    Append-only. Comments and work notes are activities; everything else is written by the
    action that made the change, in the same transaction. ``public`` entries are shown to
    the requester; work notes and internal changes are not.
    """

    subject_type = models.CharField(max_length=20, choices=SubjectType.choices)
    subject_id = models.BigIntegerField()
    kind = models.CharField(max_length=20, choices=ActivityKind.choices)
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    actor_name = models.CharField(max_length=200, blank=True, help_text="e.g. an email sender")
    public = models.BooleanField(default=False)
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    objects = RestrictedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = TICKET_ROLE_ACTIONS

    class Meta:
        verbose_name_plural = "activities"
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["subject_type", "subject_id", "at"], name="activity_subject"),
            models.Index(fields=["organization", "kind", "at"], name="activity_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.subject_type}#{self.subject_id} {self.kind} @ {self.at:%Y-%m-%d %H:%M}"

    @classmethod
    def scope_for_role(cls, role: str, user: Any) -> Q | None:
        if role == Role.REQUESTER:
            from opsdesk.servicedesk.timeline import requester_scope

            return Q(public=True) & requester_scope(user)
        return None


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"attachments/{instance.organization_id}/{timezone.now():%Y/%m}/{instance.sha256}"


class Attachment(TenantOwned, ChangeLogged):
    """A file on a ticket. Files refused by the rules (size, type) are kept quarantined for
    review when they arrive by mail, never dropped."""

    subject_type = models.CharField(max_length=20, choices=SubjectType.choices)
    subject_id = models.BigIntegerField()
    file = models.FileField(upload_to=attachment_path, max_length=300)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=150)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    public = models.BooleanField(default=True, help_text="Visible to the requester.")
    quarantined = models.BooleanField(default=False)
    quarantine_reason = models.CharField(max_length=200, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = TICKET_ROLE_ACTIONS

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["subject_type", "subject_id"], name="attachment_subject")]

    def __str__(self) -> str:
        return self.filename

    @classmethod
    def scope_for_role(cls, role: str, user: Any) -> Q | None:
        if role == Role.REQUESTER:
            from opsdesk.servicedesk.timeline import requester_scope

            return Q(public=True, quarantined=False) & requester_scope(user)
        return None


class Watcher(TenantOwned, ChangeLogged):
    """Someone told about every public change of a ticket."""

    subject_type = models.CharField(max_length=20, choices=SubjectType.choices)
    subject_id = models.BigIntegerField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = TICKET_ROLE_ACTIONS

    @classmethod
    def scope_for_role(cls, role: str, user: Any) -> Q | None:
        if role == Role.REQUESTER:
            return Q(user_id=user.pk)
        return None

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subject_type", "subject_id", "user"], name="one_watch_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} watches {self.subject_type}#{self.subject_id}"


class SavedView(TenantOwned, ChangeLogged):
    """A named queue filter (query string) a user keeps, optionally shared with their teams."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    name = models.CharField(max_length=100)
    list_name = models.CharField(max_length=40, default="incidents")
    query = models.CharField(max_length=1000, blank=True)
    shared = models.BooleanField(default=False)

    objects = ChangeLoggedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "owner", "list_name", "name"], name="saved_view_name"
            )
        ]

    def __str__(self) -> str:
        return self.name


class CommunicationUpdate(TenantOwned, ChangeLogged):
    """A stakeholder update sent during a major incident: the communications log."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="communications")
    audience = models.CharField(
        max_length=20,
        choices=CommunicationAudience.choices,
        default=CommunicationAudience.STAKEHOLDERS,
    )
    channel = models.CharField(max_length=40, default="email", help_text="email, status page, ...")
    body = models.TextField()
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField(default=timezone.now)

    objects = ChangeLoggedQuerySet.as_manager()

    class Meta:
        ordering = ["sent_at", "id"]

    def __str__(self) -> str:
        return f"Update on {self.incident_id} @ {self.sent_at:%Y-%m-%d %H:%M}"


class PostIncidentReview(TenantOwned, ChangeLogged):
    """What happened, why, and what we will do so it does not happen again."""

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="review")
    state = models.CharField(max_length=20, choices=ReviewState.choices, default=ReviewState.DRAFT)
    facilitator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    summary = models.TextField(blank=True)
    customer_impact = models.TextField(blank=True)
    root_cause = models.TextField(blank=True)
    went_well = models.TextField(blank=True)
    went_badly = models.TextField(blank=True)
    held_on = models.DateField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = ChangeLoggedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Review of incident {self.incident_id}"


class ReviewAction(TenantOwned, ChangeLogged):
    review = models.ForeignKey(PostIncidentReview, on_delete=models.CASCADE, related_name="actions")
    description = models.CharField(max_length=500)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_on = models.DateField(null=True, blank=True)
    state = models.CharField(
        max_length=20, choices=ReviewActionState.choices, default=ReviewActionState.OPEN
    )

    objects = ChangeLoggedQuerySet.as_manager()

    class Meta:
        ordering = ["due_on", "id"]

    def __str__(self) -> str:
        return self.description
