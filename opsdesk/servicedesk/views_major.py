"""Pages of major incidents: the list, and one major incident with its manager, children,
communications log and post-incident review. Writes go through `opsdesk.servicedesk.major`
(the same actions as the API); the general incident page is `/desk/incidents/<pk>/`."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from opsdesk.accounts.models import User
from opsdesk.core.errors import Conflict, FieldError, NotFound, PermissionDenied
from opsdesk.core.permissions import Action, has_permission
from opsdesk.servicedesk import actions, major, selectors
from opsdesk.servicedesk.choices import (
    OPEN_STATES,
    CommunicationAudience,
    ReviewActionState,
    ReviewState,
)
from opsdesk.servicedesk.models import (
    CommunicationUpdate,
    Incident,
    PostIncidentReview,
    ReviewAction,
)

PAGE_SIZE = 50


# --- forms ---------------------------------------------------------------------------------


class DeclareForm(forms.Form):
    manager = forms.ModelChoiceField(queryset=User.objects.none(), required=False, label="Manager")
    reason = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, people: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["manager"].queryset = people if people is not None else User.objects.none()
        self.fields["manager"].empty_label = "— nobody yet —"


class ChildForm(forms.Form):
    number = forms.CharField(
        max_length=20,
        label="Incident number",
        widget=forms.TextInput(attrs={"placeholder": "INC0000042"}),
    )


class CommunicationForm(forms.Form):
    audience = forms.ChoiceField(choices=CommunicationAudience.choices)
    channel = forms.CharField(max_length=40, initial="email")
    body = forms.CharField(
        max_length=20_000, label="Update", widget=forms.Textarea(attrs={"rows": 3})
    )


class ReviewForm(forms.Form):
    state = forms.ChoiceField(choices=ReviewState.choices)
    facilitator = forms.ModelChoiceField(queryset=User.objects.none(), required=False)
    held_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    summary = forms.CharField(
        required=False, max_length=20_000, widget=forms.Textarea(attrs={"rows": 3})
    )
    customer_impact = forms.CharField(
        required=False, max_length=20_000, widget=forms.Textarea(attrs={"rows": 2})
    )
    root_cause = forms.CharField(
        required=False, max_length=20_000, widget=forms.Textarea(attrs={"rows": 2})
    )
    went_well = forms.CharField(
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="What went well",
    )
    went_badly = forms.CharField(
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="What went badly",
    )

    def __init__(self, *args: Any, people: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["facilitator"].queryset = people if people is not None else User.objects.none()


class ReviewActionForm(forms.Form):
    description = forms.CharField(max_length=500, label="Action")
    owner = forms.ModelChoiceField(queryset=User.objects.none(), required=False)
    due_on = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Due"
    )

    def __init__(self, *args: Any, people: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = people if people is not None else User.objects.none()


def _apply_error(form: forms.Form, exc: Exception) -> None:
    """An action's refusal on the form, on the field it names when the form has it."""
    if isinstance(exc, FieldError):
        for name, message in exc.errors.items():
            field = name.removesuffix("_id")
            form.add_error(field if field in form.fields else None, message)
    else:
        form.add_error(None, getattr(exc, "detail", str(exc)))


# --- access --------------------------------------------------------------------------------


def _org(request: HttpRequest) -> Any:
    org = request.organization
    if org is None:
        raise Http404("Choose an organisation first.")
    return org


def major_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login, an organisation, and a role that works the desk (requesters use the portal)."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        org = _org(request)
        if actions.is_requester_only(request.user, org.pk) or not has_permission(
            request.user, Incident, Action.VIEW, org.pk
        ):
            raise DjangoPermissionDenied("Major incidents are run by the service desk.")
        return view(request, *args, **kwargs)

    return wrapper


def _incident(request: HttpRequest, pk: int) -> Incident:
    org = _org(request)
    try:
        incident = selectors.access_incident(request.user, pk)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    if incident.organization_id != org.pk:
        raise Http404("No incident matches the given id.")
    return incident


def _people(org: Any) -> Any:
    return User.objects.filter(memberships__organization=org, is_active=True).order_by(
        "full_name", "email"
    )


def _agents(org: Any) -> Any:
    return _people(org).filter(memberships__role__in=["agent", "manager", "admin"]).distinct()


