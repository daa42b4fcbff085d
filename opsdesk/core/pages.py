"""What pages share: the organisation a page works in, checked against the user's role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404, HttpRequest

from opsdesk.core.errors import NotFound
from opsdesk.core.permissions import Action, has_permission

M = TypeVar("M", bound=models.Model)


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


def object_in_organization(fetch: Callable[[], M], organization: Any, noun: str) -> M:
    """The row `fetch()` reads through a restricted selector, if it belongs to the page's
    `organization`; else 404, the same for "does not exist", "not yours" and "another of
    your organisations" (the page works in one organisation at a time)."""
    try:
        found = fetch()
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    if found.organization_id != organization.pk:
        raise Http404(f"No {noun} matches the given id.")
    return found
