"""Web pages of changes: the list (tabs, filters, sorting), raising a normal, emergency or
standard change, the change page (plans, CIs, times, the allowed transitions, the sections
the other parts register and the timeline), editing, and the standard-change catalogue with
its editor.

Views check the shape of input (forms) and call the same selectors and actions as the API.
Every page works in the current organisation (`opsdesk.core.pages.page_organization`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from opsdesk.changes import actions, template_actions
from opsdesk.changes import selectors_changes as selectors
from opsdesk.changes.choices import ChangeState, ChangeType, CloseCode, RiskClass
from opsdesk.changes.forms import (
    ChangeFilterForm,
    ChangeForm,
    NoteForm,
    StandardChangeForm,
    TemplateForm,
    TransitionForm,
    cis_of_org,
)
from opsdesk.changes.models import Change, ChangeTemplate
from opsdesk.changes.sections import sections_for
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.pages import object_in_organization, page_organization
from opsdesk.core.permissions import Action, has_permission
from opsdesk.servicedesk import timeline
from opsdesk.servicedesk.choices import ActivityKind
from opsdesk.servicedesk.models import Activity
from opsdesk.servicedesk.views import story

logger = logging.getLogger(__name__)

PAGE_SIZE = 50
SUGGESTIONS = 12
REFUSAL = "Changes are not part of your role."

TABS = (
    ("open", "Open"),
    ("mine", "Mine"),
    ("authorise", "Awaiting authorisation"),
    ("week", "Scheduled this week"),
    ("all", "All"),
)
#: Sortable columns: (sort key of the selector, column label).
SORT_COLUMNS = {
    "number": "Number",
    "title": "Title",
    "type": "Type",
    "state": "State",
    "risk": "Risk",
    "start": "Planned start",
    "end": "Planned end",
}
#: The pages of the other parts, linked from the list (by URL: they own them).
SUBNAV = (
    ("Calendar", "/changes/calendar/"),
    ("CAB", "/changes/cab/"),
    ("Templates", "/changes/templates/"),
    ("Deployments", "/changes/deployments/"),
    ("Risk settings", "/changes/risk/"),
    ("Reports", "/changes/reviews/metrics/"),
)
#: The input each transition's form asks for (what the workflow may require of it).
TRANSITION_INPUT = {
    "reject": ["reason"],
    "revise": ["reason"],
    "cancel": ["reason"],
    "complete": ["close_code", "close_notes"],
    "close": ["close_notes"],
    "request_authorisation": ["freeze_justification"],
    "authorise": ["freeze_justification"],
    "schedule": ["freeze_justification"],
}
STATE_LABELS = dict(ChangeState.choices)
TYPE_LABELS = dict(ChangeType.choices)
RISK_LABELS = dict(RiskClass.choices)
CLOSE_LABELS = dict(CloseCode.choices)


# --- shared --------------------------------------------------------------------------------


def _org(request: HttpRequest, action: str = Action.VIEW) -> Any:
    return page_organization(request, Change, REFUSAL, action)


def _can(request: HttpRequest, model: type, action: str) -> bool:
    org = request.organization  # type: ignore[attr-defined]
    return org is not None and has_permission(request.user, model, action, org.pk)


def _partial(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def change_in_page(request: HttpRequest, change_id: int) -> Change:
    """The change `change_id` of the page's organisation that the user may view, else 404
    (the change pages of every part read it this way)."""
    return object_in_organization(
        lambda: selectors.change_detail(request.user, change_id), _org(request), "change"
    )


def _template_in_org(request: HttpRequest, template_id: int) -> ChangeTemplate:
    return object_in_organization(
        lambda: selectors.access_template(request.user, template_id),
        _org(request),
        "change template",
    )


def _report(request: HttpRequest, exc: FieldError | Conflict) -> None:
    items = {exc.field or "": exc.detail} if isinstance(exc, Conflict) else exc.errors
    for field, message in items.items():
        label = field.removesuffix("_id").replace("_", " ")
        messages.error(request, f"{label.capitalize()}: {message}" if label else message)


def _form_errors(form: Any, exc: FieldError | Conflict) -> None:
    """An action's refusal on the form, on the field it names when the form has it."""
    items = {exc.field or "__all__": exc.detail} if isinstance(exc, Conflict) else exc.errors
    for field, message in items.items():
        name = {"ci_ids": "cis", "match_ci_ids": "match_cis"}.get(field, field.removesuffix("_id"))
        form.add_error(name if name in form.fields else None, message)


