"""What the event pages share: the organisation a page works in, permission checks, htmx
partials and how an action's refusal is shown. The pages themselves live in
``views_groups`` (alert groups and alerts), ``views_silences`` and ``views_integrations``
(integrations and correlation settings); ``urls`` mounts them at /events/.

Views check the shape of input (forms) and call the same actions as the API; every read is
restricted to what the user may see in the current organisation, and another
organisation's object is a 404.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import models
from django.http import Http404, HttpRequest

from opsdesk.core.errors import Conflict, FieldError
from opsdesk.core.pages import page_organization
from opsdesk.core.permissions import Action, has_permission
from opsdesk.events.models import AlertGroup

REFUSAL = "Event management is not part of your role."
CONFIG_REFUSAL = "Event integrations and settings are managed by managers and admins."

#: The sub-navigation of the event pages: (key, label, url name).
SUBNAV = (
    ("groups", "Alert groups", "events-groups"),
    ("alerts", "Alerts", "events-alerts"),
    ("silences", "Silences", "events-silences"),
    ("integrations", "Integrations", "events-integrations"),
    ("settings", "Correlation settings", "events-settings"),
)
#: The runbook pages (their own part); the sub-navigation leaves out a name that does not
#: resolve, so the entry shows once their urls are mounted.
RUNBOOKS = ("runbooks", "Runbooks", "events-runbooks")


def subnav_for(request: HttpRequest) -> list[tuple[str, str, str]]:
    """The sub-navigation entries this user can open (integrations: managers and admins)."""
    from opsdesk.events.models import EventIntegration

    entries = [*SUBNAV[:3], RUNBOOKS, *SUBNAV[3:]]
    if can(request, EventIntegration, Action.CHANGE):
        return entries
    return [entry for entry in entries if entry[0] != "integrations"]


def org_for(
    request: HttpRequest,
    model: type[models.Model] = AlertGroup,
    action: str = Action.VIEW,
    refusal: str = REFUSAL,
) -> Any:
    """The current organisation if the user may `action` `model` there (404 / 403 else)."""
    return page_organization(request, model, refusal, action)


def can(request: HttpRequest, model: type[models.Model], action: str) -> bool:
    org = request.organization  # type: ignore[attr-defined]
    return org is not None and has_permission(request.user, model, action, org.pk)


def partial(request: HttpRequest) -> bool:
    """An htmx request for a fragment (not a history restore, which wants the whole page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def in_org(request: HttpRequest, model: type[models.Model], pk: int, org: Any, noun: str) -> Any:
    """The `model` row `pk` of the page's organisation that the user may view, else 404 (the
    same for "does not exist", "not yours" and "another of your organisations")."""
    found = (
        model.objects.restrict(request.user, Action.VIEW)  # type: ignore[attr-defined]
        .filter(pk=pk, organization_id=org.pk)
        .first()
    )
    if found is None:
        raise Http404(f"No {noun} matches the given id.")
    return found


def report(request: HttpRequest, exc: FieldError | Conflict) -> None:
    """An action's refusal as messages naming the field."""
    items = {exc.field or "": exc.detail} if isinstance(exc, Conflict) else exc.errors
    for field, message in items.items():
        label = field.removesuffix("_id").removesuffix("_ids").replace("_", " ")
        if label == "__all__":
            label = ""
        messages.error(request, f"{label.capitalize()}: {message}" if label else message)


def form_errors(form: Any, exc: FieldError | Conflict) -> None:
    """An action's refusal on the form, on the field it names when the form has it."""
    items = {exc.field or "__all__": exc.detail} if isinstance(exc, Conflict) else exc.errors
    for field, message in items.items():
        name = field.removesuffix("_id")
        form.add_error(name if name in form.fields else None, message)


def with_query(querydict: Any, **values: str) -> str:
    qs = querydict.copy()
    for key, value in values.items():
        qs[key] = value
    return qs.urlencode()


def tabs(request: HttpRequest, choices: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    base = request.GET.copy()
    for name in ("page", "tab"):
        base.pop(name, None)
    return [
        {"key": k, "label": label, "href": "?" + with_query(base, tab=k)} for k, label in choices
    ]
