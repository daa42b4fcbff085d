"""Satisfaction surveys sent to requesters when their ticket is resolved or fulfilled."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from opsdesk.core.models import ChangeLogged, ChangeLoggedQuerySet, TenantOwned
from opsdesk.core.permissions import Action, Role
from opsdesk.servicedesk.choices import SubjectType

#: Requesters see and answer their own surveys; agents and managers read them all (CSAT).
SURVEY_ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.REQUESTER: frozenset({Action.VIEW, Action.CHANGE}),
    Role.AGENT: frozenset({Action.VIEW, Action.CHANGE}),
    Role.MANAGER: frozenset({Action.VIEW, Action.CHANGE}),
    Role.AUDITOR: frozenset({Action.VIEW, Action.AUDIT}),
    Role.ADMIN: frozenset({Action.VIEW, Action.CHANGE, Action.AUDIT, Action.ADMIN}),
}


class Survey(TenantOwned, ChangeLogged):
    """One satisfaction survey per resolved incident or fulfilled request.

    Created when the ticket's timeline records the resolution (see `portal.signals`);
    ``rating`` stays empty until the requester answers, which they can do once.
    """

    subject_type = models.CharField(max_length=20, choices=SubjectType.choices)
    subject_id = models.BigIntegerField()
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="surveys"
    )
    rating = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text="1 (very unhappy) to 5 (very happy); empty until answered.",
    )
    comment = models.TextField(blank=True)
    sent_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = SURVEY_ROLE_ACTIONS

    class Meta:
        ordering = ["-sent_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subject_type", "subject_id"], name="one_survey_per_ticket"
            ),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
                name="survey_rating_1_to_5",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "answered_at"], name="survey_org_answered"),
            models.Index(fields=["requester", "answered_at"], name="survey_requester"),
        ]

    def __str__(self) -> str:
        return f"Survey on {self.subject_type}#{self.subject_id}"

    @classmethod
    def scope_for_role(cls, role: str, user: Any) -> Q | None:
        if role == Role.REQUESTER:
            return Q(requester_id=user.pk)
        return None

    @property
    def is_answered(self) -> bool:
        return self.answered_at is not None