def _back(change: Change, anchor: str = "") -> HttpResponseRedirect:
    url = reverse("changes-detail", args=[change.pk])
    return HttpResponseRedirect(f"{url}#{anchor}" if anchor else url)


# --- the list ------------------------------------------------------------------------------


def _week(now: datetime) -> tuple[datetime, datetime]:
    """Monday 00:00 to the next Monday in the viewer's time zone."""
    local = timezone.localtime(now)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=local.weekday()
    )
    return start, start + timedelta(days=7)


def _tab_filters(tab: str, user: Any) -> dict[str, Any]:
    if tab == "open":
        return {"state": ["open"]}
    if tab == "mine":
        return {"state": ["open"], "mine_of": user.pk}
    if tab == "authorise":
        return {"state": [ChangeState.AUTHORISE]}
    if tab == "week":
        start, end = _week(timezone.now())
        return {
            "state": [ChangeState.SCHEDULED, ChangeState.IMPLEMENT],
            "planned_from": start,
            "planned_to": end,
        }
    return {}


def _sort(request: HttpRequest, tab: str) -> str:
    key = request.GET.get("sort", "")
    if key.lstrip("-") in SORT_COLUMNS:
        return key
    return "start" if tab in ("week", "authorise") else ""


def _sort_links(querystring: Any, current: str) -> dict[str, dict[str, str]]:
    """For each sortable column: the address that sorts by it and aria-sort."""
    out = {}
    for key in SORT_COLUMNS:
        if current == key:
            new, state = f"-{key}", "ascending"
        elif current == f"-{key}":
            new, state = key, "descending"
        else:
            new, state = (f"-{key}" if key == "risk" else key), "none"
        qs = querystring.copy()
        qs["sort"] = new
        qs.pop("page", None)
        out[key] = {"href": "?" + qs.urlencode(), "aria": state}
    return out


