"""Reads of the portal: a requester's tickets and surveys."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from opsdesk.core.permissions import Action, Role, organization_roles
from opsdesk.core.selectors import access
from opsdesk.portal.models import Survey


def surveys_for_user(
    user: Any,
    *,
    organization: int | None = None,
    answered: bool | None = None,
    mine: bool = False,
) -> QuerySet[Survey]:
    """Requesters: their own surveys. Agents and managers: every survey of the organisation
    (CSAT); `mine` narrows to the surveys sent to the caller."""
    qs = Survey.objects.restrict(user, Action.VIEW).select_related("requester")
    if organization is not None:
        qs = qs.filter(organization_id=organization)
    if answered is not None:
        qs = qs.filter(answered_at__isnull=not answered)
    if mine:
        qs = qs.filter(requester_id=user.pk)
    return qs.order_by("-sent_at", "-pk")


def access_survey(user: Any, survey_id: int) -> Survey:
    return access(Survey.objects.restrict(user, Action.VIEW), survey_id, "survey")


def pending_surveys(user: Any, organization: int) -> QuerySet[Survey]:
    return surveys_for_user(user, organization=organization, answered=False, mine=True)


def is_requester(user: Any, organization_id: int) -> bool:
    return organization_roles(user).get(organization_id) == Role.REQUESTER
