"""The agent UI at /desk/: the queue (filters, tabs, saved views, bulk update), the new-incident
form, the incident page (fields, workflow, assignment, comments and work notes, attachments,
watchers, links, timeline, CMDB impact, side panels), the dashboard and the settings page.

Views check the shape of input (forms) and call the same selectors and actions as the API.
Every page is scoped to the current organisation (``request.organization``): an incident of
another organisation answers 404. Requesters are sent to the portal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import cached_property, wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from opsdesk.accounts.models import Team, User
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.errors import Conflict, FieldError, NotFound, PermissionDenied
from opsdesk.core.permissions import Action, has_permission
from opsdesk.servicedesk import actions, selectors, timeline, view_actions
from opsdesk.servicedesk.choices import (
    ActivityKind,
    Channel,
    HoldReason,
    IncidentState,
    Priority,
    SubjectType,
)
from opsdesk.servicedesk.forms import (
    AssignForm,
    AttachmentForm,
    BulkForm,
    CommentForm,
    IncidentFieldsForm,
    LinkForm,
    NewIncidentForm,
    QueueFilterForm,
    SavedViewForm,
    TransitionForm,
    code_label,
    member_by_email,
    services_of,
    subcategories,
    team_members,
    teams_of,
    top_categories,
    workers_of,
)
from opsdesk.servicedesk.models import (
    Activity,
    Attachment,
    Incident,
    SavedView,
    ServiceDeskSettings,
    Watcher,
)
from opsdesk.servicedesk.panels import panels_for
from opsdesk.servicedesk.selectors import IncidentFilter
from opsdesk.servicedesk.workflows import INCIDENT
from opsdesk.sla.selectors import badges_for as sla_badges

logger = logging.getLogger(__name__)

PAGE_SIZE = 50
PAGE_SIZES = (25, 50, 100)
#: The queue counts at most this many rows: beyond it the page says "10,000+" instead of
#: counting a million rows on every page view.
COUNT_CAP = 10_000
IMPACT_DEPTH = 6
SUGGESTIONS = 12

TABS = (
    ("open", "All open"),
    ("mine", "Assigned to me"),
    ("teams", "My teams"),
    ("unassigned", "Unassigned"),
)
#: Sortable columns: (sort key of the selector, column label).
SORT_COLUMNS = {
    "number": "Number",
    "priority": "Priority",
    "state": "State",
    "opened": "Age",
    "updated": "Updated",
}
STATE_LABELS = dict(IncidentState.choices)
PRIORITY_SHORT = {p: f"P{p}" for p in Priority.values}


# --- access ----------------------------------------------------------------------------------


def _org(request: HttpRequest) -> Any:
    org = request.organization
    if org is None:
        raise Http404("Choose an organisation first.")
    return org


def desk_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login, an organisation, and a role that works the desk; requesters go to the portal."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        org = _org(request)
        if actions.is_requester_only(request.user, org.pk):
            if request.method == "GET":
                return HttpResponseRedirect("/portal/")
            raise DjangoPermissionDenied("Requesters use the portal.")
        if not has_permission(request.user, Incident, Action.VIEW, org.pk):
            raise DjangoPermissionDenied("You do not work the service desk here.")
        return view(request, *args, **kwargs)

    return wrapper


def _can_change(request: HttpRequest) -> bool:
    return has_permission(request.user, Incident, Action.CHANGE, request.organization.pk)


def _incident_in_org(request: HttpRequest, pk: int, action: str = Action.VIEW) -> Incident:
    org = _org(request)
    try:
        incident = selectors.access_incident(request.user, pk, action)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    if incident.organization_id != org.pk:
        raise Http404("No incident matches the given id.")
    return incident


def _partial(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def _report(request: HttpRequest, exc: Exception) -> None:
    """An action's refusal as a flash message that names the field."""
    if isinstance(exc, FieldError):
        for field, message in exc.errors.items():
            label = field.removesuffix("_id").replace("_", " ")
            messages.error(request, message if field == "__all__" else f"{label}: {message}")
    elif isinstance(exc, Conflict | PermissionDenied | NotFound):
        messages.error(request, exc.detail)


def _back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return HttpResponseRedirect(target)
    return HttpResponseRedirect(default)


# --- queue -----------------------------------------------------------------------------------


class CappedPaginator(Paginator):
    """Counts with ``SELECT COUNT(*) FROM (... LIMIT cap+1)``: cheap at a million rows."""

    cap = COUNT_CAP

    @cached_property
    def count(self) -> int:
        found = self.object_list.order_by()[: self.cap + 1].count()
        self.capped = found > self.cap
        return min(found, self.cap)

    def page(self, number: Any) -> Any:
        """Two steps: the ids of the page (sorted on the narrow index columns, no joins),
        then those rows with what a row shows. Sorting a hundred thousand open incidents
        with every column and five joins attached is what makes a naive queue slow."""
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        ids = list(self.object_list.values_list("pk", flat=True)[bottom : bottom + self.per_page])
        rows = {row.pk: row for row in selectors.list_related(Incident.objects.filter(pk__in=ids))}
        return self._get_page([rows[pk] for pk in ids if pk in rows], number, self)


