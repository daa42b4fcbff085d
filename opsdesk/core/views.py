"""Web pages of the core: home, organisation switcher, audit log, error pages."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from opsdesk.accounts.selectors import my_teams
from opsdesk.core import selectors
from opsdesk.core.errors import NotFound
from opsdesk.core.middleware import SESSION_ORG_KEY
from opsdesk.core.models import AuditAction
from opsdesk.core.permissions import organization_roles

AUDIT_PAGE_SIZE = 50


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    roles = organization_roles(user)
    memberships = user.memberships.select_related("organization").filter(
        organization__is_active=True
    )
    recent = selectors.audit_records(user)
    org = request.organization
    if org is not None:
        recent = recent.filter(organization_id=org.pk)
    return render(
        request,
        "core/home.html",
        {
            "memberships": memberships,
            "teams": my_teams(user),
            "recent_audit": list(recent[:10]),
            "role_count": len(roles),
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
    scope = params.get("scope", "current")
    filters: dict[str, Any] = {
        "organization_id": org.pk if (org is not None and scope == "current") else None,
        "actor": params.get("actor", "").strip() or None,
        "object_type": params.get("object_type") or None,
        "action": params.get("action") if params.get("action") in AuditAction.values else None,
        "since": _day_bound(params.get("since"), end=False),
        "until": _day_bound(params.get("until"), end=True),
        "q": params.get("q", "").strip() or None,
        "request_id": params.get("request_id", "").strip() or None,
    }
    records = selectors.audit_records(user, **filters)
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
    }
    template = "core/audit_log.html#results" if request.htmx else "core/audit_log.html"
    return render(request, template, context)


@login_required
def audit_detail(request: HttpRequest, record_id: int) -> HttpResponse:
    record = selectors.audit_records(request.user).filter(pk=record_id).first()
    if record is None:
        return not_found(request, None)
    return render(request, "core/audit_detail.html", {"record": record})


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
    return render(request, "500.html", status=500)