@login_required
def change_list(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    tab = request.GET.get("tab", "open")
    tab = tab if tab in dict(TABS) else "open"
    form = ChangeFilterForm(request.GET or None, organization=org)
    filters = form.filters() if form.is_bound else {}
    sort = _sort(request, tab)
    f = selectors.ChangeFilter(
        organization_id=org.pk, sort=sort or None, **_tab_filters(tab, request.user), **filters
    )
    qs = selectors.list_related(selectors.changes(request.user, f))
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    querystring = request.GET.copy()
    querystring.pop("page", None)
    tab_qs = request.GET.copy()
    for name in ("page", "tab"):
        tab_qs.pop(name, None)
    context = {
        "form": form,
        "page": page,
        "changes": page.object_list,
        "querystring": querystring.urlencode(),
        "tab": tab,
        "tabs": [
            {"key": k, "label": label, "href": "?" + _with(tab_qs, tab=k)} for k, label in TABS
        ],
        "sorts": _sort_links(querystring, sort),
        "subnav": SUBNAV,
        "can_add": _can(request, Change, Action.ADD),
        "time_zone": timezone.get_current_timezone_name(),
    }
    template = (
        "changes/change_list.html#results" if _partial(request) else "changes/change_list.html"
    )
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _with(querydict: Any, **values: str) -> str:
    qs = querydict.copy()
    for key, value in values.items():
        qs[key] = value
    return qs.urlencode()


# --- the CI picker -------------------------------------------------------------------------


def _visible_cis(request: HttpRequest, org: Any) -> Any:
    return (
        ConfigurationItem.objects.restrict(request.user, Action.VIEW)
        .filter(organization_id=org.pk)
        .select_related("ci_class")
    )


@login_required
def ci_search(request: HttpRequest) -> HttpResponse:
    """Matching CIs of the organisation, each with an "Add" button (htmx)."""
    org = _org(request)
    term = (
        request.GET.get("ci_search")
        or request.GET.get("ci_search_match_cis")
        or request.GET.get("q")
        or ""
    ).strip()[:255]
    field = request.GET.get("field", "cis")
    field = field if field in ("cis", "match_cis") else "cis"
    rows: list[Any] = []
    if len(term) >= 2:
        rows = list(
            _visible_cis(request, org).filter(name__icontains=term).order_by("name")[:SUGGESTIONS]
        )
    return render(request, "changes/_ci_results.html", {"rows": rows, "term": term, "field": field})


@login_required
def ci_pick(request: HttpRequest, ci_id: int) -> HttpResponse:
    """One chosen CI: a checked checkbox the form submits."""
    org = _org(request)
    ci = _visible_cis(request, org).filter(pk=ci_id).first()
    if ci is None:
        raise Http404("No configuration item matches the given id.")
    field = request.GET.get("field", "cis")
    field = field if field in ("cis", "match_cis") else "cis"
    return render(request, "changes/_ci_chosen.html", {"ci": ci, "field": field})


def _chosen(form: Any, name: str, initial: list[Any]) -> list[Any]:
    """The CIs the picker shows as chosen: what was posted, else the initial ones."""
    if form.is_bound:
        ids = [v for v in form.data.getlist(name) if str(v).isdigit() and len(str(v)) < 18]
        chosen = list(cis_of_org(form.organization.pk).filter(pk__in=ids).order_by("name"))
        cleaned = getattr(form, "cleaned_data", {}).get(name) or []
        return list(dict.fromkeys([*chosen, *cleaned]))
    return initial


# --- raise a change ------------------------------------------------------------------------


@login_required
def change_new(request: HttpRequest) -> HttpResponse:
    org = _org(request, Action.ADD)
    template_id = request.GET.get("template", "")
    if template_id:
        if not template_id.isdigit() or len(template_id) > 18:
            raise Http404("No change template matches the given id.")
        return _new_standard(request, org, _template_in_org(request, int(template_id)))
    form = ChangeForm(request.POST or None, organization=org)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            change = actions.create_change(
                acting_user=request.user,
                organization=org,
                title=data["title"],
                change_type=data["change_type"],
                cis=data.get("cis") or [],
                **form.change_fields(),
            )
        except (FieldError, Conflict) as exc:
            _form_errors(form, exc)
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.detail) from exc
        else:
            messages.success(request, f"{change.number} raised.")
            return HttpResponseRedirect(reverse("changes-detail", args=[change.pk]))
    status = 422 if request.method == "POST" else 200
    return render(
        request,
        "changes/change_new.html",
        {
            "form": form,
            "chosen": _chosen(form, "cis", []),
            "time_zone": timezone.get_current_timezone_name(),
        },
        status=status,
    )


def _new_standard(request: HttpRequest, org: Any, template: ChangeTemplate) -> HttpResponse:
    if not template.is_active:
        messages.error(request, f"The template {template.name} is retired.")
        return HttpResponseRedirect(reverse("changes-templates"))
    template_cis = list(template.cis.select_related("ci_class").order_by("name"))
    form = StandardChangeForm(
        request.POST or None,
        organization=org,
        initial={"title": template.name, "assignment_group": template.assignment_group_id},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        fields = {
            "description": data.get("description") or "",
            "planned_start": data.get("planned_start"),
            "assignment_group": data.get("assignment_group"),
        }
        if data.get("planned_end"):
            fields["planned_end"] = data["planned_end"]
        try:
            change = actions.create_change(
                acting_user=request.user,
                organization=org,
                template=template,
                title=data.get("title") or "",
                cis=data.get("cis") or [],
                **fields,
            )
        except (FieldError, Conflict) as exc:
            _form_errors(form, exc)
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.detail) from exc
        else:
            messages.success(request, f"{change.number} raised from {template.name}.")
            return HttpResponseRedirect(reverse("changes-detail", args=[change.pk]))
    status = 422 if request.method == "POST" else 200
    return render(
        request,
        "changes/change_new_standard.html",
        {
            "form": form,
            "template": template,
            "chosen": _chosen(form, "cis", template_cis),
            "time_zone": timezone.get_current_timezone_name(),
        },
        status=status,
    )


