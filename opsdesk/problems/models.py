"""Problems (the unknown cause of one or more incidents) and known errors (a diagnosed
cause with a workaround, linked to the CIs it affects)."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from opsdesk.core.models import ChangeLogged, ChangeLoggedQuerySet, Numbered, TenantOwned
from opsdesk.core.permissions import Action, Role
from opsdesk.problems.choices import KnownErrorState, ProblemState

PROBLEM_ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.AGENT: frozenset({Action.VIEW, Action.ADD, Action.CHANGE}),
    Role.MANAGER: frozenset({Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE}),
    Role.AUDITOR: frozenset({Action.VIEW, Action.AUDIT}),
    Role.ADMIN: frozenset(
        {Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE, Action.AUDIT, Action.ADMIN}
    ),
}


class Problem(TenantOwned, ChangeLogged, Numbered):
    number_prefix = "PRB"

    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    state = models.CharField(max_length=30, choices=ProblemState.choices, default=ProblemState.NEW)
    priority = models.PositiveSmallIntegerField(default=3)
    service = models.ForeignKey(
        "cmdb.ConfigurationItem", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ci = models.ForeignKey(
        "cmdb.ConfigurationItem",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="problems",
    )
    assignment_group = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rca_notes = models.TextField(blank=True, help_text="Root-cause analysis notes.")
    root_cause = models.TextField(blank=True)
    workaround = models.TextField(blank=True)
    resolution_notes = models.TextField(blank=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    opened_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = PROBLEM_ROLE_ACTIONS

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "number"], name="problem_number")
        ]
        indexes = [models.Index(fields=["organization", "state"], name="problem_org_state")]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"


class KnownError(TenantOwned, ChangeLogged, Numbered):
    number_prefix = "KE"

    title = models.CharField(max_length=255)
    symptoms = models.TextField(blank=True)
    root_cause = models.TextField(blank=True)
    workaround = models.TextField()
    state = models.CharField(
        max_length=20, choices=KnownErrorState.choices, default=KnownErrorState.PUBLISHED
    )
    problem = models.ForeignKey(
        Problem, null=True, blank=True, on_delete=models.SET_NULL, related_name="known_errors"
    )
    cis = models.ManyToManyField("cmdb.ConfigurationItem", blank=True, related_name="known_errors")

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = PROBLEM_ROLE_ACTIONS

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "number"], name="known_error_number")
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"
