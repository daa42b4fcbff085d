"""Pages of service-level definitions: the list grouped by kind, a definition with the clocks
it runs and the recomputations it caused, and the editor (admins) with a live preview
("this ticket would be due at ...", an htmx call to `definition_preview`).

Views check the shape of input (forms) and call `opsdesk.sla.definition_actions`, like the
API. Every page is scoped to the current organisation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from opsdesk.accounts.models import Team
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.errors import Conflict, FieldError, NotFound, PermissionDenied
from opsdesk.core.models import BusinessCalendar
from opsdesk.core.pages import page_organization
from opsdesk.core.permissions import Action, has_permission
from opsdesk.core.selectors import access
from opsdesk.servicedesk.charts import hbar_chart
from opsdesk.servicedesk.models import Incident
from opsdesk.sla import definition_actions as actions
from opsdesk.sla.choices import LIVE_STATUSES, ClockStatus, Kind, Metric
from opsdesk.sla.forms_definitions import (
    PRIORITIES,
    DefinitionForm,
    PreviewForm,
    initial_from,
    token_choices,
)
from opsdesk.sla.models import Clock, Definition, Recompute
from opsdesk.vendors.models import Vendor

KIND_TITLES = {
    Kind.SLA: ("Service level agreements", "What customers were promised."),
    Kind.OLA: ("Operational level agreements", "What internal teams promise each other."),
    Kind.UC: ("Underpinning contracts", "What suppliers owe while a ticket is with them."),
}


#: Chart labels short enough for the chart's label column.
SHORT_STATUS = {ClockStatus.WAITING: "Waiting"}


def fmt_minutes(minutes: Any) -> str:
    """Business minutes as people say them: 15 min, 4 h, 8 h 30 min."""
    if minutes in (None, ""):
        return "—"
    total = round(float(minutes))
    hours, rest = divmod(total, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def fmt_seconds(seconds: Any) -> str:
    return fmt_minutes(round(float(seconds) / 60)) if seconds else "0 min"


def _org(request: HttpRequest) -> Any:
    return page_organization(
        request, Definition, "Service-level definitions are not part of your role."
    )


def _can(request: HttpRequest, action: str) -> bool:
    org = request.organization
    return org is not None and has_permission(request.user, Definition, action, org.pk)


def _definition_in_org(request: HttpRequest, definition_id: int) -> Definition:
    org = _org(request)
    try:
        definition = access(
            Definition.objects.restrict(request.user, Action.VIEW).select_related(
                "team", "vendor", "calendar"
            ),
            definition_id,
            "service-level definition",
        )
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    if definition.organization_id != org.pk:
        raise Http404("No service-level definition matches the given id.")
    return definition


def _tz(org: Any) -> ZoneInfo:
    try:
        return ZoneInfo(org.time_zone or "UTC")
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


def _targets(definition: Definition) -> list[dict[str, Any]]:
    return [
        {
            "priority": p,
            "response": fmt_minutes((definition.response_minutes or {}).get(str(p))),
            "resolution": fmt_minutes((definition.resolution_minutes or {}).get(str(p))),
        }
        for p in PRIORITIES
    ]


def _token_labels() -> dict[str, str]:
    return dict(token_choices())


# --- list and detail -----------------------------------------------------------------------


@login_required
def definition_list(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    rows = list(
        Definition.objects.restrict(request.user, Action.VIEW)
        .filter(organization_id=org.pk)
        .select_related("team", "vendor", "calendar")
        .order_by("kind", "name")
    )
    # Live clocks only (the status index), so the page does not scan years of history.
    live = Clock.objects.filter(organization_id=org.pk, status__in=LIVE_STATUSES)
    running = dict(
        live.filter(status=ClockStatus.RUNNING)
        .values_list("definition_id")
        .annotate(n=Count("id"))
        .values_list("definition_id", "n")
    )
    breached = dict(
        live.filter(breached=True)
        .values_list("definition_id")
        .annotate(n=Count("id"))
        .values_list("definition_id", "n")
    )
    for d in rows:
        d.running, d.breached_open = running.get(d.pk, 0), breached.get(d.pk, 0)
    groups = []
    for kind in Kind:
        items = [{"definition": d, "targets": _targets(d)} for d in rows if d.kind == kind.value]
        title, blurb = KIND_TITLES[kind]
        groups.append({"kind": kind.value, "title": title, "blurb": blurb, "items": items})
    return render(
        request,
        "sla/definitions/list.html",
        {"groups": groups, "can_add": _can(request, Action.ADD), "priorities": PRIORITIES},
    )


def _status_chart(definition: Definition) -> tuple[dict[str, int], Any, int]:
    counts = dict(
        Clock.objects.filter(definition=definition)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    breached = Clock.objects.filter(definition=definition, breached=True).count()
    rows = [
        {
            "label": SHORT_STATUS.get(status.value, status.label),
            "count": counts.get(status.value, 0),
            "css": f"sld-bar-{status.value}",
        }
        for status in ClockStatus
    ]
    rows.append({"label": "Breached", "count": breached, "css": "sld-bar-breached"})
    chart = hbar_chart(
        rows, title=f"Clocks of {definition.name} by status", css="sld-bar", width=520
    )
    return counts, chart, breached


@login_required
def definition_detail(request: HttpRequest, definition_id: int) -> HttpResponse:
    definition = _definition_in_org(request, definition_id)
    counts, chart, breached = _status_chart(definition)
    tokens = _token_labels()
    teams = dict(
        Team.objects.filter(organization_id=definition.organization_id).values_list("pk", "name")
    )
    escalations = []
    for e in definition.escalations or []:
        what = e["action"].replace("_", " ")
        if e["action"] == "notify":
            what = f"notify {e.get('to', '').replace('_', ' ')}"
        elif e["action"] == "reassign":
            what = f"reassign to {teams.get(e.get('team'), 'a removed team')}"
        escalations.append({"at": e["at"], "what": what})
    recomputes = list(
        Recompute.objects.filter(
            organization_id=definition.organization_id,
            object_type="sla.definition",
            object_id=str(definition.pk),
        ).order_by("-at", "-pk")[:10]
    )
    return render(
        request,
        "sla/definitions/detail.html",
        {
            "definition": definition,
            "services": list(definition.services.order_by("name")),
            "targets": _targets(definition),
            "token_rows": [
                (label, [tokens.get(t, t) for t in getattr(definition, name) or []], empty)
                for name, label, empty in (
                    ("start_when", "Starts when", "on creation"),
                    ("pause_when", "Pauses while", "never"),
                    ("stop_when", "Stops when", "never"),
                    (
                        "run_when",
                        "Counts only while",
                        "with the vendor" if definition.kind == Kind.UC else "any state not paused",
                    ),
                )
            ],
            "escalations": escalations,
            "clock_total": sum(counts.values()),
            "breached": breached,
            "chart": chart,
            "recomputes": recomputes,
            "can_change": _can(request, Action.CHANGE),
            "can_delete": _can(request, Action.DELETE),
        },
    )


# --- editor --------------------------------------------------------------------------------


def _choices(org: Any) -> dict[str, list[tuple[int, str]]]:
    return {
        "teams": list(
            Team.objects.filter(organization_id=org.pk).order_by("name").values_list("pk", "name")
        ),
        "vendors": list(
            Vendor.objects.filter(organization_id=org.pk).order_by("name").values_list("pk", "name")
        ),
        "calendars": list(
            BusinessCalendar.objects.filter(organization_id=org.pk)
            .order_by("name")
            .values_list("pk", "name")
        ),
        "services": list(
            ConfigurationItem.objects.filter(organization_id=org.pk, ci_class__is_service=True)
            .order_by("name")
            .values_list("pk", "name")[:300]
        ),
    }


def _definition_form(
    org: Any, data: Any = None, definition: Definition | None = None
) -> DefinitionForm:
    choices = _choices(org)
    if definition is not None:
        initial, conditions, escalations = initial_from(definition)
    else:
        initial, conditions, escalations = (
            {
                "is_active": True,
                "warning_thresholds": "50, 75, 90",
                "pause_when": ["on_hold:awaiting_requester"],
                "stop_when": ["resolved", "closed", "cancelled"],
            },
            0,
            0,
        )
    return DefinitionForm(
        data,
        initial=initial,
        teams=choices["teams"],
        vendors=choices["vendors"],
        calendars=choices["calendars"],
        services=choices["services"],
        conditions=conditions,
        escalations=escalations,
    )


def _preview_form(org: Any, data: Any = None) -> PreviewForm:
    choices = _choices(org)
    now = timezone.now().astimezone(_tz(org)).replace(second=0, microsecond=0, tzinfo=None)
    return PreviewForm(
        data,
        initial={"preview_priority": 2, "preview_opened_at": now},
        teams=choices["teams"],
        services=choices["services"],
    )


def _add_errors(form: DefinitionForm, exc: FieldError | Conflict) -> None:
    items = {exc.field or "__all__": exc.detail} if isinstance(exc, Conflict) else exc.errors
    for name, message in items.items():
        target = {
            "team_id": "team",
            "vendor_id": "vendor",
            "calendar_id": "calendar",
            "service_ids": "services",
        }.get(name, name)
        if target in form.fields:
            form.add_error(target, message)
        elif target in form.extra_errors:
            form.extra_errors[target] = message
        else:
            form.add_error(None, f"{target.replace('_', ' ')}: {message}")


def _editor(request: HttpRequest, definition: Definition | None) -> HttpResponse:
    org = _org(request)
    if not _can(request, Action.CHANGE if definition else Action.ADD):
        raise DjangoPermissionDenied("Only administrators change service-level definitions.")
    data = request.POST if request.method == "POST" else None
    form = _definition_form(org, data, definition)
    if data is not None and form.is_valid():
        try:
            fields, services = actions.references(org.pk, form.action_fields())
            if definition is None:
                name = fields.pop("name")
                saved = actions.create_definition(
                    acting_user=request.user,
                    organization=org,
                    name=name,
                    services=services or [],
                    **fields,
                )
                messages.success(request, f"{saved} added; open tickets got its clocks.")
            else:
                saved = actions.update_definition(
                    acting_user=request.user, definition=definition, services=services, **fields
                )
                changed = saved.changed_fields
                messages.success(
                    request,
                    f"{saved} saved as version {saved.version}; open clocks recomputed."
                    if changed
                    else "Nothing changed.",
                )
        except (FieldError, Conflict) as exc:
            _add_errors(form, exc)
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.detail) from exc
        else:
            return HttpResponseRedirect(reverse("sla-definitions-detail", args=[saved.pk]))
    status = 422 if data is not None else 200
    return render(
        request,
        "sla/definitions/edit.html",
        {
            "form": form,
            "preview_form": _preview_form(org),
            "definition": definition,
            "priorities": PRIORITIES,
        },
        status=status,
    )


@login_required
def definition_new(request: HttpRequest) -> HttpResponse:
    return _editor(request, None)


@login_required
def definition_edit(request: HttpRequest, definition_id: int) -> HttpResponse:
    return _editor(request, _definition_in_org(request, definition_id))


def _incident(request: HttpRequest, org: Any, term: str) -> Incident:
    visible = Incident.objects.restrict(request.user, Action.VIEW).filter(organization_id=org.pk)
    term = term.strip().upper()
    found = None
    if term.isdigit() and len(term) < 18:
        found = visible.filter(pk=int(term)).first()
    if found is None and len(term) <= 32:
        found = visible.filter(number=term).first()
    if found is None:
        raise FieldError({"preview_incident": f"No incident here matches {term!r}."})
    return found


def _present(result: actions.Preview, tz: ZoneInfo) -> list[dict[str, Any]]:
    out = []
    for m in result.metrics:
        segments = []
        for s in m.segments:
            start = datetime.fromisoformat(s["start"]).astimezone(tz)
            end = datetime.fromisoformat(s["end"]).astimezone(tz)
            segments.append(
                {
                    "start": start,
                    "end": end,
                    "kind": s["kind"],
                    "label": s["label"],
                    "counted": fmt_seconds(s["counted_seconds"]),
                    "after": fmt_seconds(s["elapsed_after_seconds"]),
                }
            )
        out.append(
            {
                "metric": Metric(m.metric).label,
                "applies": m.applies,
                "reasons": m.reasons,
                "assumed": m.assumed,
                "target": fmt_minutes(m.target_minutes),
                "status": ClockStatus(m.status).label
                if m.status in ClockStatus.values
                else m.status,
                "due_at": m.due_at.astimezone(tz) if m.due_at else None,
                "breached_at": m.breached_at.astimezone(tz) if m.breached_at else None,
                "elapsed": fmt_minutes(m.elapsed_minutes),
                "segments": segments,
            }
        )
    return out


@require_POST
@login_required
def definition_preview(request: HttpRequest) -> HttpResponse:
    """The editor's live preview of the definition as edited (not saved)."""
    org = _org(request)
    if not (_can(request, Action.CHANGE) or _can(request, Action.ADD)):
        raise DjangoPermissionDenied("Only administrators edit service-level definitions.")
    editing = None
    raw_id = request.POST.get("definition_id", "")
    if raw_id.isdigit() and len(raw_id) < 18:
        editing = _definition_in_org(request, int(raw_id))
    form = _definition_form(org, request.POST, editing)
    preview_form = _preview_form(org, request.POST)
    tz = _tz(org)
    context: dict[str, Any] = {"errors": [], "result": None, "metrics": [], "tz": tz}
    if not form.is_valid() or not preview_form.is_valid():
        for name, errs in {**form.errors, **preview_form.errors}.items():
            context["errors"].append(f"{name.replace('_', ' ')}: {' '.join(errs)}")
        return render(request, "sla/definitions/_preview.html", context)
    try:
        fields, services = actions.references(org.pk, form.action_fields())
        draft = Definition(organization=org, **fields)
        draft.pk = editing.pk if editing else None
        actions.check(draft, services)
        p = preview_form.cleaned_data
        if (p.get("preview_incident") or "").strip():
            incident = _incident(request, org, p["preview_incident"])
            result = actions.preview(
                draft, service_ids=[s.pk for s in services or []], incident=incident
            )
        else:
            opened = p.get("preview_opened_at") or timezone.now()
            opened = opened.replace(tzinfo=None).replace(tzinfo=tz)  # the wall clock of the org
            ticket = actions.hypothetical(
                organization_id=org.pk,
                priority=p.get("preview_priority") or 3,
                opened_at=opened,
                service=actions.reference(
                    ConfigurationItem, org.pk, p.get("preview_service"), "preview_service", "CI"
                ),
                assignment_group=actions.reference(
                    Team, org.pk, p.get("preview_group"), "preview_group", "team"
                ),
            )
            result = actions.preview(
                draft, service_ids=[s.pk for s in services or []], ticket=ticket
            )
    except (FieldError, Conflict) as exc:
        items = {exc.field or "": exc.detail} if isinstance(exc, Conflict) else exc.errors
        context["errors"] = [f"{k.replace('_', ' ')}: {v}" for k, v in items.items()]
        return render(request, "sla/definitions/_preview.html", context)
    context["result"] = result
    context["opened_at"] = result.opened_at.astimezone(tz)
    context["metrics"] = _present(result, tz)
    return render(request, "sla/definitions/_preview.html", context)