# --- the change page -----------------------------------------------------------------------


def _value(value: Any) -> str:
    if value in (None, "", []):
        return "—"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "—"
    if isinstance(value, str) and len(value) >= 16 and value[4:5] == "-" and "T" in value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return timezone.localtime(moment).strftime("%d %b %Y %H:%M")
    text = str(value)
    label = STATE_LABELS.get(text) or RISK_LABELS.get(text) or CLOSE_LABELS.get(text)
    text = label or text
    return text if len(text) <= 80 else text[:77] + "…"


def _who(activity: Activity) -> str:
    if activity.actor_id and activity.actor is not None:
        return str(activity.actor)
    return activity.actor_name or "OpsDesk"


def change_story(activity: Activity) -> dict[str, Any]:
    """One entry of a change's timeline as a sentence. Builds on the incident page's
    `story` (same shape, same template markup) and words what is particular to changes:
    the transition taken, the type and template it was raised from, CIs added and removed,
    risk, approvals, deployments, reviews and caused incidents."""
    entry = story(activity)
    who = _who(activity)
    data = activity.data or {}
    kind = activity.kind
    text = entry["text"]
    if kind == ActivityKind.CREATED:
        kind_label = TYPE_LABELS.get(data.get("type", ""), "").lower()
        text = f"{who} raised it" + (f" as a {kind_label} change" if kind_label else "")
        if data.get("template"):
            text += f" from the template “{data['template']}”"
        if data.get("cis"):
            text += f" for {', '.join(data['cis'])}"
    elif kind == ActivityKind.STATE:
        to = STATE_LABELS.get(data.get("to", ""), data.get("to", ""))
        was = STATE_LABELS.get(data.get("from", ""), data.get("from", ""))
        verb = {
            "assess": f"{who} started the assessment",
            "request_authorisation": f"{who} requested authorisation",
            "authorise": f"{who} authorised it",
            "reject": f"{who} rejected it",
            "revise": f"{who} sent it back to new",
            "schedule": f"{who} scheduled it (pre-approved)",
            "implement": f"{who} started the implementation",
            "complete": f"{who} finished the implementation",
            "close": f"{who} closed it",
            "cancel": f"{who} cancelled it",
        }.get(data.get("transition", ""), f"{who} moved it")
        text = f"{verb} ({was} → {to})"
        if data.get("close_code"):
            text += f": {CLOSE_LABELS.get(data['close_code'], data['close_code']).lower()}"
        if data.get("reason") and activity.body == data["reason"]:
            pass  # the reason is the body under the sentence
    elif kind == ActivityKind.FIELD:
        changes = data.get("changes") or {}
        if data.get("added") is not None or data.get("removed") is not None:
            parts = []
            if data.get("added"):
                parts.append(f"added {', '.join(data['added'])}")
            if data.get("removed"):
                parts.append(f"removed {', '.join(data['removed'])}")
            text = f"{who} changed the affected CIs: " + ("; ".join(parts) or "no change")
        elif data.get("what") == "risk" and "risk_class" in changes:
            old, new = changes["risk_class"]
            score = (changes.get("risk_score") or [None, None])[1]
            text = f"{who} assessed the risk: {_value(new).lower()}"
            if score is not None:
                text += f" (score {score:g})"
            if old:
                text += f", was {_value(old).lower()}"
            if data.get("reason"):
                text += f" — {data['reason']}"
        elif changes:
            parts = []
            for name, pair in changes.items():
                label = name.replace("review.", "review ").replace("_", " ")
                if isinstance(pair, list | tuple) and len(pair) == 2:
                    parts.append(f"{label} from {_value(pair[0])} to {_value(pair[1])}")
                else:
                    parts.append(label)
            text = f"{who} changed " + "; ".join(parts)
    elif kind == ActivityKind.APPROVAL:
        event = data.get("event", "")
        step = data.get("label", "")
        text = {
            "plan": f"{who} set the approvals: {data.get('policy', 'policy')}",
            "requested": f"Approval requested{f' for {step}' if step else ''}",
            "blocked": f"Approval blocked{f' at {step}' if step else ''}",
            "skipped": "Outstanding approvals no longer needed",
            "step_done": f"{step or 'An approval step'} reached its quorum",
            "approved": f"{who} approved{f' {step}' if step else ''}",
            "rejected": f"{who} rejected{f' {step}' if step else ''}",
        }.get(event, f"{who}: approval {event.replace('_', ' ')}".strip())
        if data.get("meeting"):
            text += f" in {data['meeting']}"
    elif kind in (ActivityKind.LINK, ActivityKind.UNLINK):
        verb = "linked" if kind == ActivityKind.LINK else "unlinked"
        if data.get("deployment"):
            text = f"Deployment {data.get('version') or data.get('external_id', '')}"
            if data.get("environment"):
                text += f" to {data['environment']}"
            text += f" {verb}"
        elif data.get("type") == "review":
            text = f"{who} opened the post-implementation review" + (
                " (required)" if data.get("required") else ""
            )
        elif data.get("induced"):
            what = data.get("number", "an incident")
            text = f"{who} {verb} {what} “{data.get('title', '')}” as caused by this change"
            if data.get("state") == "suggested" or data.get("suggested"):
                text = f"{what} “{data.get('title', '')}” suggested as caused by this change"
    entry["text"] = text
    return entry