# --- list ----------------------------------------------------------------------------------


@major_view
def major_list(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    show = request.GET.get("show", "open")
    qs = (
        selectors.list_related(Incident.objects.restrict(request.user))
        .select_related("major_manager")
        .filter(organization=org, is_major=True)
        .annotate(
            child_count=Count("children", distinct=True),
            open_children=Count(
                "children", filter=Q(children__state__in=OPEN_STATES), distinct=True
            ),
        )
        .order_by("-major_declared_at", "-id")
    )
    if show == "open":
        qs = qs.filter(state__in=OPEN_STATES)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "servicedesk/major/list.html",
        {"page": page, "show": show, "querystring": f"show={'open' if show == 'open' else 'all'}"},
    )


# --- one major incident --------------------------------------------------------------------


def _page(
    request: HttpRequest, incident: Incident, status: int = 200, **forms_: Any
) -> HttpResponse:
    org = _org(request)
    can_change = has_permission(request.user, Incident, Action.CHANGE, org.pk)
    review = (
        PostIncidentReview.objects.restrict(request.user)
        .select_related("facilitator")
        .filter(incident=incident)
        .first()
    )
    review_actions = (
        list(ReviewAction.objects.filter(review=review).select_related("owner")) if review else []
    )
    people = _people(org)
    context = {
        "incident": incident,
        "can_change": can_change,
        "children": list(
            selectors.list_related(
                Incident.objects.restrict(request.user).filter(parent=incident)
            ).order_by("state", "-opened_at")
        ),
        "communications": list(
            CommunicationUpdate.objects.restrict(request.user)
            .filter(incident=incident)
            .select_related("sent_by")
            .order_by("-sent_at", "-id")
        ),
        "review": review,
        "review_actions": review_actions,
        "review_next": [
            major.REVIEW.label(s).lower()
            for s in (major.REVIEW.targets(review.state) if review else [ReviewState.DRAFT])
        ],
        "action_states": ReviewActionState.choices,
        "declare_form": forms_.get("declare_form")
        or DeclareForm(people=_agents(org), initial={"manager": incident.major_manager_id}),
        "child_form": forms_.get("child_form") or ChildForm(),
        "communication_form": forms_.get("communication_form") or CommunicationForm(),
        "review_form": forms_.get("review_form")
        or ReviewForm(
            people=people,
            initial={
                "state": review.state if review else ReviewState.DRAFT,
                **(
                    {
                        "facilitator": review.facilitator_id,
                        **{
                            f: getattr(review, f) for f in major.REVIEW_FIELDS if f != "facilitator"
                        },
                    }
                    if review
                    else {}
                ),
            },
        ),
        "action_form": forms_.get("action_form") or ReviewActionForm(people=people),
        "incident_url": reverse("desk-incident", args=[incident.pk]),
    }
    return render(request, "servicedesk/major/detail.html", context, status=status)


@major_view
def major_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _page(request, _incident(request, pk))


def _done(request: HttpRequest, incident: Incident, message: str, anchor: str = "") -> HttpResponse:
    messages.success(request, message)
    url = reverse("desk-major", args=[incident.pk])
    return HttpResponseRedirect(f"{url}#{anchor}" if anchor else url)


def _post(
    request: HttpRequest,
    pk: int,
    form_class: type[forms.Form],
    form_name: str,
    run: Callable[[Incident, dict[str, Any]], str],
    anchor: str,
    people: Callable[[Any], Any] | None = None,
) -> HttpResponse:
    incident = _incident(request, pk)
    kwargs = {"people": people(_org(request))} if people else {}
    form = form_class(request.POST, **kwargs)
    if form.is_valid():
        try:
            message = run(incident, form.cleaned_data)
        except (FieldError, Conflict) as exc:
            _apply_error(form, exc)
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.detail) from exc
        else:
            return _done(request, incident, message, anchor)
        incident = _incident(request, pk)
    return _page(request, incident, status=422, **{form_name: form})


