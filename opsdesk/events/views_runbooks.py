"""Pages of self-healing runbooks, mounted at /events/runbooks/:

* ``/events/runbooks/`` the runbooks with their conditions, action and guard rails;
* ``/events/runbooks/new/`` and ``/<id>/edit/`` the editor (managers and admins), which
  also deletes a runbook that never ran;
* ``/events/runbooks/runs/`` the runs with their states, reasons and, for runs awaiting
  approval, Approve / Reject buttons (htmx swaps the row; without JavaScript the form posts
  and comes back to the list); ``/runs/<id>/`` one run with what it sent and got back.

Views check the shape of input and call `opsdesk.events.runbooks`, like the API.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from opsdesk.cmdb.models import CIClass
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.permissions import Action
from opsdesk.events import runbooks
from opsdesk.events.choices import RunbookActionKind, RunState, Severity
from opsdesk.events.models import Runbook, RunbookRun
from opsdesk.events.views import SUBNAV, can, in_org, org_for, partial, report, tabs

PAGE_SIZE = 50
NAV = (*SUBNAV, ("runbooks", "Runbooks", "events-runbooks"))
RUN_TABS = (
    ("waiting", "Awaiting approval"),
    ("active", "Running and verifying"),
    ("all", "All"),
)
_MATCHER = re.compile(r"^\s*([^=!~\s]+)\s*(=~|!~|!=|=)\s*(.*?)\s*$")
#: Where an action's error lands on the form: "action.url" -> "url".
ERROR_FIELDS = {
    "action.url": "url",
    "action.method": "method",
    "action.headers": "headers",
    "action.body": "body",
    "action.timeout": "timeout",
    "action.command": "command",
    "action.template_id": "template",
    "conditions.ci_classes": "ci_classes",
    "conditions.title_contains": "title_contains",
    "conditions.labels": "labels",
    "conditions.min_severity": "min_severity",
}


def _nav(here: str) -> dict[str, Any]:
    return {"subnav": NAV, "subnav_here": here}


class RunbookForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    is_active = forms.BooleanField(required=False, initial=True, label="Active")
    # Conditions
    ci_classes = forms.MultipleChoiceField(
        required=False,
        label="CI classes",
        help_text="The alert's CI is of one of these (none selected: any class)",
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    title_contains = forms.CharField(
        required=False, max_length=200, help_text="In the alert's or the group's title, any case"
    )
    labels = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "env=prod\nhost.name=~web-.*"}),
        help_text="One matcher a line: name=value, name!=value, name=~regex, name!~regex "
        "(labels and resource attributes)",
    )
    min_severity = forms.ChoiceField(
        required=False, choices=[("", "Any"), *Severity.choices], label="At least"
    )
    # Action
    action_kind = forms.ChoiceField(choices=RunbookActionKind.choices, label="Action")
    url = forms.CharField(
        required=False,
        max_length=2000,
        label="URL",
        help_text="http(s); placeholders such as {ci}, {group}, {incident}, {label_alertname}",
    )
    method = forms.ChoiceField(
        required=False, choices=[(m, m) for m in ("POST", "PUT", "PATCH", "GET")]
    )
    headers = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Authorization: Bearer …"}),
        help_text="One 'Name: value' a line",
    )
    body = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "class": "mono"}),
        help_text="JSON (sent as application/json) or text, with the same placeholders",
    )
    command = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}),
        help_text="The program (on the allow-list) on the first line, one argument a line; no shell",
    )
    template = forms.ChoiceField(required=False, label="Standard-change template")
    timeout = forms.IntegerField(
        required=False, min_value=1, max_value=120, help_text="Seconds (HTTP and commands)"
    )
    # Guard rails
    dry_run = forms.BooleanField(
        required=False, initial=True, help_text="Record what it would do, do nothing"
    )
    requires_approval = forms.BooleanField(
        required=False, help_text="A manager approves each run first"
    )
    max_runs_per_ci_per_hour = forms.IntegerField(min_value=1, max_value=100, initial=3)
    max_blast_radius = forms.IntegerField(
        min_value=1,
        max_value=100_000,
        initial=5,
        help_text="Refuse when the group has more CIs, or more CIs depend on the target",
    )
    verify_seconds = forms.IntegerField(
        min_value=runbooks.MIN_VERIFY_SECONDS,
        max_value=runbooks.MAX_VERIFY_SECONDS,
        initial=600,
        help_text="The alert must clear within this time, else the incident escalates",
    )

    def __init__(self, *args: Any, org: Any, **kwargs: Any) -> None:
        from opsdesk.changes.models import ChangeTemplate

        super().__init__(*args, **kwargs)
        self.fields["ci_classes"].choices = list(
            CIClass.objects.order_by("label").values_list("key", "label")
        )
        self.fields["template"].choices = [("", "—")] + [
            (str(pk), name)
            for pk, name in ChangeTemplate.objects.filter(organization=org, is_active=True)
            .order_by("name")
            .values_list("pk", "name")
        ]

    def clean_labels(self) -> list[dict[str, str]]:
        rows = []
        for n, line in enumerate((self.cleaned_data.get("labels") or "").splitlines(), 1):
            if not line.strip():
                continue
            found = _MATCHER.match(line)
            if not found:
                raise forms.ValidationError(f"Line {n}: write name=value (or !=, =~, !~).")
            rows.append({"name": found[1], "op": found[2], "value": found[3]})
        return rows

    def clean_headers(self) -> dict[str, str]:
        headers = {}
        for n, line in enumerate((self.cleaned_data.get("headers") or "").splitlines(), 1):
            if not line.strip():
                continue
            name, sep, value = line.partition(":")
            if not sep or not name.strip():
                raise forms.ValidationError(f"Line {n}: write Name: value.")
            headers[name.strip()] = value.strip()
        return headers

    def clean_body(self) -> Any:
        text = self.cleaned_data.get("body") or ""
        if not text.strip():
            return None
        try:
            parsed = json.loads(text)
        except ValueError:
            return text
        return parsed if isinstance(parsed, (dict, list)) else text

    def values(self) -> dict[str, Any]:
        d = self.cleaned_data
        kind = d["action_kind"]
        action: dict[str, Any]
        if kind == RunbookActionKind.HTTP:
            action = {"url": d.get("url") or "", "method": d.get("method") or "POST"}
            if d.get("headers"):
                action["headers"] = d["headers"]
            if d.get("body") is not None:
                action["body"] = d["body"]
        elif kind == RunbookActionKind.COMMAND:
            action = {
                "command": [a.strip() for a in (d.get("command") or "").splitlines() if a.strip()]
            }
        else:
            tid = d.get("template") or ""
            action = {"template_id": int(tid) if tid.isdigit() else None}
        if d.get("timeout") and kind != RunbookActionKind.STANDARD_CHANGE:
            action["timeout"] = d["timeout"]
        conditions: dict[str, Any] = {}
        if d.get("ci_classes"):
            conditions["ci_classes"] = list(d["ci_classes"])
        if (d.get("title_contains") or "").strip():
            conditions["title_contains"] = d["title_contains"].strip()
        if d.get("labels"):
            conditions["labels"] = d["labels"]
        if d.get("min_severity"):
            conditions["min_severity"] = d["min_severity"]
        return {
            "name": d["name"],
            "description": d.get("description") or "",
            "is_active": bool(d.get("is_active")),
            "conditions": conditions,
            "action_kind": kind,
            "action": action,
            "dry_run": bool(d.get("dry_run")),
            "requires_approval": bool(d.get("requires_approval")),
            "max_runs_per_ci_per_hour": d["max_runs_per_ci_per_hour"],
            "max_blast_radius": d["max_blast_radius"],
            "verify_seconds": d["verify_seconds"],
        }


def initial_of(book: Runbook) -> dict[str, Any]:
    cond, action = book.conditions or {}, book.action or {}
    body = action.get("body")
    return {
        "name": book.name,
        "description": book.description,
        "is_active": book.is_active,
        "ci_classes": cond.get("ci_classes", []),
        "title_contains": cond.get("title_contains", ""),
        "labels": "\n".join(
            f"{m['name']}{m.get('op', '=')}{m.get('value', '')}" for m in cond.get("labels", [])
        ),
        "min_severity": cond.get("min_severity", ""),
        "action_kind": book.action_kind,
        "url": action.get("url", ""),
        "method": action.get("method", "POST"),
        "headers": "\n".join(f"{k}: {v}" for k, v in (action.get("headers") or {}).items()),
        "body": body if isinstance(body, str) else (json.dumps(body, indent=2) if body else ""),
        "command": "\n".join(action.get("command", [])),
        "template": str(action.get("template_id") or ""),
        "timeout": action.get("timeout"),
        "dry_run": book.dry_run,
        "requires_approval": book.requires_approval,
        "max_runs_per_ci_per_hour": book.max_runs_per_ci_per_hour,
        "max_blast_radius": book.max_blast_radius,
        "verify_seconds": book.verify_seconds,
    }


def _form_errors(form: forms.Form, exc: FieldError | Conflict) -> None:
    items = {exc.field or "__all__": exc.detail} if isinstance(exc, Conflict) else exc.errors
    for field, message in items.items():
        name = ERROR_FIELDS.get(field, field)
        form.add_error(name if name in form.fields else None, message)


def summary(book: Runbook) -> dict[str, Any]:
    """What the list shows of a runbook: its conditions and action in words."""
    cond, action = book.conditions or {}, book.action or {}
    parts = []
    if cond.get("ci_classes"):
        parts.append("CI class " + " or ".join(cond["ci_classes"]))
    if cond.get("title_contains"):
        parts.append(f"title contains “{cond['title_contains']}”")
    for m in cond.get("labels", []):
        parts.append(f"{m['name']}{m.get('op', '=')}{m.get('value', '')}")
    if cond.get("min_severity"):
        parts.append(f"at least {cond['min_severity']}")
    if book.action_kind == RunbookActionKind.HTTP:
        does = f"{action.get('method', 'POST')} {action.get('url', '')}"
    elif book.action_kind == RunbookActionKind.COMMAND:
        does = " ".join(action.get("command", []))
    else:
        from opsdesk.changes.models import ChangeTemplate

        tpl = ChangeTemplate.objects.filter(pk=action.get("template_id")).first()
        does = f"Standard change: {tpl.name if tpl else action.get('template_id')}"
    return {"book": book, "when": parts, "does": does}


@login_required
def runbook_list(request: HttpRequest) -> HttpResponse:
    org = org_for(request, Runbook)
    books = runbooks.runbooks_for(request.user).filter(organization_id=org.pk).order_by("name")
    waiting = (
        runbooks.runs_for(request.user)
        .filter(organization_id=org.pk, state=RunState.AWAITING_APPROVAL)
        .count()
    )
    return render(
        request,
        "events/runbooks/list.html",
        {
            "rows": [summary(b) for b in books],
            "can_edit": can(request, Runbook, Action.ADD),
            "waiting": waiting,
            **_nav("runbooks"),
        },
    )


def _editor(request: HttpRequest, org: Any, book: Runbook | None) -> HttpResponse:
    form = RunbookForm(
        request.POST if request.method == "POST" else None,
        org=org,
        initial=initial_of(book) if book else None,
    )
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                if book is None:
                    saved = runbooks.create_runbook(
                        acting_user=request.user, organization=org, **form.values()
                    )
                else:
                    saved = runbooks.update_runbook(
                        acting_user=request.user, runbook=book, **form.values()
                    )
            except (FieldError, Conflict) as exc:
                _form_errors(form, exc)
            except PermissionDenied as exc:
                raise DjangoPermissionDenied(exc.detail) from exc
            else:
                messages.success(request, f"Saved the runbook {saved.name}.")
                return HttpResponseRedirect(reverse("events-runbooks"))
    return render(
        request,
        "events/runbooks/edit.html",
        {
            "form": form,
            "book": book,
            "has_runs": bool(book and RunbookRun.objects.filter(runbook=book).exists()),
            "can_delete": can(request, Runbook, Action.DELETE),
            "commands_on": bool(runbooks.ex.allowed_commands()),
            "allowed_commands": runbooks.ex.allowed_commands(),
            "placeholders": sorted(runbooks.ex.PLACEHOLDERS),
            **_nav("runbooks"),
        },
        status=status,
    )


@login_required
def runbook_new(request: HttpRequest) -> HttpResponse:
    org = org_for(request, Runbook, Action.ADD, "Runbooks are written by managers and admins.")
    return _editor(request, org, None)


@login_required
def runbook_edit(request: HttpRequest, runbook_id: int) -> HttpResponse:
    org = org_for(request, Runbook, Action.CHANGE, "Runbooks are written by managers and admins.")
    return _editor(request, org, in_org(request, Runbook, runbook_id, org, "runbook"))


@require_POST
@login_required
def runbook_delete(request: HttpRequest, runbook_id: int) -> HttpResponse:
    org = org_for(request, Runbook, Action.DELETE, "Runbooks are deleted by managers and admins.")
    book = in_org(request, Runbook, runbook_id, org, "runbook")
    try:
        runbooks.delete_runbook(acting_user=request.user, runbook=book)
    except Conflict as exc:
        report(request, exc)
        return HttpResponseRedirect(reverse("events-runbook-edit", args=[book.pk]))
    messages.success(request, f"Deleted the runbook {book.name}.")
    return HttpResponseRedirect(reverse("events-runbooks"))


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    org = org_for(request, RunbookRun)
    tab = request.GET.get("tab", "all")
    tab = tab if tab in dict(RUN_TABS) else "all"
    qs = runbooks.runs_for(request.user).filter(organization_id=org.pk)
    if tab == "waiting":
        qs = qs.filter(state=RunState.AWAITING_APPROVAL)
    elif tab == "active":
        qs = qs.filter(state__in=(RunState.RUNNING, RunState.VERIFYING))
    book_id = request.GET.get("runbook", "")
    if book_id.isdigit() and len(book_id) < 18:
        qs = qs.filter(runbook_id=int(book_id))
    page = Paginator(qs.order_by("-requested_at", "-id"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    querystring = request.GET.copy()
    querystring.pop("page", None)
    return render(
        request,
        "events/runbooks/runs.html",
        {
            "page": page,
            "runs": list(page),
            "tab": tab,
            "tabs": tabs(request, RUN_TABS),
            "querystring": querystring.urlencode(),
            "can_decide": can(request, Runbook, Action.CHANGE),
            **_nav("runbooks"),
        },
    )


@login_required
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    org = org_for(request, RunbookRun)
    in_org(request, RunbookRun, run_id, org, "runbook run")
    run = runbooks.access_run(request.user, run_id)
    return render(
        request,
        "events/runbooks/run.html",
        {
            "run": run,
            "request_json": json.dumps(run.request, indent=2),
            "response_json": json.dumps(run.response, indent=2),
            "can_decide": can(request, Runbook, Action.CHANGE),
            **_nav("runbooks"),
        },
    )


def _decide(request: HttpRequest, run_id: int, approve: bool) -> HttpResponse:
    org = org_for(request, Runbook, Action.CHANGE, "Managers and admins decide on runbook runs.")
    run = in_org(request, RunbookRun, run_id, org, "runbook run")
    note = (request.POST.get("note") or "")[:2000]
    decide = runbooks.approve_run if approve else runbooks.reject_run
    try:
        decide(acting_user=request.user, run=run, note=note)
    except (FieldError, Conflict) as exc:
        report(request, exc)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    else:
        verb = "Approved" if approve else "Rejected"
        messages.success(request, f"{verb} run {run.pk} of {run.runbook.name}.")
    if partial(request):
        return render(
            request,
            "events/runbooks/_run_row.html",
            {"run": runbooks.access_run(request.user, run_id), "can_decide": True},
        )
    back = request.POST.get("next") or ""
    if re.fullmatch(r"/events/runbooks/[\w/?=&-]*|/desk/incidents/\d+/", back):
        return HttpResponseRedirect(back)
    return HttpResponseRedirect(reverse("events-runbook-runs"))


@require_POST
@login_required
def run_approve(request: HttpRequest, run_id: int) -> HttpResponse:
    return _decide(request, run_id, approve=True)


@require_POST
@login_required
def run_reject(request: HttpRequest, run_id: int) -> HttpResponse:
    return _decide(request, run_id, approve=False)