def _sections(request: HttpRequest, change: Change) -> dict[str, list[dict[str, Any]]]:
    """The sections other parts contribute, rendered, by column. A failing provider is
    logged and shown as a note: the change page never fails because of one section."""
    out: dict[str, list[dict[str, Any]]] = {"main": [], "side": []}
    try:
        found = sections_for(request.user, change)
    except Exception:
        logger.exception("A change-page section provider failed for %s", change.number)
        out["side"].append({"title": "Unavailable", "html": "", "failed": True})
        return out
    for section in found:
        try:
            context = {"change": change, **section.context, "section": section}
            html = render_to_string(section.template, context, request)
        except Exception:
            logger.exception("Section %s failed to render for %s", section.title, change.number)
            out[section.column if section.column in out else "main"].append(
                {"title": section.title, "html": "", "failed": True}
            )
            continue
        column = section.column if section.column in out else "main"
        out[column].append({"title": section.title, "html": html, "failed": False})
    return out


def _transitions(change: Change) -> list[dict[str, Any]]:
    """The transitions a person may start from here. ``authorise`` is the approvals engine's
    to fire: it is offered only when no approval is outstanding (a change whose approvals
    were all given while the engine could not move it)."""
    from opsdesk.changes.approvals import outstanding

    available = change.workflow.available(change.state)
    if any(t.name == "authorise" for t in available) and outstanding(change):
        available = [t for t in available if t.name != "authorise"]
    return [
        {
            "name": t.name,
            "label": t.title,
            "target": STATE_LABELS.get(t.target, t.target),
            "requires": list(t.requires),
            "fields": TRANSITION_INPUT.get(t.name, []),
        }
        for t in available
    ]