def short_age(delta: timedelta) -> str:
    """3m, 5h, 2d 4h, 3w: how long an incident has been open, at a glance."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 60:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 24:
        return f"{hours}h"
    days, hours = divmod(hours, 24)
    if days < 7:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if days < 60:
        return f"{days // 7}w {days % 7}d" if days % 7 else f"{days // 7}w"
    return f"{days // 30}mo"


def _int(value: Any) -> int | None:
    return int(value) if str(value or "").isdigit() else None


def queue_filter(request: HttpRequest, form: QueueFilterForm, tab: str) -> IncidentFilter:
    """The selector's filter from the valid filter words and the tab."""
    org = request.organization
    data = form.cleaned_data if form.is_bound else {}
    state = data.get("state") or ""
    f = IncidentFilter(organization=org.pk)
    f.state = [state] if state else (["open"] if tab else None)
    if data.get("priority"):
        f.priority = [data["priority"]]
    f.assignment_group = data.get("group")
    f.assignee = data.get("assignee")
    f.service = data.get("service")
    f.category = data.get("category")
    f.channel = data.get("channel") or None
    f.is_major = {"yes": True, "no": False}.get(data.get("major") or "")
    f.q = (data.get("q") or "").strip() or None
    f.assigned_to_me = tab == "mine"
    # "My teams" is filtered by the ids of the user's teams (see `queue`), not by a join
    # through team membership the planner cannot estimate.
    f.unassigned = tab == "unassigned"
    return f


def _sort(request: HttpRequest) -> str:
    key = request.GET.get("sort", "")
    return key if key.lstrip("-") in selectors.SORTS else ""


def _sort_links(querystring: Any, current: str) -> dict[str, dict[str, str]]:
    """For each sortable column: the address that sorts by it and aria-sort."""
    out = {}
    for key in SORT_COLUMNS:
        if current == key:
            new, state = f"-{key}", "ascending"
        elif current == f"-{key}":
            new, state = key, "descending"
        else:
            # First click: highest priority, lowest number, oldest (largest age), most
            # recently updated.
            new, state = (f"-{key}" if key == "updated" else key), "none"
        qs = querystring.copy()
        qs["sort"] = new
        qs.pop("page", None)
        out[key] = {"href": "?" + qs.urlencode(), "aria": state}
    return out


def _queue_tab(request: HttpRequest) -> str:
    tab = request.GET.get("tab", "")
    if tab in dict(TABS):
        return tab
    filters = {k for k in request.GET if k not in ("page", "sort", "size")}
    return "" if filters else "open"


@desk_view
def queue(request: HttpRequest) -> HttpResponse:
    user = request.user
    org = request.organization
    teams = teams_of(org.pk)
    workers = workers_of(org.pk)
    tab = _queue_tab(request)
    form = QueueFilterForm(
        request.GET or None,
        teams=teams,
        workers=workers,
        services=services_of(org.pk),
        categories=top_categories(org.pk),
    )
    if form.is_bound:
        form.is_valid()
    f = queue_filter(request, form, tab)
    sort = _sort(request)
    f.sort = [sort] if sort else None
    try:
        incidents = selectors.incidents(user, f)
        if tab == "teams":
            mine = list(
                Team.objects.filter(organization_id=org.pk, members=user).values_list(
                    "pk", flat=True
                )
            )
            incidents = incidents.filter(assignment_group_id__in=mine)
    except FieldError as exc:
        _report(request, exc)
        incidents = Incident.objects.none()
    size = _int(request.GET.get("size"))
    size = size if size in PAGE_SIZES else PAGE_SIZE
    paginator = CappedPaginator(incidents, size)
    page = paginator.get_page(request.GET.get("page"))
    now = timezone.now()
    page.object_list = list(page.object_list)
    sla = sla_badges([row.pk for row in page.object_list], org.pk, now)
    for row in page.object_list:
        row.age = short_age(now - row.opened_at)
        row.sla = sla.get(row.pk)  # the most urgent live clock: one query per page
    querystring = request.GET.copy()
    querystring.pop("page", None)
    view_query = view_actions.normalise_query(
        urlencode([(k, v) for k, vs in querystring.lists() for v in vs])
    )
    tab_links = []
    for key, label in TABS:
        tab_links.append({"key": key, "label": label, "href": f"?tab={key}", "current": key == tab})
    codes = ServiceDeskSettings.for_org(org.pk).resolution_codes
    context = {
        "form": form,
        "page": page,
        "capped": getattr(paginator, "capped", False),
        "querystring": querystring.urlencode(),
        "tab": tab,
        "tabs": tab_links,
        "sort": sort,
        "sorts": _sort_links(querystring, sort),
        "view_query": view_query,
        "saved_views": list(view_actions.saved_views_for_user(user, org.pk)),
        "save_form": SavedViewForm(initial={"query": view_query}),
        "can_change": _can_change(request),
        "hold_reasons": HoldReason.choices,
        "codes": [(c, code_label(c)) for c in codes],
        "teams": teams,
        "workers": workers,
        "next": request.get_full_path(),
        "priority_short": PRIORITY_SHORT,
    }
    template = "servicedesk/queue.html#results" if _partial(request) else "servicedesk/queue.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


BULK_LIMIT = 200


