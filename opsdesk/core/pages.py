"""What pages share: the organisation a page works in, checked against the user's role."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404, HttpRequest

from opsdesk.core.permissions import Action, has_permission


def page_organization(
    request: HttpRequest, model: type[models.Model], refusal: str, action: str = Action.VIEW
) -> Any:
    """The current organisation if the user may `action` `model` in it: 404 without one,
    403 (with `refusal`) when the role does not allow it."""
    org = request.organization  # type: ignore[attr-defined]
    if org is None:
        raise Http404("Choose an organisation first.")
    if not has_permission(request.user, model, action, org.pk):
        raise PermissionDenied(refusal)
    return org
