"""Web pages of the core: home, organisation switcher, audit log, error pages."""

from __future__ import annotations

import json
from datetime import datetime, time
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import DisallowedHost
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.dateparse import parse_date
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import defaults
from django.views.decorators.http import require_POST

from opsdesk.accounts.selectors import my_teams
from opsdesk.core import selectors
from opsdesk.core.errors import NotFound
from opsdesk.core.middleware import SESSION_ORG_KEY
from opsdesk.core.models import AuditAction, AuditRecord
from opsdesk.core.permissions import Action, has_permission

AUDIT_PAGE_SIZE = 50


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    org = request.organization
    memberships = (
        user.memberships.select_related("organization")
        .filter(organization__is_active=True)
        .order_by("organization__name")
    )
    can_read_here = org is not None and has_permission(user, AuditRecord, Action.VIEW, org.pk)
    recent: list[AuditRecord] = []
    changes_this_week = 0
    if can_read_here:
        in_org = selectors.audit_records(user, organization_id=org.pk)
        recent = list(in_org[:10])
        week_ago = timezone.now() - timezone.timedelta(days=7)
        changes_this_week = in_org.filter(timestamp__gte=week_ago).count()
    return render(
        request,
        "core/home.html",
        {
            "memberships": memberships,
            "teams": my_teams(user).prefetch_related("members"),
            "recent_audit": recent,
            "can_read_audit_here": can_read_here,
            "changes_this_week": changes_this_week,
        },
    )


@require_POST
@login_required
def switch_organization(request: HttpRequest) -> HttpResponse:
    raw = request.POST.get("organization", "")
    try:
        org = selectors.access_organization(request.user, int(raw))
    except (ValueError, NotFound):
        messages.error(request, "You are not a member of that organisation.")
        return HttpResponseRedirect(reverse("home"))
    request.session[SESSION_ORG_KEY] = org.pk
    messages.success(request, f"Now working in {org.name}.")
    target = request.POST.get("next") or reverse("home")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = reverse("home")
    return HttpResponseRedirect(target)


def _day_bound(raw: str | None, end: bool) -> datetime | None:
    day = parse_date(raw or "") if raw else None
    if day is None:
        return None
    if end:
        day = day + timezone.timedelta(days=1)
    return timezone.make_aware(datetime.combine(day, time.min))


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    user = request.user
    params = request.GET
    org = request.organization
    scope = "all" if params.get("scope") == "all" or org is None else "current"
    filters: dict[str, Any] = {
        "organization_id": org.pk if scope == "current" else None,
        "actor": params.get("actor", "").strip() or None,
        "object_type": params.get("object_type") or None,
        "action": params.get("action") if params.get("action") in AuditAction.values else None,
        "since": _day_bound(params.get("since"), end=False),
        "until": _day_bound(params.get("until"), end=True),
        "q": params.get("q", "").strip() or None,
        "request_id": params.get("request_id", "").strip() or None,
    }
    records = selectors.audit_records(user, **filters).select_related("organization")
    page = Paginator(records, AUDIT_PAGE_SIZE).get_page(params.get("page"))
    querystring = params.copy()
    querystring.pop("page", None)
    context = {
        "page": page,
        "filters": params,
        "scope": scope,
        "object_types": selectors.audit_object_types(user),
        "actions": AuditAction.choices,
        "querystring": querystring.urlencode(),
        "filtered": any(v is not None for k, v in filters.items() if k != "organization_id"),
    }
    # A history restore (back button after the cache expired) needs the whole page.
    partial = request.htmx and not request.htmx.history_restore_request
    template = "core/audit_log.html#results" if partial else "core/audit_log.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _display(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


@login_required
def audit_detail(request: HttpRequest, record_id: int) -> HttpResponse:
    record = (
        selectors.audit_records(request.user)
        .select_related("organization")
        .filter(pk=record_id)
        .first()
    )
    if record is None:
        return not_found(request, None)
    rows = [
        {
            "field": field,
            "before": _display(pair[0]),
            "after": _display(pair[1]),
            "before_empty": pair[0] is None,
            "after_empty": pair[1] is None,
        }
        for field, pair in (record.changes or {}).items()
    ]
    return render(
        request,
        "core/audit_detail.html",
        {
            "record": record,
            "rows": rows,
            "before_json": _display(record.before) if record.before is not None else None,
            "after_json": _display(record.after) if record.after is not None else None,
        },
    )


def bad_request(request: HttpRequest, exception: Exception | None) -> HttpResponse:
    """A request Django refuses before any view (a forbidden or malformed Host header, a
    malformed body): the API answers in its JSON error shape, naming the header."""
    if request.path.startswith("/api/"):
        field = "Host" if isinstance(exception, DisallowedHost) else None
        message = "Not a host this server answers for." if field else "Malformed request."
        return JsonResponse(
            {"detail": "Bad request.", "errors": [{"field": field, "message": message}]},
            status=400,
        )
    return defaults.bad_request(request, exception)


def not_found(request: HttpRequest, exception: Exception | None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found.", "errors": []}, status=404)
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        rid = getattr(request, "request_id", "")
        return JsonResponse(
            {"detail": f"Internal error; quote request id {rid}.", "errors": []}, status=500
        )
    # No context processors here: they query the database, which may be what failed.
    html = loader.get_template("500.html").render(
        {"request_id": getattr(request, "request_id", "")}
    )
    return HttpResponse(html, status=500)
