"""Writes of the portal: satisfaction surveys (sent when a ticket is resolved or fulfilled,
answered once by the requester)."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.permissions import Action, has_permission
from opsdesk.portal.models import Survey
from opsdesk.servicedesk import timeline
from opsdesk.servicedesk.choices import ActivityKind

MAX_COMMENT = 5_000


@transaction.atomic
def send_survey(subject: Any, *, at: Any = None) -> Survey | None:
    """The survey of a resolved incident or fulfilled request, created once (idempotent);
    None when the ticket has no requester with an account."""
    requester_id = getattr(subject, "requester_id", None)
    if requester_id is None:
        return None
    subject_type = timeline.subject_type_of(subject)
    found = Survey.objects.filter(subject_type=subject_type, subject_id=subject.pk).first()
    if found is not None:
        return found
    try:
        with transaction.atomic(), acting_as(None):
            return Survey.objects.create(
                organization_id=subject.organization_id,
                subject_type=subject_type,
                subject_id=subject.pk,
                requester_id=requester_id,
                sent_at=at or timezone.now(),
            )
    except IntegrityError:  # sent concurrently by another worker
        return Survey.objects.filter(subject_type=subject_type, subject_id=subject.pk).first()


@transaction.atomic
def answer_survey(
    *, acting_user: Any, survey: Survey, rating: Any, comment: str = "", at: Any = None
) -> Survey:
    """The requester rates the ticket 1-5 with an optional comment, once."""
    if survey.requester_id != getattr(acting_user, "pk", None) or not has_permission(
        acting_user, Survey, Action.VIEW, survey.organization_id
    ):
        raise PermissionDenied("Only the requester answers this survey.")
    survey = Survey.objects.select_for_update().get(pk=survey.pk)
    if survey.answered_at is not None:
        raise Conflict("This survey has already been answered.", field="rating")
    if isinstance(rating, str) and rating.strip().isdigit():
        rating = int(rating.strip())
    errors: dict[str, str] = {}
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        errors["rating"] = "Choose from 1 (very unhappy) to 5 (very happy)."
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        errors["comment"] = f"At most {MAX_COMMENT:,} characters."
    if errors:
        raise FieldError(errors)
    subject = timeline.subject_model(survey.subject_type)._base_manager.get(pk=survey.subject_id)
    now = min(at, timezone.now()) if at is not None else timezone.now()
    with acting_as(acting_user):
        survey.rating = rating
        survey.comment = comment
        survey.answered_at = now
        survey.save()
        timeline.record(
            subject,
            ActivityKind.SURVEY,
            actor=acting_user,
            public=True,
            body=comment,
            data={"survey_id": survey.pk, "rating": rating},
            at=now,
        )
    return survey