@login_required
def change_detail(request: HttpRequest, change_id: int) -> HttpResponse:
    change = change_in_page(request, change_id)
    can_change = _can(request, Change, Action.CHANGE) and change.state not in change.workflow.final
    cis = sorted(change.cis.all(), key=lambda ci: ci.name.lower())
    entries = [change_story(a) for a in timeline.timeline(request.user, change)]
    sections = _sections(request, change)
    context = {
        "change": change,
        "cis": cis,
        "state_label": STATE_LABELS.get(change.state, change.state),
        "type_label": TYPE_LABELS.get(change.change_type, change.change_type),
        "risk_label": RISK_LABELS.get(change.risk_class, ""),
        "close_label": CLOSE_LABELS.get(change.close_code, ""),
        "transitions": _transitions(change) if can_change else [],
        "close_codes": CloseCode.choices,
        "timeline": entries,
        "note_form": NoteForm(),
        "main_sections": sections["main"],
        "side_sections": sections["side"],
        "can_change": can_change,
        "plan_locked": change.state in actions.PLAN_LOCKED_FROM,
        "time_zone": timezone.get_current_timezone_name(),
        "subnav": SUBNAV,
    }
    return render(request, "changes/change_detail.html", context)


@require_POST
@login_required
def change_transition(request: HttpRequest, change_id: int, name: str) -> HttpResponse:
    change = change_in_page(request, change_id)
    form = TransitionForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{field.replace('_', ' ').capitalize()}: {' '.join(errors)}")
        return _back(change)
    try:
        change.workflow.get(name)
        actions.transition_change(
            acting_user=request.user, change=change, name=name, **form.values()
        )
    except (FieldError, Conflict) as exc:
        _report(request, exc)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    else:
        messages.success(
            request,
            f"{change.number} moved to {STATE_LABELS.get(change.state, change.state)}.",
        )
    return _back(change)


@require_POST
@login_required
def change_note(request: HttpRequest, change_id: int) -> HttpResponse:
    change = change_in_page(request, change_id)
    form = NoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Note: write something first.")
        return _back(change, "note")
    try:
        actions.add_note(acting_user=request.user, change=change, body=form.cleaned_data["body"])
    except (FieldError, Conflict) as exc:
        _report(request, exc)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    else:
        messages.success(request, "Work note added.")
    return _back(change, "timeline")


# --- edit ----------------------------------------------------------------------------------


def _initial(change: Change) -> dict[str, Any]:
    return {
        "title": change.title,
        "description": change.description,
        "justification": change.justification,
        "implementation_plan": change.implementation_plan,
        "backout_plan": change.backout_plan,
        "test_plan": change.test_plan,
        "service": change.service_id,
        "planned_start": timezone.localtime(change.planned_start) if change.planned_start else None,
        "planned_end": timezone.localtime(change.planned_end) if change.planned_end else None,
        "assignment_group": change.assignment_group_id,
        "assignee": change.assignee_id,
        "change_manager": change.change_manager_id,
        "freeze_justification": change.freeze_justification,
    }


@login_required
def change_edit(request: HttpRequest, change_id: int) -> HttpResponse:
    change = change_in_page(request, change_id)
    if not _can(request, Change, Action.CHANGE):
        raise DjangoPermissionDenied("You may not change changes here.")
    if change.state in change.workflow.final:
        messages.error(request, f"{change.number} is {STATE_LABELS[change.state].lower()}.")
        return _back(change)
    org = request.organization  # type: ignore[attr-defined]
    current_cis = sorted(change.cis.all(), key=lambda ci: ci.name.lower())
    form = ChangeForm(
        request.POST or None, organization=org, with_type=False, initial=_initial(change)
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        cis = list(data.get("cis") or [])
        try:
            actions.update_change(
                acting_user=request.user, change=change, title=data["title"], **form.change_fields()
            )
            if {c.pk for c in cis} != {c.pk for c in current_cis}:
                actions.set_cis(acting_user=request.user, change=change, cis=cis)
        except (FieldError, Conflict) as exc:
            _form_errors(form, exc)
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.detail) from exc
        else:
            messages.success(request, f"{change.number} saved.")
            return _back(change)
    status = 422 if request.method == "POST" else 200
    return render(
        request,
        "changes/change_edit.html",
        {
            "form": form,
            "change": change,
            "chosen": _chosen(form, "cis", current_cis),
            "plan_locked": change.state in actions.PLAN_LOCKED_FROM,
            "time_zone": timezone.get_current_timezone_name(),
        },
        status=status,
    )