@require_POST
@major_view
def major_declare(request: HttpRequest, pk: int) -> HttpResponse:
    def run(incident: Incident, data: dict[str, Any]) -> str:
        was_major = incident.is_major
        major.declare_major(
            acting_user=request.user,
            incident=incident,
            manager=data["manager"],
            reason=data["reason"],
        )
        return "Manager changed." if was_major else f"{incident.number} is a major incident."

    return _post(request, pk, DeclareForm, "declare_form", run, "manager", _agents)


@require_POST
@major_view
def major_attach(request: HttpRequest, pk: int) -> HttpResponse:
    def run(incident: Incident, data: dict[str, Any]) -> str:
        number = data["number"].strip().upper()
        child = (
            Incident.objects.restrict(request.user)
            .filter(organization_id=incident.organization_id, number=number)
            .first()
        )
        if child is None:
            raise FieldError({"number": f"No incident {number} here."})
        try:
            major.attach_child(acting_user=request.user, parent=incident, child=child)
        except FieldError as exc:
            raise FieldError({"number": " ".join(exc.errors.values())}) from exc
        return f"{child.number} attached."

    return _post(request, pk, ChildForm, "child_form", run, "children")


@require_POST
@major_view
def major_detach(request: HttpRequest, pk: int, child_id: int) -> HttpResponse:
    incident = _incident(request, pk)
    child = Incident.objects.restrict(request.user).filter(pk=child_id, parent=incident).first()
    if child is None:
        raise Http404("No child of this incident matches the given id.")
    try:
        major.detach_child(acting_user=request.user, parent=incident, child=child)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    return _done(request, incident, f"{child.number} detached.", "children")


@require_POST
@major_view
def major_communicate(request: HttpRequest, pk: int) -> HttpResponse:
    def run(incident: Incident, data: dict[str, Any]) -> str:
        major.add_communication(acting_user=request.user, incident=incident, **data)
        return "Update logged."

    return _post(request, pk, CommunicationForm, "communication_form", run, "communications")


@require_POST
@major_view
def major_review(request: HttpRequest, pk: int) -> HttpResponse:
    def run(incident: Incident, data: dict[str, Any]) -> str:
        state = data.pop("state")
        major.save_review(acting_user=request.user, incident=incident, state=state, **data)
        return "Review saved."

    return _post(request, pk, ReviewForm, "review_form", run, "review", _people)


@require_POST
@major_view
def major_review_action(request: HttpRequest, pk: int) -> HttpResponse:
    def run(incident: Incident, data: dict[str, Any]) -> str:
        review = PostIncidentReview.objects.filter(incident=incident).first()
        if review is None:
            review = major.save_review(acting_user=request.user, incident=incident)
        major.add_review_action(acting_user=request.user, review=review, **data)
        return "Action added."

    return _post(request, pk, ReviewActionForm, "action_form", run, "review", _people)


@require_POST
@major_view
def major_review_action_state(request: HttpRequest, pk: int, action_id: int) -> HttpResponse:
    incident = _incident(request, pk)
    item = ReviewAction.objects.filter(pk=action_id, review__incident=incident).first()
    if item is None:
        raise Http404("No action of this review matches the given id.")
    state = request.POST.get("state", "")
    try:
        major.update_review_action(acting_user=request.user, action=item, state=state)
    except (FieldError, Conflict) as exc:
        messages.error(request, getattr(exc, "detail", str(exc)))
        return HttpResponseRedirect(reverse("desk-major", args=[incident.pk]) + "#review")
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    return _done(request, incident, f"Action marked {item.get_state_display().lower()}.", "review")


urlpatterns = [
    path("major/", major_list, name="desk-major-list"),
    path("major/<int:pk>/", major_detail, name="desk-major"),
    path("major/<int:pk>/declare/", major_declare, name="desk-major-declare"),
    path("major/<int:pk>/children/", major_attach, name="desk-major-attach"),
    path("major/<int:pk>/children/<int:child_id>/detach/", major_detach, name="desk-major-detach"),
    path("major/<int:pk>/communications/", major_communicate, name="desk-major-communicate"),
    path("major/<int:pk>/review/", major_review, name="desk-major-review"),
    path("major/<int:pk>/review/actions/", major_review_action, name="desk-major-review-action"),
    path(
        "major/<int:pk>/review/actions/<int:action_id>/",
        major_review_action_state,
        name="desk-major-review-action-state",
    ),
]