@require_POST
@login_required
def definition_activate(request: HttpRequest, definition_id: int) -> HttpResponse:
    definition = _definition_in_org(request, definition_id)
    active = request.POST.get("active") == "1"
    try:
        saved = actions.deactivate_definition(
            acting_user=request.user, definition=definition, active=active
        )
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    messages.success(
        request, f"{saved} {'activated' if active else 'deactivated'}; open clocks recomputed."
    )
    return HttpResponseRedirect(reverse("sla-definitions-detail", args=[saved.pk]))


@require_POST
@login_required
def definition_delete(request: HttpRequest, definition_id: int) -> HttpResponse:
    definition = _definition_in_org(request, definition_id)
    label = str(definition)
    try:
        actions.delete_definition(acting_user=request.user, definition=definition)
    except Conflict as exc:
        messages.error(request, exc.detail)
        return HttpResponseRedirect(reverse("sla-definitions-detail", args=[definition.pk]))
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    messages.success(request, f"{label} deleted with its clocks.")
    return HttpResponseRedirect(reverse("sla-definitions-list"))


urlpatterns = [
    path("", definition_list, name="sla-definitions-list"),
    path("new/", definition_new, name="sla-definitions-new"),
    path("preview/", definition_preview, name="sla-definitions-preview"),
    path("<int:definition_id>/", definition_detail, name="sla-definitions-detail"),
    path("<int:definition_id>/edit/", definition_edit, name="sla-definitions-edit"),
    path("<int:definition_id>/active/", definition_activate, name="sla-definitions-active"),
    path("<int:definition_id>/delete/", definition_delete, name="sla-definitions-delete"),
]