# --- the template catalogue ----------------------------------------------------------------


@login_required
def template_catalogue(request: HttpRequest) -> HttpResponse:
    org = page_organization(request, ChangeTemplate, REFUSAL)
    show = request.GET.get("show", "active")
    q = (request.GET.get("q") or "").strip()[:200]
    qs = selectors.templates(
        request.user,
        organization_id=org.pk,
        is_active=None if show == "all" else show != "retired",
        q=q or None,
    )
    return render(
        request,
        "changes/template_catalogue.html",
        {
            "templates": list(qs.prefetch_related("cis__ci_class")),
            "show": show,
            "q": q,
            "can_manage": _can(request, ChangeTemplate, Action.CHANGE),
            "can_raise": _can(request, Change, Action.ADD),
            "subnav": SUBNAV,
        },
    )


def _template_initial(template: ChangeTemplate) -> dict[str, Any]:
    return {
        "name": template.name,
        "category": template.category,
        "description": template.description,
        "implementation_plan": template.implementation_plan,
        "backout_plan": template.backout_plan,
        "test_plan": template.test_plan,
        "risk_class": template.risk_class,
        "assignment_group": template.assignment_group_id,
        "default_duration_minutes": template.default_duration_minutes,
        "match_environments": ", ".join(template.match_environments or []),
        "is_active": template.is_active,
    }


def _template_editor(request: HttpRequest, template: ChangeTemplate | None) -> HttpResponse:
    action = Action.CHANGE if template else Action.ADD
    org = page_organization(
        request, ChangeTemplate, "Only managers and admins edit the catalogue.", action
    )
    initial = _template_initial(template) if template else {"risk_class": RiskClass.LOW}
    form = TemplateForm(request.POST or None, organization=org, initial=initial)
    if request.method == "POST" and form.is_valid():
        fields = form.template_fields()
        try:
            if template is None:
                name = fields.pop("name")
                template = template_actions.create_template(
                    acting_user=request.user, organization=org, name=name, **fields
                )
                messages.success(request, f"Template “{template.name}” added to the catalogue.")
            else:
                template_actions.update_template(
                    acting_user=request.user, template=template, **fields
                )
                messages.success(request, f"Template “{template.name}” saved.")
        except (FieldError, Conflict) as exc:
            _form_errors(form, exc)
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.detail) from exc
        else:
            return HttpResponseRedirect(reverse("changes-templates"))
    status = 422 if request.method == "POST" else 200
    cis_initial = list(template.cis.order_by("name")) if template else []
    match_initial = list(template.match_cis.order_by("name")) if template else []
    return render(
        request,
        "changes/template_edit.html",
        {
            "form": form,
            "template": template,
            "chosen": _chosen(form, "cis", cis_initial),
            "chosen_match": _chosen(form, "match_cis", match_initial),
            "raised": template.changes.count() if template else 0,
        },
        status=status,
    )


@login_required
def template_new(request: HttpRequest) -> HttpResponse:
    return _template_editor(request, None)


@login_required
def template_edit(request: HttpRequest, template_id: int) -> HttpResponse:
    return _template_editor(request, _template_in_org(request, template_id))


urlpatterns = [
    path("", change_list, name="changes-list"),
    path("new/", change_new, name="changes-new"),
    path("cis/search/", ci_search, name="changes-ci-search"),
    path("cis/<int:ci_id>/pick/", ci_pick, name="changes-ci-pick"),
    path("templates/", template_catalogue, name="changes-templates"),
    path("templates/new/", template_new, name="changes-template-new"),
    path("templates/<int:template_id>/edit/", template_edit, name="changes-template-edit"),
    path("<int:change_id>/", change_detail, name="changes-detail"),
    path("<int:change_id>/edit/", change_edit, name="changes-edit"),
    path(
        "<int:change_id>/transitions/<slug:name>/",
        change_transition,
        name="changes-transition",
    ),
    path("<int:change_id>/notes/", change_note, name="changes-note"),
]
