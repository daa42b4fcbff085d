"""Silences: the active and expired lists, the form (matcher rows name / op / value, a
duration or an end, a comment; prefilled from an alert's labels) and expiring one early.
Writes go through `opsdesk.events.silences` (create_silence, expire_silence)."""

from __future__ import annotations

import importlib
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.permissions import Action
from opsdesk.events.forms import DURATIONS, MATCHER_OPS, SilenceForm
from opsdesk.events.models import Alert, Silence
from opsdesk.events.views import can, form_errors, in_org, org_for, report, subnav_for, tabs

PAGE_SIZE = 50
TABS = (("active", "Active"), ("expired", "Expired"), ("all", "All"))
#: Labels that make a good silence by themselves: offered first when prefilling from an alert.
FIRST = ("alertname", "host.name", "service.name", "instance", "job", "namespace")
#: Rows the form shows (blank ones are ignored).
MIN_ROWS = 3


def silences_module() -> Any:
    return importlib.import_module("opsdesk.events.silences")


@login_required
def silence_list(request: HttpRequest) -> HttpResponse:
    org = org_for(request, Silence)
    tab = request.GET.get("tab", "active")
    tab = tab if tab in dict(TABS) else "active"
    now = timezone.now()
    qs = Silence.objects.restrict(request.user, Action.VIEW).filter(organization_id=org.pk)
    ended = Q(expired_early_at__isnull=False, expired_early_at__lte=now) | Q(ends_at__lte=now)
    if tab == "active":
        qs = qs.exclude(ended)
    elif tab == "expired":
        qs = qs.filter(ended)
    page = Paginator(qs.select_related("created_by").order_by("-starts_at", "-id"), PAGE_SIZE)
    page = page.get_page(request.GET.get("page"))
    querystring = request.GET.copy()
    querystring.pop("page", None)
    rows = [{"s": s, "active": s.is_active_at(now), "pending": s.starts_at > now} for s in page]
    return render(
        request,
        "events/silences.html",
        {
            "page": page,
            "rows": rows,
            "tab": tab,
            "tabs": tabs(request, TABS),
            "querystring": querystring.urlencode(),
            "can_add": can(request, Silence, Action.ADD),
            "can_expire": can(request, Silence, Action.CHANGE),
            "subnav": subnav_for(request),
            "subnav_here": "silences",
        },
    )


def prefill(alert: Alert) -> list[dict[str, str]]:
    """Matchers equal to the alert's labels (the telling ones first), or to its host and
    service when it has no labels."""
    labels = {str(k): str(v) for k, v in (alert.labels or {}).items() if v not in (None, "")}
    ordered = [k for k in FIRST if k in labels] + sorted(k for k in labels if k not in FIRST)
    rows = [{"name": k, "op": "=", "value": labels[k]} for k in ordered]
    if not rows:
        resource = alert.resource or {}
        rows = [
            {"name": k, "op": "=", "value": str(resource[k])}
            for k in ("host.name", "service.name", "k8s.pod.name", "cloud.resource_id")
            if resource.get(k)
        ]
    return rows


@login_required
def silence_new(request: HttpRequest) -> HttpResponse:
    org = org_for(request, Silence, Action.ADD, "You may not add silences here.")
    alert = None
    alert_id = request.GET.get("alert", "")
    if alert_id.isdigit() and len(alert_id) < 18:
        alert = in_org(request, Alert, int(alert_id), org, "alert")
    form = SilenceForm(request.POST or None, initial={"duration": "2h"})
    rows = form.rows if form.is_bound else (prefill(alert) if alert else [])
    if request.method == "POST" and form.is_valid():
        try:
            silence = silences_module().create_silence(
                acting_user=request.user,
                organization=org,
                matchers=form.matchers(),
                ends_at=form.cleaned_data["ends"],
                comment=form.cleaned_data["comment"],
            )
        except (FieldError, Conflict) as exc:
            form_errors(form, exc)
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.detail) from exc
        else:
            messages.success(
                request,
                f"Silence added until {timezone.localtime(silence.ends_at):%d %b %Y %H:%M}.",
            )
            return HttpResponseRedirect(reverse("events-silences"))
    blanks = max(MIN_ROWS - len(rows), 1)
    return render(
        request,
        "events/silence_new.html",
        {
            "form": form,
            "rows": rows,
            "blanks": range(blanks),
            "ops": MATCHER_OPS,
            "durations": DURATIONS,
            "alert": alert,
            "subnav": subnav_for(request),
            "subnav_here": "silences",
            "time_zone": timezone.get_current_timezone_name(),
        },
        status=422 if request.method == "POST" else 200,
    )


@require_POST
@login_required
def silence_expire(request: HttpRequest, silence_id: int) -> HttpResponse:
    org = org_for(request, Silence, Action.CHANGE, "You may not expire silences here.")
    silence = in_org(request, Silence, silence_id, org, "silence")
    try:
        silences_module().expire_silence(acting_user=request.user, silence=silence)
    except (FieldError, Conflict) as exc:
        report(request, exc)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    else:
        messages.success(request, "Silence expired: matching events open groups again.")
    return HttpResponseRedirect(reverse("events-silences"))
