"""The requester portal: a plain page for people outside IT to report a problem, order from
the catalogue, follow their tickets and say how it went.

Everything here is about the signed-in person's own tickets, whatever their role: the
ticket pages show the public timeline only (comments, state changes, approvals), never work
notes. Writes go through the same actions as the agent pages and the API.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from opsdesk.catalog import actions as catalog_actions
from opsdesk.catalog import selectors as catalog_selectors
from opsdesk.catalog.api import request_timeline
from opsdesk.catalog.choices import ApprovalState, ItemState
from opsdesk.catalog.definitions import display_answers
from opsdesk.catalog.models import ServiceRequest
from opsdesk.catalog.rendering import answers_from_post, form_fields, timeline_rows
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.errors import Conflict, FieldError, NotFound, PermissionDenied
from opsdesk.portal import actions, selectors
from opsdesk.portal.models import Survey
from opsdesk.servicedesk import actions as desk_actions
from opsdesk.servicedesk import timeline
from opsdesk.servicedesk.choices import OPEN_STATES, Channel, IncidentState, SubjectType, Urgency
from opsdesk.servicedesk.models import Attachment, Incident

MAX_FILES = 5
RECENT = 8


def _org(request: HttpRequest) -> Any:
    org = request.organization
    if not org:
        raise Http404("Choose an organisation first.")
    return org


def _errors_to_messages(request: HttpRequest, exc: Exception) -> None:
    if isinstance(exc, FieldError):
        for field, message in exc.errors.items():
            messages.error(request, message if field == "__all__" else f"{message}")
    else:
        messages.error(request, getattr(exc, "detail", str(exc)))


def _my_incidents(user: Any, org: Any) -> Any:
    return (
        Incident.objects.restrict(user)
        .filter(organization_id=org.pk, requester_id=user.pk)
        .order_by("-opened_at", "-pk")
    )


def _my_requests(user: Any, org: Any) -> Any:
    return (
        ServiceRequest.objects.restrict(user)
        .filter(organization_id=org.pk)
        .filter(Q(requester_id=user.pk) | Q(opened_by_id=user.pk))
        .order_by("-opened_at", "-pk")
    )


def _ticket_rows(incidents: Any, requests: Any, limit: int | None = None) -> list[dict]:
    rows = [
        {
            "kind": "incident",
            "number": i.number,
            "title": i.title,
            "state": i.state,
            "state_label": i.get_state_display(),
            "opened_at": i.opened_at,
            "url": reverse("portal-incident", args=[i.pk]),
            "open": i.state in OPEN_STATES,
        }
        for i in incidents
    ] + [
        {
            "kind": "request",
            "number": r.number,
            "title": r.title,
            "state": r.state,
            "state_label": r.get_state_display(),
            "opened_at": r.opened_at,
            "url": reverse("portal-request", args=[r.pk]),
            "open": r.is_open,
        }
        for r in requests
    ]
    rows.sort(key=lambda r: r["opened_at"], reverse=True)
    return rows[:limit] if limit else rows


def _survey_rows(user: Any, org: Any) -> list[dict]:
    surveys = list(selectors.pending_surveys(user, org.pk)[:20])
    numbers: dict[tuple[str, int], tuple[str, str, str]] = {}
    by_type: dict[str, list[int]] = {}
    for s in surveys:
        by_type.setdefault(s.subject_type, []).append(s.subject_id)
    for subject_type, ids in by_type.items():
        model = timeline.subject_model(subject_type)
        name = "portal-incident" if subject_type == SubjectType.INCIDENT else "portal-request"
        for obj in model._base_manager.filter(pk__in=ids):
            numbers[(subject_type, obj.pk)] = (
                obj.number,
                obj.title,
                reverse(name, args=[obj.pk]) + "#survey",
            )
    return [
        {"survey": s, "number": n[0], "title": n[1], "url": n[2]}
        for s in surveys
        if (n := numbers.get((s.subject_type, s.subject_id)))
    ]


def _base(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {"section": extra.pop("section", ""), **extra}


# --- Home -----------------------------------------------------------------------------------------


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    org = _org(request)
    incidents = _my_incidents(user, org)
    requests_ = _my_requests(user, org)
    context = _base(
        request,
        section="home",
        tickets=_ticket_rows(incidents[:RECENT], requests_[:RECENT], limit=RECENT),
        open_count=incidents.filter(state__in=OPEN_STATES).count()
        + requests_.filter(state="open").count(),
        surveys=_survey_rows(user, org),
        approvals=catalog_selectors.approvals_for_user(user, organization=org.pk).count(),
    )
    return render(request, "portal/home.html", context)


# --- Report a problem -----------------------------------------------------------------------------

URGENCY_CHOICES = [
    (Urgency.LOW, "I can work, it is an annoyance"),
    (Urgency.MEDIUM, "My work is slowed down"),
    (Urgency.HIGH, "I cannot work at all"),
]


#: Errors the report form shows next to a field; any other is shown at the top.
SHOWN_BY_FIELD = frozenset({"title", "description", "service_id", "urgency", "file"})


def _services(org: Any) -> Any:
    return ConfigurationItem.objects.filter(
        organization_id=org.pk, ci_class__is_service=True
    ).order_by("name")


@login_required
def report(request: HttpRequest) -> HttpResponse:
    user = request.user
    org = _org(request)
    values: dict[str, Any] = {"urgency": str(int(Urgency.LOW))}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {
            k: request.POST.get(k, "") for k in ("title", "description", "service", "urgency")
        }
        files = request.FILES.getlist("files")
        service = None
        if values["service"]:
            service = (
                _services(org).filter(pk=values["service"]).first()
                if values["service"].isdigit()
                else None
            )
            if service is None:
                errors["service_id"] = "Choose a service from the list."
        try:
            urgency = int(values["urgency"] or Urgency.LOW)
        except ValueError:
            urgency = 0
        if urgency not in Urgency.values:
            errors["urgency"] = "Choose how much this affects you."
        if not values["title"].strip():
            errors["title"] = "Tell us in a few words what is wrong."
        if len(files) > MAX_FILES:
            errors["file"] = f"At most {MAX_FILES} files."
        if not errors:
            try:
                with transaction.atomic():
                    incident = desk_actions.create_incident(
                        acting_user=user,
                        organization=org,
                        title=values["title"].strip()[:255],
                        description=values["description"],
                        channel=Channel.PORTAL,
                        service=service,
                        urgency=urgency,
                    )
                    for upload in files:
                        desk_actions.add_attachment(
                            acting_user=user,
                            subject=incident,
                            filename=upload.name,
                            content=upload.read(),
                            content_type=upload.content_type or "",
                        )
            except FieldError as exc:
                errors = exc.errors
            except PermissionDenied as exc:
                errors = {"__all__": exc.detail}
            else:
                messages.success(request, f"Thank you. {incident.number} is with the service desk.")
                return HttpResponseRedirect(reverse("portal-incident", args=[incident.pk]))
    context = _base(
        request,
        section="report",
        values=values,
        errors=errors,
        services=_services(org)[:300],
        urgencies=URGENCY_CHOICES,
        general_errors=[m for k, m in errors.items() if k not in SHOWN_BY_FIELD],
    )
    return render(request, "portal/report.html", context, status=422 if errors else 200)


# --- Request something ----------------------------------------------------------------------------


@login_required
def catalog(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    q = (request.GET.get("q") or "").strip()[:200]
    category = (request.GET.get("category") or "").strip()[:100]
    items = catalog_selectors.catalog_items(
        request.user, organization=org.pk, active=True, q=q or None, category=category or None
    )
    groups: dict[str, list] = {}
    for item in items:
        groups.setdefault(item.category or "Other", []).append(item)
    context = _base(
        request,
        section="catalog",
        groups=sorted(groups.items()),
        categories=catalog_selectors.categories(request.user, org.pk),
        q=q,
        category=category,
    )
    return render(request, "portal/catalog.html", context)


@login_required
def order(request: HttpRequest, item_id: int) -> HttpResponse:
    user = request.user
    org = _org(request)
    try:
        item = catalog_selectors.access_catalog_item(user, item_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    if item.organization_id != org.pk or not item.active:
        raise Http404("No catalogue item matches the given id.")
    answers: dict[str, Any] = {}
    field_errors: dict[str, str] = {}
    other_errors: list[str] = []
    quantity = "1"
    if request.method == "POST":
        answers = answers_from_post(item.form or [], request.POST)
        quantity = request.POST.get("quantity", "1")
        try:
            number = int(quantity)
        except ValueError:
            number = 0
        try:
            if not 1 <= number <= catalog_actions.MAX_QUANTITY:
                raise FieldError({"items.0.quantity": "Between 1 and 100."})
            made = catalog_actions.submit_request(
                acting_user=user,
                organization=org,
                items=[{"catalog_item": item, "answers": answers, "quantity": number}],
            )
        except FieldError as exc:
            for key, message in exc.errors.items():
                short = key.removeprefix("items.0.")
                if short.startswith("answers.") and short != "answers":
                    field_errors[short] = message
                elif short == "quantity":
                    field_errors["quantity"] = message
                else:
                    other_errors.append(message)
        except PermissionDenied as exc:
            other_errors.append(exc.detail)
        else:
            messages.success(request, f"Thank you. Your request {made.number} has been submitted.")
            return HttpResponseRedirect(reverse("portal-request", args=[made.pk]))
    context = _base(
        request,
        section="catalog",
        item=item,
        fields=form_fields(item.form or [], org.pk, answers, field_errors),
        quantity=quantity,
        quantity_error=field_errors.get("quantity", ""),
        other_errors=other_errors,
        has_approval=bool(item.approval_steps),
    )
    status = 422 if field_errors or other_errors else 200
    return render(request, "portal/order.html", context, status=status)


# --- My tickets -----------------------------------------------------------------------------------


@login_required
def tickets(request: HttpRequest) -> HttpResponse:
    user = request.user
    org = _org(request)
    show = request.GET.get("show", "open")
    rows = _ticket_rows(_my_incidents(user, org)[:500], _my_requests(user, org)[:500])
    if show == "open":
        rows = [r for r in rows if r["open"]]
    elif show == "closed":
        rows = [r for r in rows if not r["open"]]
    return render(
        request, "portal/tickets.html", _base(request, section="tickets", rows=rows, show=show)
    )


def _survey_for(user: Any, subject_type: str, subject_id: int) -> Survey | None:
    return (
        Survey.objects.restrict(user)
        .filter(subject_type=subject_type, subject_id=subject_id, requester_id=user.pk)
        .first()
    )


def _attachments(user: Any, subject_type: str, subject_id: int) -> Any:
    return Attachment.objects.restrict(user).filter(
        subject_type=subject_type, subject_id=subject_id, public=True, quarantined=False
    )


def _own_incident(request: HttpRequest, incident_id: int) -> Incident:
    org = _org(request)
    found = _my_incidents(request.user, org).filter(pk=incident_id).first()
    if found is None:
        raise Http404("No ticket of yours matches the given id.")
    return found


def _own_request(request: HttpRequest, request_id: int) -> ServiceRequest:
    org = _org(request)
    found = _my_requests(request.user, org).filter(pk=request_id).first()
    if found is None:
        raise Http404("No ticket of yours matches the given id.")
    return found


@login_required
def incident_detail(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = _own_incident(request, incident_id)
    entries = timeline.timeline(request.user, incident, public_only=True)
    context = _base(
        request,
        section="tickets",
        ticket=incident,
        kind="incident",
        timeline=timeline_rows(entries),
        attachments=_attachments(request.user, SubjectType.INCIDENT, incident.pk),
        survey=_survey_for(request.user, SubjectType.INCIDENT, incident.pk),
        resolved=incident.state == IncidentState.RESOLVED,
        is_open=incident.state in OPEN_STATES,
        comment_url=reverse("portal-incident-comment", args=[incident.pk]),
    )
    return render(request, "portal/ticket.html", context)


@login_required
def request_detail(request: HttpRequest, request_id: int) -> HttpResponse:
    req = _own_request(request, request_id)
    items = []
    for item in catalog_selectors.request_items(request.user, req):
        waiting = [
            a.approver
            for a in item.approvals.all()
            if a.state == ApprovalState.REQUESTED and a.step == item.step
        ]
        items.append(
            {
                "item": item,
                "answers": display_answers(item.definition.get("form") or [], item.answers),
                "waiting_for": waiting,
                "in_fulfilment": item.state == ItemState.IN_FULFILMENT,
            }
        )
    numbers = {(SubjectType.REQUEST_ITEM, row["item"].pk): row["item"].title for row in items}
    entries = request_timeline(request.user, req).filter(public=True).select_related("actor")
    context = _base(
        request,
        section="tickets",
        ticket=req,
        kind="request",
        items=items,
        timeline=timeline_rows(entries, numbers),
        attachments=_attachments(request.user, SubjectType.REQUEST, req.pk),
        survey=_survey_for(request.user, SubjectType.REQUEST, req.pk),
        is_open=req.is_open,
        comment_url=reverse("portal-request-comment", args=[req.pk]),
    )
    return render(request, "portal/ticket.html", context)


def _comment(request: HttpRequest, subject: Any, back: str) -> HttpResponse:
    body = request.POST.get("body", "")
    files = request.FILES.getlist("files")
    try:
        if len(files) > MAX_FILES:
            raise FieldError({"file": f"At most {MAX_FILES} files at a time."})
        with transaction.atomic():
            if body.strip() or not files:
                desk_actions.add_comment(acting_user=request.user, subject=subject, body=body)
            for upload in files:
                desk_actions.add_attachment(
                    acting_user=request.user,
                    subject=subject,
                    filename=upload.name,
                    content=upload.read(),
                    content_type=upload.content_type or "",
                )
    except (FieldError, PermissionDenied) as exc:
        _errors_to_messages(request, exc)
    else:
        messages.success(request, "Added. The service desk has been told.")
    return HttpResponseRedirect(back + "#timeline")


@require_POST
@login_required
def incident_comment(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = _own_incident(request, incident_id)
    return _comment(request, incident, reverse("portal-incident", args=[incident.pk]))


@require_POST
@login_required
def request_comment(request: HttpRequest, request_id: int) -> HttpResponse:
    req = _own_request(request, request_id)
    return _comment(request, req, reverse("portal-request", args=[req.pk]))


@require_POST
@login_required
def incident_transition(request: HttpRequest, incident_id: int) -> HttpResponse:
    """The requester confirms the fix (close), says it is still broken (reopen), or
    withdraws the ticket (cancel)."""
    incident = _own_incident(request, incident_id)
    verb = request.POST.get("transition", "")
    try:
        if verb not in desk_actions.REQUESTER_TRANSITIONS:
            raise FieldError({"transition": "Not something you can do here."})
        desk_actions.transition_incident(
            acting_user=request.user,
            incident=incident,
            transition=verb,
            reason=request.POST.get("reason", ""),
        )
    except (FieldError, PermissionDenied, Conflict) as exc:
        if isinstance(exc, FieldError) and "reason" in exc.errors:
            messages.error(request, "Please tell us why.")
        else:
            _errors_to_messages(request, exc)
    else:
        done = {
            "close": "Closed. Glad it is fixed!",
            "reopen": "Reopened: the service desk will look at it again.",
            "cancel": "Withdrawn.",
        }
        messages.success(request, done[verb])
    return HttpResponseRedirect(reverse("portal-incident", args=[incident.pk]))


@require_POST
@login_required
def request_cancel(request: HttpRequest, request_id: int) -> HttpResponse:
    req = _own_request(request, request_id)
    try:
        catalog_actions.cancel_request(
            acting_user=request.user, request=req, reason=request.POST.get("reason", "")
        )
    except (FieldError, PermissionDenied, Conflict) as exc:
        if isinstance(exc, FieldError) and "reason" in exc.errors:
            messages.error(request, "Please tell us why.")
        else:
            _errors_to_messages(request, exc)
    else:
        messages.success(request, f"{req.number} withdrawn.")
    return HttpResponseRedirect(reverse("portal-request", args=[req.pk]))


@require_POST
@login_required
def survey_answer(request: HttpRequest, survey_id: int) -> HttpResponse:
    org = _org(request)
    survey = (
        Survey.objects.restrict(request.user)
        .filter(pk=survey_id, organization_id=org.pk, requester_id=request.user.pk)
        .first()
    )
    if survey is None:
        raise Http404("No survey of yours matches the given id.")
    name = "portal-incident" if survey.subject_type == SubjectType.INCIDENT else "portal-request"
    try:
        actions.answer_survey(
            acting_user=request.user,
            survey=survey,
            rating=request.POST.get("rating", ""),
            comment=request.POST.get("comment", ""),
        )
    except (FieldError, PermissionDenied, Conflict) as exc:
        _errors_to_messages(request, exc)
    else:
        messages.success(request, "Thank you for your feedback!")
    return HttpResponseRedirect(reverse(name, args=[survey.subject_id]) + "#survey")


@login_required
def attachment(request: HttpRequest, attachment_id: int) -> FileResponse:
    """A public file of one of my tickets."""
    org = _org(request)
    found = (
        Attachment.objects.restrict(request.user)
        .filter(pk=attachment_id, organization_id=org.pk, public=True, quarantined=False)
        .first()
    )
    if found is None:
        raise Http404("No file matches the given id.")
    model = timeline.subject_model(found.subject_type)
    subject = model._base_manager.filter(pk=found.subject_id).first()
    owners = {getattr(subject, "requester_id", None), getattr(subject, "opened_by_id", None)}
    if subject is None or request.user.pk not in owners:
        raise Http404("No file matches the given id.")
    return FileResponse(found.file.open("rb"), as_attachment=True, filename=found.filename)
