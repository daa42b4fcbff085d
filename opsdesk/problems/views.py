"""Web pages of problem management: problem list and page, raising a problem from incidents,
known errors, and the "link this known error" button of the incident page's panel.

Views check the shape of input (forms) and call the same selectors and actions as the API.
Every page is scoped to the current organisation (``request.organization``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from opsdesk.accounts.models import Team, User
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.errors import Conflict, FieldError, NotFound, PermissionDenied
from opsdesk.core.permissions import Action, has_permission
from opsdesk.problems import actions, selectors
from opsdesk.problems.choices import KnownErrorState
from opsdesk.problems.forms import (
    KnownErrorCreateForm,
    KnownErrorForm,
    KnownErrorFromProblemForm,
    LinkIncidentsForm,
    LinkKnownErrorForm,
    ProblemEditForm,
    ProblemFilterForm,
    RaiseProblemForm,
    TransitionForm,
    split_words,
)
from opsdesk.problems.models import KnownError, Problem
from opsdesk.problems.workflows import KNOWN_ERROR, PROBLEM
from opsdesk.servicedesk import timeline
from opsdesk.servicedesk.models import Incident

PAGE_SIZE = 50


def _org(request: HttpRequest) -> Any:
    org = request.organization
    if org is None:
        raise Http404("Choose an organisation first.")
    if not has_permission(request.user, Problem, Action.VIEW, org.pk):
        raise DjangoPermissionDenied("Problems are not part of your role.")
    return org


def _can(request: HttpRequest, model: type, action: str) -> bool:
    org = request.organization
    return org is not None and has_permission(request.user, model, action, org.pk)


def _partial(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def _problem_in_org(request: HttpRequest, problem_id: int) -> Problem:
    org = _org(request)
    try:
        problem = selectors.access_problem(request.user, problem_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    if problem.organization_id != org.pk:
        raise Http404("No problem matches the given id.")
    return problem


def _known_error_in_org(request: HttpRequest, known_error_id: int) -> KnownError:
    org = _org(request)
    try:
        known_error = selectors.access_known_error(request.user, known_error_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    if known_error.organization_id != org.pk:
        raise Http404("No known error matches the given id.")
    return known_error


def _teams(org: Any) -> Any:
    return Team.objects.filter(organization_id=org.pk).order_by("name")


def _members(org: Any) -> Any:
    return User.objects.filter(memberships__organization_id=org.pk).order_by("full_name", "email")


def _report(request: HttpRequest, exc: FieldError | Conflict) -> None:
    items = {exc.field or "": exc.detail} if isinstance(exc, Conflict) else exc.errors
    for field, message in items.items():
        label = field.replace("_id", "").replace("_", " ")
        messages.error(request, f"{label}: {message}" if label else message)


def _form_errors(request: HttpRequest, form: Any) -> None:
    for field, errors in form.errors.items():
        messages.error(
            request, f"{field}: {' '.join(errors)}" if field != "__all__" else " ".join(errors)
        )


def _incidents_by_reference(request: HttpRequest, org: Any, words: list[str]) -> list[Incident]:
    """Incidents of `org` the user may see, by number (INC0000012) or id; FieldError naming
    ``incidents`` for any that is not found."""
    visible = Incident.objects.restrict(request.user, Action.VIEW).filter(organization_id=org.pk)
    found: list[Incident] = []
    missing: list[str] = []
    for word in words:
        term = word.strip().upper()
        incident = None
        if term.isdigit() and len(term) < 18:
            incident = visible.filter(pk=int(term)).first()
        elif term.startswith("INC") and len(term) <= 32:
            incident = visible.filter(number=term).first()
        if incident is None:
            missing.append(word)
        elif incident not in found:
            found.append(incident)
    if missing:
        raise FieldError({"incidents": f"No incident here matches {', '.join(missing)}."})
    return found


def _cis_by_name(request: HttpRequest, org: Any, names: list[str]) -> list[ConfigurationItem]:
    visible = ConfigurationItem.objects.restrict(request.user, Action.VIEW).filter(
        organization_id=org.pk
    )
    found: list[ConfigurationItem] = []
    missing: list[str] = []
    for name in names:
        matches = list(visible.filter(name__iexact=name)[:2])
        if len(matches) != 1:
            missing.append(name)
        elif matches[0] not in found:
            found.append(matches[0])
    if missing:
        raise FieldError(
            {"cis": f"No single configuration item here is named {', '.join(missing)}."}
        )
    return found


# --- problem list --------------------------------------------------------------------------


@login_required
def problem_list(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    form = ProblemFilterForm(request.GET or None, teams=_teams(org))
    filters = form.filters() if form.is_bound and form.is_valid() else {}
    if not form.is_bound:
        filters = {"state": ["open"]}
    qs = selectors.problems(request.user, selectors.ProblemFilter(organization=org.pk, **filters))
    qs = selectors.problem_list_related(qs)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    counts = _incident_counts([p.pk for p in page.object_list])
    rows = [{"problem": p, "incidents": counts.get(p.pk, 0)} for p in page.object_list]
    querystring = request.GET.copy()
    querystring.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "rows": rows,
        "querystring": querystring.urlencode(),
        "filtered": form.is_bound,
        "can_add": _can(request, Problem, Action.ADD),
        "tab": "problems",
    }
    template = (
        "problems/problem_list.html#results" if _partial(request) else "problems/problem_list.html"
    )
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _incident_counts(problem_ids: list[int]) -> dict[int, int]:
    from django.db.models import Count

    return dict(
        Incident.objects.filter(problem_id__in=problem_ids)
        .values("problem_id")
        .annotate(n=Count("id"))
        .values_list("problem_id", "n")
    )


# --- raise a problem -----------------------------------------------------------------------


@login_required
def problem_new(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    if not _can(request, Problem, Action.ADD):
        raise DjangoPermissionDenied("You may not raise problems here.")
    initial: dict[str, Any] = {"priority": 3}
    preselected: list[Incident] = []
    if request.method == "GET" and request.GET.get("incidents"):
        try:
            preselected = _incidents_by_reference(
                request, org, split_words(request.GET["incidents"])
            )
        except FieldError as exc:
            _report(request, exc)
        if preselected:
            initial["incidents"] = ", ".join(i.number for i in preselected)
            initial["priority"] = min(i.priority for i in preselected)
    form = RaiseProblemForm(request.POST or None, initial=initial)
    form.set_choices(_teams(org), _members(org))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            incidents = _incidents_by_reference(request, org, split_words(data["incidents"]))
            fields = {
                "description": data["description"],
                "priority": data["priority"],
                "assignment_group": data["assignment_group"],
                "assignee": data["assignee"],
            }
            if incidents:
                problem = actions.raise_problem_from_incidents(
                    acting_user=request.user, incidents=incidents, title=data["title"], **fields
                )
            else:
                if not data["title"].strip():
                    raise FieldError({"title": "A title is required (or give incidents)."})
                problem = actions.create_problem(
                    acting_user=request.user, organization=org, title=data["title"], **fields
                )
        except (FieldError, Conflict) as exc:
            items = (
                {exc.field or "__all__": exc.detail} if isinstance(exc, Conflict) else exc.errors
            )
            for field, message in items.items():
                name = field.removesuffix("_id")
                name = "incidents" if name == "incident_ids" else name
                form.add_error(name if name in form.fields else None, message)
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.detail) from exc
        else:
            linked = problem.incidents.count()
            note = f" with {linked} incident{'s' if linked != 1 else ''}" if linked else ""
            messages.success(request, f"{problem.number} raised{note}.")
            return HttpResponseRedirect(reverse("problems-detail", args=[problem.pk]))
    status = 422 if request.method == "POST" else 200
    return render(
        request,
        "problems/problem_new.html",
        {"form": form, "preselected": preselected, "tab": "problems"},
        status=status,
    )


# --- problem page --------------------------------------------------------------------------

#: The fields each transition's form asks for.
TRANSITION_FIELDS = {
    "fix": ["root_cause"],
    "resolve": ["root_cause", "resolution_notes", "resolve_incidents"],
    "reopen": ["reason"],
    "cancel": ["reason"],
}


def _edit_form(problem: Problem, org: Any, data: Any = None) -> ProblemEditForm:
    form = ProblemEditForm(
        data,
        initial={
            "title": problem.title,
            "description": problem.description,
            "priority": problem.priority,
            "assignment_group": problem.assignment_group_id,
            "assignee": problem.assignee_id,
            "rca_notes": problem.rca_notes,
            "root_cause": problem.root_cause,
            "workaround": problem.workaround,
        },
        prefix="edit",
    )
    form.set_choices(_teams(org), _members(org))
    return form


@login_required
def problem_detail(request: HttpRequest, problem_id: int) -> HttpResponse:
    problem = _problem_in_org(request, problem_id)
    org = request.organization
    can_change = _can(request, Problem, Action.CHANGE) and problem.state not in PROBLEM.final
    transitions = [
        {"t": t, "fields": TRANSITION_FIELDS.get(t.name, [])}
        for t in PROBLEM.available(problem.state)
    ]
    incidents = list(selectors.problem_incidents(request.user, problem))
    context = {
        "problem": problem,
        "state_label": PROBLEM.label(problem.state),
        "transitions": transitions if _can(request, Problem, Action.CHANGE) else [],
        "incidents": incidents,
        "open_incidents": sum(1 for i in incidents if i.is_open),
        "known_errors": list(problem.known_errors.order_by("-created_at")),
        "entries": list(timeline.timeline(request.user, problem)),
        "edit_form": _edit_form(problem, org),
        "link_form": LinkIncidentsForm(),
        "ke_form": KnownErrorFromProblemForm(initial={"title": problem.title}),
        "can_change": can_change,
        "can_add_ke": _can(request, KnownError, Action.ADD)
        and problem.state != "cancelled"
        and bool(problem.workaround.strip()),
        "tab": "problems",
    }
    return render(request, "problems/problem_detail.html", context)


def _back(problem: Problem) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("problems-detail", args=[problem.pk]))


@require_POST
@login_required
def problem_edit(request: HttpRequest, problem_id: int) -> HttpResponse:
    problem = _problem_in_org(request, problem_id)
    form = _edit_form(problem, request.organization, request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return _back(problem)
    data = form.cleaned_data
    try:
        actions.update_problem(acting_user=request.user, problem=problem, **data)
    except (FieldError, Conflict) as exc:
        _report(request, exc)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    else:
        messages.success(request, f"{problem.number} saved.")
    return _back(problem)


@require_POST
@login_required
def problem_transition(request: HttpRequest, problem_id: int, transition: str) -> HttpResponse:
    problem = _problem_in_org(request, problem_id)
    form = TransitionForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return _back(problem)
    data = form.cleaned_data
    try:
        PROBLEM.get(transition)
        actions.transition_problem(
            acting_user=request.user,
            problem=problem,
            transition=transition,
            root_cause=data["root_cause"],
            resolution_notes=data["resolution_notes"],
            reason=data["reason"],
            resolve_incidents=transition == "resolve" and data["resolve_incidents"],
        )
    except (FieldError, Conflict) as exc:
        _report(request, exc)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    else:
        message = f"{problem.number} is now {PROBLEM.label(problem.state).lower()}."
        resolved = getattr(problem, "resolved_incidents", [])
        if transition == "resolve" and data["resolve_incidents"]:
            n = len(resolved)
            message += f" {n} linked incident{'s' if n != 1 else ''} resolved."
        messages.success(request, message)
    return _back(problem)


@require_POST
@login_required
def problem_link_incidents(request: HttpRequest, problem_id: int) -> HttpResponse:
    problem = _problem_in_org(request, problem_id)
    form = LinkIncidentsForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return _back(problem)
    try:
        incidents = _incidents_by_reference(
            request, request.organization, split_words(form.cleaned_data["incidents"])
        )
        linked = actions.link_incidents(
            acting_user=request.user, problem=problem, incidents=incidents
        )
    except (FieldError, Conflict) as exc:
        _report(request, exc)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    else:
        if linked:
            messages.success(request, f"Linked {', '.join(i.number for i in linked)}.")
        else:
            messages.info(request, "Those incidents were already linked.")
    return _back(problem)


@require_POST
@login_required
def problem_unlink_incident(
    request: HttpRequest, problem_id: int, incident_id: int
) -> HttpResponse:
    problem = _problem_in_org(request, problem_id)
    incident = (
        Incident.objects.restrict(request.user, Action.VIEW)
        .filter(pk=incident_id, problem_id=problem.pk)
        .first()
    )
    if incident is None:
        raise Http404("No linked incident matches the given id.")
    try:
        actions.unlink_incident(acting_user=request.user, problem=problem, incident=incident)
    except (FieldError, Conflict) as exc:
        _report(request, exc)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    else:
        messages.success(request, f"{incident.number} unlinked.")
    return _back(problem)


@require_POST
@login_required
def problem_known_error(request: HttpRequest, problem_id: int) -> HttpResponse:
    problem = _problem_in_org(request, problem_id)
    form = KnownErrorFromProblemForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return _back(problem)
    data = form.cleaned_data
    try:
        known_error = actions.create_known_error_from_problem(
            acting_user=request.user,
            problem=problem,
            title=data["title"],
            symptoms=data["symptoms"],
            state=KnownErrorState.DRAFT if data["draft"] else KnownErrorState.PUBLISHED,
        )
    except (FieldError, Conflict) as exc:
        _report(request, exc)
        return _back(problem)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    messages.success(request, f"{known_error.number} created from {problem.number}.")
    return HttpResponseRedirect(reverse("problems-ke-detail", args=[known_error.pk]))


# --- known errors --------------------------------------------------------------------------


@login_required
def known_error_list(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    state = request.GET.get("state", "published")
    state = state if state in KnownErrorState.values or state == "" else "published"
    q = (request.GET.get("q") or "").strip()[:200]
    qs = selectors.known_errors(
        request.user, organization=org.pk, state=state or None, q=q or None
    ).prefetch_related("cis")
    page = Paginator(qs.select_related("problem"), PAGE_SIZE).get_page(request.GET.get("page"))
    querystring = request.GET.copy()
    querystring.pop("page", None)
    return render(
        request,
        "problems/known_error_list.html",
        {
            "page": page,
            "state": state,
            "q": q,
            "states": KnownErrorState.choices,
            "querystring": querystring.urlencode(),
            "can_add": _can(request, KnownError, Action.ADD),
            "tab": "known_errors",
        },
    )


@login_required
def known_error_new(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    if not _can(request, KnownError, Action.ADD):
        raise DjangoPermissionDenied("You may not add known errors here.")
    form = KnownErrorCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            known_error = actions.create_known_error(
                acting_user=request.user,
                organization=org,
                title=data["title"],
                symptoms=data["symptoms"],
                root_cause=data["root_cause"],
                workaround=data["workaround"],
                state=KnownErrorState.DRAFT if data["draft"] else KnownErrorState.PUBLISHED,
                cis=_cis_by_name(request, org, split_words(data["cis"])),
            )
        except (FieldError, Conflict) as exc:
            items = (
                {exc.field or "__all__": exc.detail} if isinstance(exc, Conflict) else exc.errors
            )
            for field, message in items.items():
                name = "cis" if field == "ci_ids" else field
                form.add_error(name if name in form.fields else None, message)
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.detail) from exc
        else:
            messages.success(request, f"{known_error.number} created.")
            return HttpResponseRedirect(reverse("problems-ke-detail", args=[known_error.pk]))
    status = 422 if request.method == "POST" else 200
    return render(
        request,
        "problems/known_error_new.html",
        {"form": form, "tab": "known_errors"},
        status=status,
    )


@login_required
def known_error_detail(request: HttpRequest, known_error_id: int) -> HttpResponse:
    known_error = _known_error_in_org(request, known_error_id)
    cis = list(known_error.cis.select_related("ci_class").order_by("name"))
    form = KnownErrorForm(
        initial={
            "title": known_error.title,
            "symptoms": known_error.symptoms,
            "root_cause": known_error.root_cause,
            "workaround": known_error.workaround,
            "cis": ", ".join(ci.name for ci in cis),
        }
    )
    incidents = (
        Incident.objects.restrict(request.user, Action.VIEW)
        .filter(known_error_id=known_error.pk)
        .order_by("-opened_at")[:50]
    )
    can_change = _can(request, KnownError, Action.CHANGE)
    return render(
        request,
        "problems/known_error_detail.html",
        {
            "ke": known_error,
            "cis": cis,
            "form": form,
            "incidents": list(incidents),
            "entries": list(timeline.timeline(request.user, known_error)),
            "transitions": KNOWN_ERROR.available(known_error.state) if can_change else [],
            "can_change": can_change and known_error.state not in KNOWN_ERROR.final,
            "tab": "known_errors",
        },
    )


def _ke_back(known_error: KnownError) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("problems-ke-detail", args=[known_error.pk]))


@require_POST
@login_required
def known_error_edit(request: HttpRequest, known_error_id: int) -> HttpResponse:
    known_error = _known_error_in_org(request, known_error_id)
    form = KnownErrorForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return _ke_back(known_error)
    data = dict(form.cleaned_data)
    try:
        data["cis"] = _cis_by_name(request, request.organization, split_words(data["cis"]))
        actions.update_known_error(acting_user=request.user, known_error=known_error, **data)
    except (FieldError, Conflict) as exc:
        _report(request, exc)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    else:
        messages.success(request, f"{known_error.number} saved.")
    return _ke_back(known_error)


@require_POST
@login_required
def known_error_transition(
    request: HttpRequest, known_error_id: int, transition: str
) -> HttpResponse:
    known_error = _known_error_in_org(request, known_error_id)
    try:
        actions.transition_known_error(
            acting_user=request.user,
            known_error=known_error,
            transition=transition,
            reason=(request.POST.get("reason") or "")[:5000],
        )
    except (FieldError, Conflict) as exc:
        _report(request, exc)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    else:
        messages.success(
            request, f"{known_error.number} is now {KNOWN_ERROR.label(known_error.state).lower()}."
        )
    return _ke_back(known_error)


# --- the incident page's panel -------------------------------------------------------------


@require_POST
@login_required
def incident_link_known_error(request: HttpRequest, incident_id: int) -> HttpResponse:
    """The "Link" button of the known-error panel: link (or unlink) and go back to the
    incident page."""
    org = _org(request)
    incident = (
        Incident.objects.restrict(request.user, Action.VIEW)
        .filter(pk=incident_id, organization_id=org.pk)
        .first()
    )
    if incident is None:
        raise Http404("No incident matches the given id.")
    back = HttpResponseRedirect(f"/desk/incidents/{incident.pk}/")
    form = LinkKnownErrorForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return back
    known_error = (
        KnownError.objects.restrict(request.user, Action.VIEW)
        .filter(pk=form.cleaned_data["known_error"], organization_id=org.pk)
        .first()
    )
    if known_error is None:
        raise Http404("No known error matches the given id.")
    unlink = form.cleaned_data["unlink"]
    try:
        actions.link_known_error(
            acting_user=request.user, incident=incident, known_error=known_error, unlink=unlink
        )
    except (FieldError, Conflict) as exc:
        _report(request, exc)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    else:
        verb = "unlinked from" if unlink else "linked to"
        messages.success(request, f"{known_error.number} {verb} {incident.number}.")
    return back


urlpatterns = [
    path("", problem_list, name="problems-list"),
    path("new/", problem_new, name="problems-new"),
    path("<int:problem_id>/", problem_detail, name="problems-detail"),
    path("<int:problem_id>/edit/", problem_edit, name="problems-edit"),
    path(
        "<int:problem_id>/transitions/<slug:transition>/",
        problem_transition,
        name="problems-transition",
    ),
    path("<int:problem_id>/incidents/", problem_link_incidents, name="problems-link-incidents"),
    path(
        "<int:problem_id>/incidents/<int:incident_id>/unlink/",
        problem_unlink_incident,
        name="problems-unlink-incident",
    ),
    path("<int:problem_id>/known-error/", problem_known_error, name="problems-known-error"),
    path("known-errors/", known_error_list, name="problems-ke-list"),
    path("known-errors/new/", known_error_new, name="problems-ke-new"),
    path("known-errors/<int:known_error_id>/", known_error_detail, name="problems-ke-detail"),
    path("known-errors/<int:known_error_id>/edit/", known_error_edit, name="problems-ke-edit"),
    path(
        "known-errors/<int:known_error_id>/transitions/<slug:transition>/",
        known_error_transition,
        name="problems-ke-transition",
    ),
    path(
        "incidents/<int:incident_id>/known-error/",
        incident_link_known_error,
        name="problems-incident-link-ke",
    ),
]