@require_POST
@desk_view
def bulk_update(request: HttpRequest) -> HttpResponse:
    """Apply one operation to the checked incidents, each through its action; report every
    refusal by number and keep going."""
    org = request.organization
    codes = ServiceDeskSettings.for_org(org.pk).resolution_codes
    form = BulkForm(request.POST, teams=teams_of(org.pk), workers=workers_of(org.pk), codes=codes)
    back = _back(request, reverse("desk-queue"))
    if not form.is_valid():
        for field, errors in form.errors.items():
            label = "Select incidents first" if field == "ids" else field.replace("_", " ")
            messages.error(request, f"{label}: {' '.join(errors)}")
        return back
    data = form.cleaned_data
    ids = list(dict.fromkeys(data["ids"]))[:BULK_LIMIT]
    rows = list(
        selectors.incidents(request.user, IncidentFilter(organization=org.pk))
        .filter(pk__in=ids)
        .select_related("assignment_group", "assignee")
    )
    operation = data["operation"]
    group = Team.objects.filter(organization_id=org.pk, pk=data.get("assignment_group")).first()
    assignee = User.objects.filter(pk=data["assignee"]).first() if data.get("assignee") else None
    done: list[str] = []
    refused: list[str] = []
    for incident in rows:
        try:
            if operation == "assign":
                actions.assign_incident(
                    acting_user=request.user,
                    incident=incident,
                    assignment_group=group,
                    assignee=assignee,
                )
            else:
                actions.transition_incident(
                    acting_user=request.user,
                    incident=incident,
                    transition=operation,
                    hold_reason=data.get("hold_reason") or "",
                    resolution_code=data.get("resolution_code") or "",
                    resolution_notes=data.get("resolution_notes") or "",
                )
        except (FieldError, Conflict, PermissionDenied) as exc:
            incident.refresh_from_db()
            detail = (
                "; ".join(
                    f"{k.removesuffix('_id').replace('_', ' ')}: {v}" for k, v in exc.errors.items()
                )
                if isinstance(exc, FieldError)
                else exc.detail
            )
            refused.append(f"{incident.number}: {detail}")
        else:
            done.append(incident.number)
    missing = len(ids) - len(rows)
    label = dict(BulkForm.base_fields["operation"].choices)[operation]
    if done:
        messages.success(
            request,
            f"{label}: {len(done)} incident{'s' * (len(done) != 1)} updated ({', '.join(done)}).",
        )
    for line in refused:
        messages.error(request, line)
    if missing:
        messages.error(request, f"{missing} of the selected incidents could not be found.")
    return back


# --- saved views -----------------------------------------------------------------------------


@require_POST
@desk_view
def saved_view_save(request: HttpRequest) -> HttpResponse:
    org = request.organization
    form = SavedViewForm(request.POST)
    query = view_actions.normalise_query(request.POST.get("query", ""))
    if form.is_valid():
        try:
            saved = view_actions.save_view(
                acting_user=request.user,
                organization=org,
                name=form.cleaned_data["name"],
                query=form.cleaned_data["query"] or "",
                shared=form.cleaned_data["shared"],
            )
        except (FieldError, PermissionDenied) as exc:
            _report(request, exc)
        else:
            where = "shared with the organisation" if saved.shared else "for you"
            messages.success(request, f"View “{saved.name}” saved {where}.")
            query = saved.query
    else:
        for field, errors in form.errors.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
    target = reverse("desk-queue")
    return HttpResponseRedirect(f"{target}?{query}" if query else target)


def _saved_view(request: HttpRequest, view_id: int) -> SavedView:
    try:
        return view_actions.access_saved_view(request.user, view_id, request.organization.pk)
    except NotFound as exc:
        raise Http404(str(exc)) from exc


@require_POST
@desk_view
def saved_view_rename(request: HttpRequest, view_id: int) -> HttpResponse:
    view = _saved_view(request, view_id)
    try:
        view_actions.rename_view(
            acting_user=request.user,
            view=view,
            name=request.POST.get("name", ""),
            shared=request.POST.get("shared") == "on" if "shared_present" in request.POST else None,
        )
    except (FieldError, PermissionDenied) as exc:
        _report(request, exc)
    else:
        messages.success(request, f"View renamed to “{view.name}”.")
    return HttpResponseRedirect(reverse("desk-queue") + (f"?{view.query}" if view.query else ""))


@require_POST
@desk_view
def saved_view_delete(request: HttpRequest, view_id: int) -> HttpResponse:
    view = _saved_view(request, view_id)
    try:
        view_actions.delete_view(acting_user=request.user, view=view)
    except PermissionDenied as exc:
        _report(request, exc)
    else:
        messages.success(request, f"View “{view.name}” deleted.")
    return HttpResponseRedirect(reverse("desk-queue"))


# --- small htmx helpers for the forms ---------------------------------------------------------


def _options(rows: list[tuple[Any, str]], selected: Any = None, blank: str = "—") -> HttpResponse:
    return render_options(rows, selected, blank)


def render_options(rows: list[tuple[Any, str]], selected: Any, blank: str) -> HttpResponse:
    html = render_to_string(
        "servicedesk/_options.html",
        {"rows": rows, "selected": str(selected or ""), "blank": blank},
    )
    return HttpResponse(html)


@desk_view
def htmx_subcategories(request: HttpRequest) -> HttpResponse:
    rows = subcategories(request.organization.pk, request.GET.get("category"))
    return _options([(c.pk, c.name) for c in rows])


