"""Request id, current organisation and audit context for every request."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from opsdesk.core.context import actor_var, new_request_id, request_id_var

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
SESSION_ORG_KEY = "opsdesk_organization_id"


def request_id_for(incoming: str) -> str:
    """The caller's X-Request-ID if it is sane, else a new one."""
    return incoming if _VALID_REQUEST_ID.match(incoming) else new_request_id()


class RequestIdMiddleware:
    """Takes a sane X-Request-ID from the caller or makes one; echoes it on the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = request_id_for(request.headers.get("X-Request-ID", ""))
        request.request_id = rid
        token = request_id_var.set(rid)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = rid
        return response


def current_organization(request: HttpRequest):  # type: ignore[no-untyped-def]
    """The organisation the user is working in: the one chosen in the switcher, if still a member."""
    from opsdesk.core.models import Organization
    from opsdesk.core.permissions import organization_roles

    user = request.user
    if not user.is_authenticated:
        return None
    roles = organization_roles(user)
    chosen = request.session.get(SESSION_ORG_KEY)
    if chosen in roles:
        return Organization.objects.filter(pk=chosen).first()
    qs = Organization.objects.filter(is_active=True)
    if not user.is_superuser:
        qs = qs.filter(pk__in=roles)
    return qs.order_by("name").first()


class CurrentOrganizationMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.organization = SimpleLazyObject(lambda: current_organization(request))
        return self.get_response(request)


class AuditContextMiddleware:
    """Attributes changes made during a session-authenticated request to its user.

    Token-authenticated API calls set the actor in the API's authentication step.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = actor_var.set(request.user if request.user.is_authenticated else None)
        try:
            return self.get_response(request)
        finally:
            actor_var.reset(token)


class TimezoneMiddleware:
    """Pages show times in the user's time zone, else in the current organisation's."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = None
        if request.user.is_authenticated and not request.path.startswith("/api/"):
            name = request.user.time_zone
            if not name:
                org = request.organization
                name = org.time_zone if org is not None else ""
            try:
                zone = zoneinfo.ZoneInfo(name) if name else None
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                zone = None
        if zone is None:
            return self.get_response(request)
        timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
