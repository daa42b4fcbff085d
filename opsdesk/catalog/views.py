"""Web pages of service requests for agents and approvers, and the catalogue admin.

Pages call the same selectors and actions as the API and are scoped to the current
organisation: a request of another organisation answers 404.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from opsdesk.accounts.models import Team, User
from opsdesk.catalog import actions, selectors
from opsdesk.catalog.api import request_timeline
from opsdesk.catalog.choices import ApprovalState, RequestState, TaskState
from opsdesk.catalog.definitions import display_answers
from opsdesk.catalog.models import CatalogItem, FulfilmentTask, ServiceRequest
from opsdesk.catalog.rendering import form_fields, timeline_rows
from opsdesk.catalog.workflows import TASK
from opsdesk.core.errors import Conflict, FieldError, NotFound, PermissionDenied
from opsdesk.core.permissions import Action, has_permission
from opsdesk.servicedesk.actions import add_attachment, add_comment
from opsdesk.servicedesk.choices import SubjectType

PAGE_SIZE = 50


def _org(request: HttpRequest) -> Any:
    org = request.organization
    if not org:
        raise Http404("Choose an organisation first.")
    return org


def _in_org(obj: Any, org: Any, noun: str) -> Any:
    if obj.organization_id != org.pk:
        raise Http404(f"No {noun} matches the given id.")
    return obj


def _flash_errors(request: HttpRequest, exc: Exception) -> None:
    if isinstance(exc, FieldError):
        for field, message in exc.errors.items():
            label = "" if field == "__all__" else f"{field.replace('_', ' ')}: "
            messages.error(request, f"{label}{message}")
    else:
        messages.error(request, getattr(exc, "detail", str(exc)))


# --- Requests -------------------------------------------------------------------------------------


@login_required
def request_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    org = _org(request)
    state = request.GET.get("state", "open")
    if state not in RequestState.values and state != "all":
        state = "open"
    qs = selectors.requests_for_user(
        user,
        organization=org.pk,
        state=None if state == "all" else state,
        mine=request.GET.get("mine") == "1",
        q=(request.GET.get("q") or "").strip()[:200] or None,
    )
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    querystring = request.GET.copy()
    querystring.pop("page", None)
    context = {
        "page": page,
        "state": state,
        "states": RequestState.choices,
        "q": request.GET.get("q", ""),
        "mine": request.GET.get("mine") == "1",
        "querystring": querystring.urlencode(),
        "pending_approvals": selectors.approvals_for_user(user, organization=org.pk).count(),
        "can_admin_catalog": has_permission(user, CatalogItem, Action.CHANGE, org.pk),
        "tab": "requests",
    }
    return render(request, "catalog/request_list.html", context)


def _request_context(user: Any, req: ServiceRequest) -> dict[str, Any]:
    items = list(selectors.request_items(user, req))
    numbers = {(SubjectType.REQUEST, req.pk): req.number}
    rows = []
    for item in items:
        numbers[(SubjectType.REQUEST_ITEM, item.pk)] = item.number
        approvals = list(item.approvals.all())
        steps = []
        for index, step in enumerate(item.steps):
            asked = [a for a in approvals if a.step == index]
            if asked and all(a.state != ApprovalState.REQUESTED for a in asked):
                status = (
                    "rejected"
                    if any(a.state == ApprovalState.REJECTED for a in asked)
                    else "approved"
                )
            elif asked:
                status = "waiting"
            else:
                status = "skipped" if item.step is None or index < (item.step or 0) else "later"
            steps.append(
                {
                    "number": index + 1,
                    "label": actions.step_label(step),
                    "rule": step.get("rule", "any"),
                    "approvals": asked,
                    "status": status,
                }
            )
        rows.append(
            {
                "item": item,
                "answers": display_answers(item.definition.get("form") or [], item.answers),
                "steps": steps,
                "tasks": list(item.tasks.all()),
            }
        )
    entries = list(request_timeline(user, req).select_related("actor"))
    return {
        "req": req,
        "items": rows,
        "timeline": timeline_rows(entries, numbers),
    }


@login_required
def request_detail(request: HttpRequest, request_id: int) -> HttpResponse:
    org = _org(request)
    try:
        req = _in_org(selectors.access_request(request.user, request_id), org, "request")
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    context = _request_context(request.user, req)
    context["can_work"] = has_permission(request.user, ServiceRequest, Action.CHANGE, org.pk)
    context["can_cancel"] = req.is_open and (
        context["can_work"] or req.requester_id == request.user.pk
    )
    context["my_approvals"] = [
        a
        for row in context["items"]
        for step in row["steps"]
        for a in step["approvals"]
        if a.approver_id == request.user.pk and a.state == ApprovalState.REQUESTED
    ]
    context["tab"] = "requests"
    return render(request, "catalog/request_detail.html", context)


@require_POST
@login_required
def request_comment(request: HttpRequest, request_id: int) -> HttpResponse:
    org = _org(request)
    try:
        req = _in_org(selectors.access_request(request.user, request_id), org, "request")
        public = request.POST.get("visibility", "public") == "public"
        body = request.POST.get("body", "")
        upload = request.FILES.get("file")
        if body.strip() or not upload:
            add_comment(acting_user=request.user, subject=req, body=body, public=public)
        if upload is not None:
            add_attachment(
                acting_user=request.user,
                subject=req,
                filename=upload.name,
                content=upload.read(),
                content_type=upload.content_type or "",
                public=public,
            )
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    except (FieldError, PermissionDenied) as exc:
        _flash_errors(request, exc)
    else:
        messages.success(request, "Comment added." if public else "Work note added.")
    return HttpResponseRedirect(reverse("catalog-request", args=[request_id]) + "#timeline")


@require_POST
@login_required
def request_cancel(request: HttpRequest, request_id: int) -> HttpResponse:
    org = _org(request)
    try:
        req = _in_org(selectors.access_request(request.user, request_id), org, "request")
        actions.cancel_request(
            acting_user=request.user, request=req, reason=request.POST.get("reason", "")
        )
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    except (FieldError, PermissionDenied, Conflict) as exc:
        _flash_errors(request, exc)
    else:
        messages.success(request, f"{req.number} cancelled.")
    return HttpResponseRedirect(reverse("catalog-request", args=[request_id]))


# --- Approvals ------------------------------------------------------------------------------------


@login_required
def approval_list(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    pending = list(selectors.approvals_for_user(request.user, organization=org.pk))
    rows = [
        {
            "approval": a,
            "answers": display_answers(a.item.definition.get("form") or [], a.item.answers),
            "label": actions.step_label(a.item.steps[a.step])
            if a.step < len(a.item.steps)
            else "Approval",
        }
        for a in pending
    ]
    decided = list(
        selectors.approvals_for_user(request.user, pending=False, organization=org.pk)
        .exclude(state=ApprovalState.REQUESTED)
        .order_by("-decided_at")[:20]
    )
    return render(
        request,
        "catalog/approvals.html",
        {"rows": rows, "decided": decided, "tab": "approvals", "next": request.GET.get("next", "")},
    )


@require_POST
@login_required
def approval_decide(request: HttpRequest, approval_id: int) -> HttpResponse:
    org = _org(request)
    decision = request.POST.get("decision")
    try:
        approval = _in_org(selectors.access_approval(request.user, approval_id), org, "approval")
        if decision not in ("approve", "reject"):
            raise FieldError({"decision": "Approve or reject."})
        actions.decide_approval(
            acting_user=request.user,
            approval=approval,
            approve=decision == "approve",
            comment=request.POST.get("comment", ""),
        )
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    except (FieldError, PermissionDenied, Conflict) as exc:
        _flash_errors(request, exc)
    else:
        done = "Approved" if decision == "approve" else "Rejected"
        messages.success(request, f"{done}: {approval.item.number} {approval.item.title}.")
    target = request.POST.get("next", "")
    if not target.startswith("/") or target.startswith("//"):
        target = reverse("catalog-approvals")
    return HttpResponseRedirect(target)


# --- Tasks ----------------------------------------------------------------------------------------


@login_required
def task_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    org = _org(request)
    if not has_permission(user, FulfilmentTask, Action.VIEW, org.pk):
        raise DjangoPermissionDenied("Fulfilment tasks are for agents.")
    scope = request.GET.get("scope", "teams")
    state = request.GET.get("state", "active")
    qs = selectors.tasks_for_user(
        user,
        organization=org.pk,
        mine=scope == "mine",
        my_teams=scope == "teams",
        state=state if state in TaskState.values else None,
        open_only=state == "active",
    )
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    querystring = request.GET.copy()
    querystring.pop("page", None)
    return render(
        request,
        "catalog/tasks.html",
        {
            "page": page,
            "scope": scope,
            "state": state,
            "states": TaskState.choices,
            "querystring": querystring.urlencode(),
            "tab": "tasks",
            "can_work": has_permission(user, FulfilmentTask, Action.CHANGE, org.pk),
        },
    )


@require_POST
@login_required
def task_action(request: HttpRequest, task_id: int) -> HttpResponse:
    org = _org(request)
    verb = request.POST.get("action", "")
    try:
        task = _in_org(selectors.access_task(request.user, task_id), org, "task")
        if verb == "take":
            actions.assign_task(acting_user=request.user, task=task, assignee=request.user)
        elif verb in TASK.allowed_names(task.state) or verb in ("start", "complete", "cancel"):
            actions.transition_task(
                acting_user=request.user,
                task=task,
                transition=verb,
                notes=request.POST.get("notes", ""),
                reason=request.POST.get("reason", ""),
            )
        else:
            raise FieldError({"action": "Unknown action."})
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    except (FieldError, PermissionDenied, Conflict) as exc:
        _flash_errors(request, exc)
    else:
        messages.success(request, f"{task.number}: done.")
    target = request.POST.get("next", "")
    if not target.startswith("/") or target.startswith("//"):
        target = reverse("catalog-tasks")
    return HttpResponseRedirect(target)


# --- Catalogue admin ------------------------------------------------------------------------------


@login_required
def item_list(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    items = selectors.catalog_items(request.user, organization=org.pk)
    return render(
        request,
        "catalog/item_list.html",
        {
            "items": items,
            "tab": "catalogue",
            "can_add": has_permission(request.user, CatalogItem, Action.ADD, org.pk),
        },
    )


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _parse_definition(post: Any) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {
        "name": post.get("name", "").strip(),
        "category": post.get("category", "").strip()[:100],
        "description": post.get("description", ""),
        "active": post.get("active") == "on",
    }
    errors: dict[str, str] = {}
    try:
        values["delivery_days"] = int(post.get("delivery_days", "5"))
    except ValueError:
        errors["delivery_days"] = "A whole number of days."
    for name in ("form", "approval_steps", "tasks"):
        text = post.get(name, "").strip() or "[]"
        try:
            values[name] = json.loads(text)
        except ValueError as exc:
            errors[name] = f"Not valid JSON: {exc}."
    return values, errors


def _editor_context(
    org: Any, values: dict[str, Any], errors: dict[str, str], item: CatalogItem | None
) -> dict[str, Any]:
    form = values.get("form") if isinstance(values.get("form"), list) else []
    return {
        "item": item,
        "values": values,
        "texts": {
            name: values.get(f"{name}_text")
            or _pretty(values.get(name) if values.get(name) is not None else [])
            for name in ("form", "approval_steps", "tasks")
        },
        "errors": errors,
        # Fresh ids on every preview: htmx then has no old element to settle attributes from.
        "preview": form_fields(form, org.pk, id_prefix=f"p{secrets.token_hex(3)}")
        if not any(k.startswith("form") for k in errors)
        else [],
        "teams": Team.objects.filter(organization_id=org.pk).order_by("name"),
        "people": User.objects.filter(memberships__organization_id=org.pk).order_by("full_name")[
            :200
        ],
        "tab": "catalogue",
    }


def _check(org: Any, values: dict[str, Any], errors: dict[str, str]) -> dict[str, str]:
    if errors:
        return errors
    try:
        actions.check_definition(org.pk, values)
    except FieldError as exc:
        return exc.errors
    return {}


@login_required
def item_edit(request: HttpRequest, item_id: int | None = None) -> HttpResponse:
    org = _org(request)
    user = request.user
    item = None
    if item_id is not None:
        try:
            item = _in_org(selectors.access_catalog_item(user, item_id), org, "catalogue item")
        except NotFound as exc:
            raise Http404(str(exc)) from exc
    needed = Action.CHANGE if item else Action.ADD
    if not has_permission(user, CatalogItem, needed, org.pk):
        raise DjangoPermissionDenied("Only catalogue administrators edit the catalogue.")
    if request.method == "POST":
        values, errors = _parse_definition(request.POST)
        for name in ("form", "approval_steps", "tasks"):
            values[f"{name}_text"] = request.POST.get(name, "")
        clean = {k: v for k, v in values.items() if not k.endswith("_text")}
        if request.POST.get("preview") or request.htmx:
            errors = _check(org, clean, errors)
            context = _editor_context(org, values, errors, item)
            return render(request, "catalog/item_edit.html#checks", context)
        if not errors:
            try:
                if item is None:
                    item = actions.create_catalog_item(acting_user=user, organization=org, **clean)
                else:
                    actions.update_catalog_item(acting_user=user, item=item, **clean)
            except FieldError as exc:
                errors = exc.errors
            except PermissionDenied as exc:
                raise DjangoPermissionDenied(exc.detail) from exc
            else:
                messages.success(request, f"“{item.name}” saved.")
                return HttpResponseRedirect(reverse("catalog-items"))
        return render(
            request,
            "catalog/item_edit.html",
            _editor_context(org, values, errors, item),
            status=422,
        )
    values = (
        {
            "name": item.name,
            "category": item.category,
            "description": item.description,
            "active": item.active,
            "delivery_days": item.delivery_days,
            "form": item.form,
            "approval_steps": item.approval_steps,
            "tasks": item.tasks,
        }
        if item
        else {"active": True, "delivery_days": 5, "form": [], "approval_steps": [], "tasks": []}
    )
    return render(request, "catalog/item_edit.html", _editor_context(org, values, {}, item))