@desk_view
def htmx_assignees(request: HttpRequest) -> HttpResponse:
    group_id = _int(request.GET.get("assignment_group"))
    team = Team.objects.filter(organization_id=request.organization.pk, pk=group_id).first()
    return _options([(u.pk, str(u)) for u in team_members(team)])


def _priority_name(priority: int | None) -> str:
    """ "Critical" for 1: the chip already says P1."""
    label = dict(Priority.choices).get(priority, "")
    return label.split(" - ", 1)[-1]


@desk_view
def htmx_priority(request: HttpRequest) -> HttpResponse:
    impact = _int(request.GET.get("impact"))
    urgency = _int(request.GET.get("urgency"))
    priority = None
    if impact in (1, 2, 3) and urgency in (1, 2, 3):
        priority = ServiceDeskSettings.for_org(request.organization.pk).priority_for(
            impact, urgency
        )
    return render(
        request,
        "servicedesk/_priority_preview.html",
        {"priority": priority, "label": _priority_name(priority)},
    )


@desk_view
def htmx_people(request: HttpRequest) -> HttpResponse:
    term = (request.GET.get("requester") or request.GET.get("user") or "").strip()
    rows: list[User] = []
    if len(term) >= 2:
        rows = list(
            User.objects.filter(memberships__organization_id=request.organization.pk)
            .filter(Q(full_name__icontains=term) | Q(email__icontains=term))
            .order_by("full_name", "email")[:SUGGESTIONS]
        )
    return render(request, "servicedesk/_datalist.html", {"values": [u.email for u in rows]})


@desk_view
def htmx_cis(request: HttpRequest) -> HttpResponse:
    term = (request.GET.get("ci") or "").strip()
    names: list[str] = []
    if len(term) >= 2:
        names = list(
            ConfigurationItem.objects.filter(
                organization_id=request.organization.pk, name__icontains=term
            )
            .order_by("name")
            .values_list("name", flat=True)[:SUGGESTIONS]
        )
    return render(request, "servicedesk/_datalist.html", {"values": names})


# --- new incident ----------------------------------------------------------------------------


@desk_view
def incident_new(request: HttpRequest) -> HttpResponse:
    org = request.organization
    if not has_permission(request.user, Incident, Action.ADD, org.pk) or not _can_change(request):
        raise DjangoPermissionDenied("You may not log incidents here.")
    settings = ServiceDeskSettings.for_org(org.pk)
    form = NewIncidentForm(
        request.POST or None,
        organization=org,
        initial={"assignment_group": settings.default_team_id},
    )
    if request.method == "POST" and form.is_valid():
        try:
            incident = actions.create_incident(
                acting_user=request.user, organization=org, **form.action_fields()
            )
        except (FieldError, Conflict) as exc:
            form.add_action_error(exc)
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.detail) from exc
        else:
            messages.success(request, f"{incident.number} logged.")
            return HttpResponseRedirect(reverse("desk-incident", args=[incident.pk]))
    impact = form["impact"].value()
    urgency = form["urgency"].value()
    priority = None
    if _int(impact) in (1, 2, 3) and _int(urgency) in (1, 2, 3):
        priority = settings.priority_for(int(impact), int(urgency))
    status = 422 if request.method == "POST" else 200
    return render(
        request,
        "servicedesk/incident_new.html",
        {
            "form": form,
            "priority": priority,
            "priority_label": _priority_name(priority),
        },
        status=status,
    )


# --- incident page ---------------------------------------------------------------------------


def _name(activity: Activity) -> str:
    if activity.actor_id and activity.actor is not None:
        return str(activity.actor)
    return activity.actor_name or "OpsDesk"


def _state(value: Any) -> str:
    return STATE_LABELS.get(value, str(value or "—"))


def _value(field: str, value: Any) -> str:
    if value in (None, ""):
        return "—"
    if field == "priority":
        return f"P{value}"
    if field in ("impact", "urgency"):
        return {1: "High", 2: "Medium", 3: "Low"}.get(_int(value) or 0, str(value))
    if field == "channel":
        return dict(Channel.choices).get(value, str(value))
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "…"


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def story(activity: Activity) -> dict[str, Any]:
    """One timeline entry as a sentence a person reads (and the text under it)."""
    who = _name(activity)
    data = activity.data or {}
    kind = activity.kind
    body = activity.body
    text = f"{who}: {activity.get_kind_display().lower()}"
    if kind == ActivityKind.CREATED:
        channel = dict(Channel.choices).get(data.get("channel"), "")
        text = f"{who} opened it" + (f" ({channel.lower()})" if channel else "")
        if data.get("priority"):
            text += f" as P{data['priority']}"
    elif kind == ActivityKind.STATE:
        text = f"{who} moved it from {_state(data.get('from'))} to {_state(data.get('to'))}"
        if data.get("automatic"):
            text = f"Closed automatically (was {_state(data.get('from'))})"
        if data.get("hold_reason"):
            text += f": {dict(HoldReason.choices).get(data['hold_reason'], data['hold_reason'])}"
        if data.get("resolution_code"):
            text += f" — {code_label(data['resolution_code'])}"
    elif kind == ActivityKind.ASSIGNED:
        group, person = data.get("group"), data.get("assignee")
        if group or person:
            target = " / ".join(x for x in (group, person) if x)
            text = f"{who} assigned it to {target}"
        else:
            text = f"{who} removed the assignment"
        was = " / ".join(x for x in (data.get("from_group"), data.get("from_assignee")) if x)
        if was:
            text += f" (was {was})"
    elif kind == ActivityKind.COMMENT:
        text = f"{who} commented"
    elif kind == ActivityKind.WORK_NOTE:
        text = f"{who} added a work note"
    elif kind == ActivityKind.FIELD:
        parts = [
            f"{name.replace('_', ' ')} from {_value(name, pair[0])} to {_value(name, pair[1])}"
            for name, pair in (data.get("changes") or {}).items()
            if isinstance(pair, list | tuple) and len(pair) == 2
        ]
        text = f"{who} changed " + ("; ".join(parts) if parts else "fields")
    elif kind in (ActivityKind.LINK, ActivityKind.UNLINK):
        what = str(data.get("type", "")).replace("_", " ")
        verb = "linked" if kind == ActivityKind.LINK else "unlinked"
        text = f"{who} {verb} {what} {data.get('number', '')} “{data.get('title', '')}”"
    elif kind == ActivityKind.ATTACHMENT:
        text = (
            f"{who} attached {data.get('filename', 'a file')} ({_size(int(data.get('size') or 0))})"
        )
        if data.get("quarantined"):
            text += ", kept in quarantine for review"
    elif kind == ActivityKind.MAJOR:
        event = data.get("event", "")
        text = {
            "declared": f"{who} declared it a major incident",
            "manager": f"{who} made {data.get('manager') or 'nobody'} the major-incident manager",
            "child_attached": f"{who} attached {data.get('child', 'an incident')} as a child",
            "attached_to": f"{who} attached it to major incident {data.get('parent', '')}",
            "child_detached": f"{who} detached {data.get('child', 'an incident')}",
            "detached_from": f"{who} detached it from major incident {data.get('parent', '')}",
        }.get(event, f"{who} updated the major incident")
    elif kind == ActivityKind.COMMUNICATION:
        text = f"{who} sent a stakeholder update"
    elif kind == ActivityKind.WATCHER:
        person = data.get("user", "someone")
        if data.get("user_id") == activity.actor_id:
            text = f"{who} {'started' if data.get('watching') else 'stopped'} watching"
        elif data.get("watching"):
            text = f"{who} added {person} as a watcher"
        else:
            text = f"{who} removed {person} from the watchers"
    return {
        "activity": activity,
        "text": text,
        "body": body,
        "note": kind == ActivityKind.WORK_NOTE,
        "comment": kind == ActivityKind.COMMENT,
        "kind": kind,
    }


def _transitions(incident: Incident) -> list[dict[str, Any]]:
    return [
        {"name": t.name, "label": t.title, "requires": t.requires}
        for t in INCIDENT.available(incident.state)
    ]


def _impact(incident: Incident) -> dict[str, Any] | None:
    if incident.ci is None:
        return None
    from opsdesk.cmdb.impact import impact_analysis

    analysis = impact_analysis(incident.ci, IMPACT_DEPTH)
    services = [
        {**s, "steps": list(zip(s["path"], s["path_names"], strict=True))}
        for s in analysis["services"]
    ]
    return {"analysis": analysis, "services": services, "depth": IMPACT_DEPTH}


def _panels(request: HttpRequest, incident: Incident) -> list[dict[str, Any]]:
    """Side panels other apps contribute, rendered. A failing provider is logged and shown as
    a note: the page agents live on never fails because of a panel."""
    try:
        return [
            {"title": p.title, "html": render_to_string(p.template, p.context, request)}
            for p in panels_for(request.user, incident)
        ]
    except Exception:
        logger.exception("A side panel of %s failed", incident.number)
        return [{"title": "Side panels", "html": "", "failed": True}]


def _incident_page(
    request: HttpRequest,
    incident: Incident,
    *,
    fields_form: IncidentFieldsForm | None = None,
    assign_form: AssignForm | None = None,
    comment_form: CommentForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    org = request.organization
    incident = (
        Incident.objects.select_related(
            "requester",
            "opened_by",
            "assignment_group",
            "assignee",
            "service",
            "ci",
            "ci__ci_class",
            "category",
            "subcategory",
            "problem",
            "known_error",
            "resolved_by",
            "parent",
        )
        .filter(pk=incident.pk)
        .get()
    )
    can_change = _can_change(request)
    settings = ServiceDeskSettings.for_org(org.pk)
    subject = {"subject_type": SubjectType.INCIDENT, "subject_id": incident.pk}
    attachments = list(
        Attachment.objects.restrict(user).filter(**subject).select_related("uploaded_by")
    )
    watchers = list(
        Watcher.objects.restrict(user).filter(**subject).select_related("user").order_by("id")
    )
    entries = [story(a) for a in timeline.timeline(user, incident)]
    context = {
        "incident": incident,
        "can_change": can_change and incident.state not in INCIDENT.final,
        "transitions": _transitions(incident),
        "fields_form": fields_form
        or IncidentFieldsForm(organization=org, initial=IncidentFieldsForm.initial_for(incident)),
        "assign_form": assign_form
        or AssignForm(
            organization=org,
            group=incident.assignment_group,
            initial={
                "assignment_group": incident.assignment_group_id,
                "assignee": incident.assignee_id,
            },
        ),
        "comment_form": comment_form or CommentForm(),
        "hold_reasons": HoldReason.choices,
        "codes": [(c, code_label(c)) for c in settings.resolution_codes],
        "timeline": entries,
        "attachments": attachments,
        "watchers": watchers,
        "watching": any(w.user_id == user.pk for w in watchers),
        "impact": _impact(incident),
        "panels": _panels(request, incident),
        "state_label": _state(incident.state),
        "resolution_label": code_label(incident.resolution_code)
        if incident.resolution_code
        else "",
        "in_my_group": incident.assignment_group is not None
        and incident.assignment_group.members.filter(pk=user.pk).exists(),
    }
    response = render(request, "servicedesk/incident.html", context, status=status)
    return response


@desk_view
def incident_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _incident_page(request, _incident_in_org(request, pk))


def _page_url(incident: Incident, anchor: str = "") -> str:
    return reverse("desk-incident", args=[incident.pk]) + (f"#{anchor}" if anchor else "")


@require_POST
@desk_view
def incident_edit(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _incident_in_org(request, pk)
    form = IncidentFieldsForm(request.POST, organization=request.organization)
    if form.is_valid():
        try:
            actions.update_incident(
                acting_user=request.user, incident=incident, **form.action_fields()
            )
        except (FieldError, Conflict) as exc:
            form.add_action_error(exc)
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.detail) from exc
        else:
            messages.success(request, f"{incident.number} saved.")
            return HttpResponseRedirect(_page_url(incident))
    return _incident_page(request, _incident_in_org(request, pk), fields_form=form, status=422)


@require_POST
@desk_view
def incident_transition(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    incident = _incident_in_org(request, pk)
    form = TransitionForm(request.POST)
    form.is_valid()
    data = form.cleaned_data
    try:
        actions.transition_incident(
            acting_user=request.user,
            incident=incident,
            transition=name,
            hold_reason=data.get("hold_reason") or "",
            resolution_code=data.get("resolution_code") or "",
            resolution_notes=data.get("resolution_notes") or "",
            reason=data.get("reason") or "",
        )
    except (FieldError, Conflict) as exc:
        _report(request, exc)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    else:
        messages.success(request, f"{incident.number} is {_state(incident.state).lower()}.")
    return HttpResponseRedirect(_page_url(incident))


@require_POST
@desk_view
def incident_assign(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _incident_in_org(request, pk)
    org = request.organization
    if request.POST.get("me"):
        group = incident.assignment_group
        mine = Team.objects.filter(organization_id=org.pk, members=request.user)
        if group is None or not group.members.filter(pk=request.user.pk).exists():
            group = mine.order_by("name").first()
        assignee = request.user
    else:
        form = AssignForm(request.POST, organization=org, group=None)
        group_id = _int(request.POST.get("assignment_group"))
        group = Team.objects.filter(organization_id=org.pk, pk=group_id).first()
        form.fields["assignee"].choices = [("", "—")] + [
            (u.pk, str(u)) for u in team_members(group)
        ]
        if not form.is_valid():
            for field, errors in form.errors.items():
                messages.error(request, f"{field.replace('_', ' ')}: {' '.join(errors)}")
            return HttpResponseRedirect(_page_url(incident, "assignment"))
        assignee = User.objects.filter(pk=form.cleaned_data.get("assignee")).first()
    try:
        actions.assign_incident(
            acting_user=request.user, incident=incident, assignment_group=group, assignee=assignee
        )
    except (FieldError, Conflict) as exc:
        _report(request, exc)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    else:
        target = " / ".join(str(x) for x in (group, assignee) if x) or "nobody"
        messages.success(request, f"{incident.number} assigned to {target}.")
    return HttpResponseRedirect(_page_url(incident))


@require_POST
@desk_view
def incident_comment(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _incident_in_org(request, pk)
    form = CommentForm(request.POST)
    if form.is_valid():
        public = form.cleaned_data["kind"] == "comment"
        try:
            actions.add_comment(
                acting_user=request.user,
                subject=incident,
                body=form.cleaned_data["body"],
                public=public,
            )
        except FieldError as exc:
            form.add_error("body", " ".join(exc.errors.values()))
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.detail) from exc
        else:
            messages.success(request, "Comment added." if public else "Work note added.")
            return HttpResponseRedirect(_page_url(incident, "timeline"))
    return _incident_page(request, incident, comment_form=form, status=422)


@require_POST
@desk_view
def incident_attach(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _incident_in_org(request, pk)
    form = AttachmentForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a file to attach.")
        return HttpResponseRedirect(_page_url(incident, "attachments"))
    upload = form.cleaned_data["file"]
    settings = ServiceDeskSettings.for_org(incident.organization_id)
    if upload.size > settings.attachment_max_bytes:
        messages.error(
            request,
            f"file: {upload.name} is {upload.size:,} bytes; the limit is "
            f"{settings.attachment_max_bytes:,} bytes.",
        )
        return HttpResponseRedirect(_page_url(incident, "attachments"))
    try:
        attachment = actions.add_attachment(
            acting_user=request.user,
            subject=incident,
            filename=upload.name,
            content=upload.read(),
            content_type=upload.content_type or "",
            public=not form.cleaned_data["internal"],
        )
    except FieldError as exc:
        _report(request, exc)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    else:
        messages.success(request, f"{attachment.filename} attached.")
    return HttpResponseRedirect(_page_url(incident, "attachments"))


@desk_view
def attachment_download(request: HttpRequest, attachment_id: int) -> HttpResponse:
    """The file, if the user may see the attachment and its ticket; quarantined files only to
    those who work tickets, always as a download."""
    org = request.organization
    attachment = (
        Attachment.objects.restrict(request.user)
        .filter(pk=attachment_id, organization_id=org.pk)
        .first()
    )
    if attachment is None:
        raise Http404("No attachment matches the given id.")
    try:
        timeline.get_subject(
            request.user, attachment.subject_type, attachment.subject_id, Action.VIEW
        )
    except (NotFound, FieldError) as exc:
        raise Http404("No attachment matches the given id.") from exc
    if attachment.quarantined and not _can_change(request):
        raise DjangoPermissionDenied("This file is quarantined for review.")
    try:
        handle = attachment.file.open("rb")
    except (FileNotFoundError, OSError) as exc:
        raise Http404("The file is missing from storage.") from exc
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.filename,
        content_type="application/octet-stream"
        if attachment.quarantined
        else attachment.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_POST
@desk_view
def incident_watch(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _incident_in_org(request, pk)
    email = request.POST.get("user", "").strip()
    who = request.user if not email else member_by_email(request.organization.pk, email)
    if who is None:
        messages.error(request, f"user: No member of {request.organization.name} has this email.")
        return HttpResponseRedirect(_page_url(incident, "watchers"))
    watching = request.POST.get("watching", "on") == "on"
    try:
        changed = actions.watch(
            acting_user=request.user, subject=incident, user=who, watching=watching
        )
    except (FieldError, PermissionDenied) as exc:
        _report(request, exc)
    else:
        if changed:
            me = who.pk == request.user.pk
            if watching:
                messages.success(request, "You are watching it." if me else f"{who} watches it.")
            else:
                messages.success(request, "You stopped watching it." if me else f"{who} removed.")
    return HttpResponseRedirect(_page_url(incident, "watchers"))


@require_POST
@desk_view
def incident_link(request: HttpRequest, pk: int) -> HttpResponse:
    from opsdesk.problems.models import KnownError, Problem

    incident = _incident_in_org(request, pk)
    form = LinkForm(request.POST)
    if not form.is_valid():
        messages.error(request, "number: Give a problem (PRB…) or known error (KE…) number.")
        return HttpResponseRedirect(_page_url(incident, "links"))
    number = form.cleaned_data["number"].strip().upper()
    target: dict[str, Any] = {}
    model = KnownError if number.startswith("KE") else Problem if number.startswith("PRB") else None
    if model is None:
        messages.error(
            request, "number: A problem number starts with PRB, a known error's with KE."
        )
        return HttpResponseRedirect(_page_url(incident, "links"))
    found = (
        model.objects.restrict(request.user)
        .filter(organization_id=incident.organization_id, number=number)
        .first()
    )
    if found is None:
        messages.error(request, f"number: No {model._meta.verbose_name} {number} here.")
        return HttpResponseRedirect(_page_url(incident, "links"))
    target["known_error" if model is KnownError else "problem"] = found
    try:
        actions.link_incident(
            acting_user=request.user,
            incident=incident,
            unlink=form.cleaned_data["unlink"],
            **target,
        )
    except (FieldError, Conflict) as exc:
        _report(request, exc)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    else:
        verb = "unlinked" if form.cleaned_data["unlink"] else "linked"
        messages.success(request, f"{found.number} {verb}.")
    return HttpResponseRedirect(_page_url(incident, "links"))


# --- dashboard -------------------------------------------------------------------------------


@desk_view
def dashboard(request: HttpRequest) -> HttpResponse:
    from opsdesk.servicedesk import charts
    from opsdesk.servicedesk import dashboard as metrics

    org = request.organization
    data = metrics.dashboard(org)
    chart = charts.trend_chart(
        data["trend"],
        title=f"Opened and resolved incidents per day, and the open backlog, last {metrics.DAYS} days",
    )
    return render(request, "servicedesk/dashboard.html", {"m": data, "chart": chart})


# --- settings --------------------------------------------------------------------------------


MATRIX = [(i, [(u, f"m_{i}_{u}") for u in (1, 2, 3)]) for i in (1, 2, 3)]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").replace(",", "\n").splitlines() if line.strip()]


def _settings_changes(request: HttpRequest, org: Any) -> dict[str, Any]:
    post = request.POST
    errors: dict[str, str] = {}
    matrix = {}
    for impact, cells in MATRIX:
        for urgency, name in cells:
            matrix[f"{impact},{urgency}"] = _int(post.get(name)) or 0
    changes: dict[str, Any] = {
        "priority_matrix": matrix,
        "resolution_codes": _lines(post.get("resolution_codes", "")),
        "attachment_types": _lines(post.get("attachment_types", "")),
    }
    days = _int(post.get("auto_close_days"))
    if days is None:
        errors["auto_close_days"] = "A whole number of days."
    else:
        changes["auto_close_days"] = days
    megabytes = post.get("attachment_max_mb", "").strip()
    try:
        changes["attachment_max_bytes"] = int(float(megabytes) * 1024 * 1024)
    except ValueError:
        errors["attachment_max_bytes"] = "A size in megabytes."
    team_id = _int(post.get("default_team"))
    changes["default_team"] = (
        Team.objects.filter(organization_id=org.pk, pk=team_id).first() if team_id else None
    )
    if team_id and changes["default_team"] is None:
        errors["default_team"] = "Choose a team of this organisation."
    if errors:
        raise FieldError(errors)
    return changes


@desk_view
def desk_settings(request: HttpRequest) -> HttpResponse:
    """Admins edit the priority matrix, resolution codes, automatic closing, the default
    team, attachment rules and the categories (through `config_actions`)."""
    from opsdesk.servicedesk import config_actions
    from opsdesk.servicedesk.models import Category

    org = request.organization
    if not has_permission(request.user, ServiceDeskSettings, Action.CHANGE, org.pk):
        raise DjangoPermissionDenied("Only an administrator changes the service desk settings.")
    if request.method == "POST":
        what = request.POST.get("what", "settings")
        try:
            if what == "settings":
                config_actions.update_settings(
                    acting_user=request.user,
                    organization=org,
                    **_settings_changes(request, org),
                )
                messages.success(request, "Settings saved.")
            elif what == "category-add":
                parent_id = _int(request.POST.get("parent"))
                parent = (
                    Category.objects.filter(organization_id=org.pk, pk=parent_id).first()
                    if parent_id
                    else None
                )
                category = config_actions.create_category(
                    acting_user=request.user,
                    organization=org,
                    name=request.POST.get("name", ""),
                    parent=parent,
                )
                messages.success(request, f"Category “{category.name}” added.")
            elif what == "category-update":
                category = Category.objects.filter(
                    organization_id=org.pk, pk=_int(request.POST.get("category"))
                ).first()
                if category is None:
                    raise Http404("No category matches the given id.")
                changes: dict[str, Any] = {"name": request.POST.get("name", category.name)}
                changes["is_active"] = request.POST.get("is_active") == "on"
                config_actions.update_category(
                    acting_user=request.user, category=category, **changes
                )
                messages.success(request, f"Category “{category.name}” saved.")
        except (FieldError, Conflict) as exc:
            _report(request, exc)
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.detail) from exc
        return HttpResponseRedirect(reverse("desk-settings"))
    settings = ServiceDeskSettings.for_org(org.pk)
    matrix = settings.priority_matrix or {}
    rows = [
        {
            "impact": impact,
            "cells": [
                {
                    "name": name,
                    "value": int(matrix.get(f"{impact},{urgency}", 5)),
                    "urgency": urgency,
                }
                for urgency, name in cells
            ],
        }
        for impact, cells in MATRIX
    ]
    categories = list(
        Category.objects.filter(organization_id=org.pk).select_related("parent").order_by("name")
    )
    tops = [c for c in categories if c.parent_id is None]
    tree = [
        {"category": top, "children": [c for c in categories if c.parent_id == top.pk]}
        for top in tops
    ]
    return render(
        request,
        "servicedesk/settings.html",
        {
            "settings": settings,
            "matrix": rows,
            "priorities": Priority.choices,
            "teams": teams_of(org.pk),
            "codes_text": "\n".join(settings.resolution_codes or []),
            "types_text": "\n".join(settings.attachment_types or []),
            "max_mb": round(settings.attachment_max_bytes / 1024 / 1024, 2),
            "tree": tree,
            "tops": tops,
        },
    )


urlpatterns = [
    path("", queue, name="desk-queue"),
    path("incidents/", queue, name="desk-incidents"),
    path("incidents/bulk/", bulk_update, name="desk-bulk"),
    path("incidents/new/", incident_new, name="desk-incident-new"),
    path("incidents/<int:pk>/", incident_detail, name="desk-incident"),
    path("incidents/<int:pk>/edit/", incident_edit, name="desk-incident-edit"),
    path(
        "incidents/<int:pk>/transition/<slug:name>/",
        incident_transition,
        name="desk-incident-transition",
    ),
    path("incidents/<int:pk>/assign/", incident_assign, name="desk-incident-assign"),
    path("incidents/<int:pk>/comment/", incident_comment, name="desk-incident-comment"),
    path("incidents/<int:pk>/attachments/", incident_attach, name="desk-incident-attach"),
    path("incidents/<int:pk>/watch/", incident_watch, name="desk-incident-watch"),
    path("incidents/<int:pk>/link/", incident_link, name="desk-incident-link"),
    path("attachments/<int:attachment_id>/", attachment_download, name="desk-attachment"),
    path("views/", saved_view_save, name="desk-view-save"),
    path("views/<int:view_id>/rename/", saved_view_rename, name="desk-view-rename"),
    path("views/<int:view_id>/delete/", saved_view_delete, name="desk-view-delete"),
    path("htmx/subcategories/", htmx_subcategories, name="desk-htmx-subcategories"),
    path("htmx/assignees/", htmx_assignees, name="desk-htmx-assignees"),
    path("htmx/priority/", htmx_priority, name="desk-htmx-priority"),
    path("htmx/people/", htmx_people, name="desk-htmx-people"),
    path("htmx/cis/", htmx_cis, name="desk-htmx-cis"),
    path("dashboard/", dashboard, name="desk-dashboard"),
    path("settings/", desk_settings, name="desk-settings"),
]
