"""Pages of approvals and the CAB, mounted at /changes/cab/:

* ``/changes/cab/`` meetings (coming and past) and "my approvals", the queue of what waits
  for the signed-in person's decision, with a form to plan a meeting;
* ``/changes/cab/<id>/`` one meeting: its agenda (risk class, conflicts, planned window of
  each change), the decision buttons for the chair and members while it is in progress,
  and the minutes;
* ``/changes/cab/policies/`` the approval-policy editor (managers and admins write, the
  other roles that work changes read);
* the approve / reject buttons of the change page's Approvals section post to
  ``/changes/cab/approvals/<id>/approve|reject`` and come back to the page they came from.

Views check the shape of input and call `opsdesk.changes.cab`, `.approvals` and
`.approval_policies`, like the API.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from opsdesk.accounts.models import Team, User
from opsdesk.changes import approval_policies as policies
from opsdesk.changes import approvals as engine
from opsdesk.changes import cab
from opsdesk.changes.choices import CabState
from opsdesk.changes.forms_cab import (
    CommentForm,
    DecisionForm,
    MeetingForm,
    NotesForm,
    PolicyForm,
    StepForm,
)
from opsdesk.changes.models import ApprovalPolicy, ApprovalStep, CabMeeting, Change
from opsdesk.core.errors import Conflict, FieldError, NotFound, PermissionDenied
from opsdesk.core.pages import object_in_organization, page_organization
from opsdesk.core.permissions import Action, has_permission

#: Meetings listed as past on the CAB page.
PAST_MEETINGS = 20


def change_url(change: Change) -> str:
    """The change page (owned by the changes part), whatever its URL name."""
    for name in ("changes-detail", "change-detail", "changes-change"):
        try:
            return reverse(name, args=[change.pk])
        except NoReverseMatch:
            continue
    return f"/changes/{change.pk}/"


def _org(request: HttpRequest, model: type = CabMeeting) -> Any:
    return page_organization(request, model, "Change approvals are not part of your role.")


def _can(request: HttpRequest, model: type, action: str) -> bool:
    org = request.organization  # type: ignore[attr-defined]
    return org is not None and has_permission(request.user, model, action, org.pk)


def _people(org: Any) -> Any:
    return (
        User.objects.filter(
            memberships__organization_id=org.pk,
            memberships__role__in=("agent", "manager", "admin"),
            is_active=True,
        )
        .distinct()
        .order_by("full_name", "email")
    )


def _report(request: HttpRequest, exc: FieldError | Conflict) -> None:
    items = {exc.field or "": exc.detail} if isinstance(exc, Conflict) else exc.errors
    for field, message in items.items():
        label = field.removesuffix("_id").replace("_", " ").replace("__all__", "")
        messages.error(request, f"{label}: {message}" if label else message)


def _form_errors(request: HttpRequest, form: Any) -> None:
    for field, errors in form.errors.items():
        text = " ".join(errors)
        messages.error(request, text if field == "__all__" else f"{field}: {text}")


def _next(request: HttpRequest, fallback: str) -> HttpResponseRedirect:
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = fallback
    return HttpResponseRedirect(target or fallback)


def _run(request: HttpRequest, call: Any, success: str) -> bool:
    try:
        call()
    except (FieldError, Conflict) as exc:
        _report(request, exc)
        return False
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    messages.success(request, success)
    return True


# --- /changes/cab/ ----------------------------------------------------------------------------


@login_required
def cab_home(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    mine = list(
        engine.awaiting(request.user)
        .filter(organization_id=org.pk)
        .select_related("change", "change__assignment_group")
    )
    qs = cab.meetings(request.user).filter(organization_id=org.pk)
    now = timezone.now()
    coming = list(qs.filter(state__in=cab.OPEN_MEETING_STATES).order_by("starts_at", "id"))
    past = list(
        qs.exclude(state__in=cab.OPEN_MEETING_STATES).order_by("-starts_at", "-id")[:PAST_MEETINGS]
    )
    waiting = len(cab.candidates(CabMeeting(organization_id=org.pk, kind="cab")))
    start = now.replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    form = MeetingForm(
        people=_people(org),
        initial={
            "starts_at": timezone.localtime(start).strftime("%Y-%m-%dT%H:%M"),
            "ends_at": timezone.localtime(start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "chair": request.user.pk,
        },
    )
    return render(
        request,
        "changes/cab/home.html",
        {
            "mine": mine,
            "coming": coming,
            "past": past,
            "waiting": waiting,
            "form": form,
            "can_plan": _can(request, CabMeeting, Action.ADD),
            "here": request.get_full_path(),
        },
    )


@require_POST
@login_required
def cab_meeting_new(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    form = MeetingForm(request.POST, people=_people(org))
    if not form.is_valid():
        _form_errors(request, form)
        return HttpResponseRedirect(reverse("cab-home"))
    data = form.cleaned_data
    made: list[CabMeeting] = []

    def create() -> None:
        made.append(
            cab.create_meeting(
                acting_user=request.user,
                organization=org,
                title=data["title"],
                kind=data["kind"],
                starts_at=data["starts_at"],
                ends_at=data["ends_at"],
                location=data["location"],
                chair=data["chair"],
                members=list(data["members"]),
            )
        )

    if _run(request, create, "Meeting planned."):
        return HttpResponseRedirect(reverse("cab-meeting", args=[made[0].pk]))
    return HttpResponseRedirect(reverse("cab-home"))


# --- /changes/cab/<id>/ -----------------------------------------------------------------------


def _meeting(request: HttpRequest, meeting_id: int) -> CabMeeting:
    return object_in_organization(
        lambda: cab.access_meeting(request.user, meeting_id), _org(request), "CAB meeting"
    )


@login_required
def cab_meeting(request: HttpRequest, meeting_id: int) -> HttpResponse:
    meeting = _meeting(request, meeting_id)
    panel = cab.is_panel(request.user, meeting)
    deciding = panel and meeting.state == CabState.IN_PROGRESS
    rows = []
    for item in cab.agenda(meeting):
        status = cab.item_status(item)
        change = item.change
        rows.append(
            {
                "item": item,
                "change": change,
                "url": change_url(change),
                "conflicts": len(change.conflicts or []),
                "risk": change.risk_class or "",
                "status": status,
                "can_decide": deciding
                and status["open"]
                and (item.decision in ("pending", "deferred")),
            }
        )
    minutes = cab.minutes(meeting)
    return render(
        request,
        "changes/cab/meeting.html",
        {
            "meeting": meeting,
            "members": list(meeting.members.order_by("full_name", "email")),
            "rows": rows,
            "minutes": [r for r in rows if r["item"].decision != "pending"],
            "counts": minutes["counts"],
            "panel": panel,
            "can_organise": cab.may_organise(request.user, meeting)
            and _can(request, CabMeeting, Action.CHANGE),
            "open": meeting.state in cab.OPEN_MEETING_STATES,
            "notes_form": NotesForm(initial={"notes": meeting.notes}),
        },
    )


def _back(meeting: CabMeeting) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("cab-meeting", args=[meeting.pk]))


@require_POST
@login_required
def cab_meeting_agenda(request: HttpRequest, meeting_id: int) -> HttpResponse:
    meeting = _meeting(request, meeting_id)
    include = request.POST.get("include_authorise") == "on"
    added: list[Any] = []

    def build() -> None:
        added.extend(
            cab.build_agenda(acting_user=request.user, meeting=meeting, include_authorise=include)
        )

    try:
        build()
    except (FieldError, Conflict) as exc:
        _report(request, exc)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    else:
        n = len(added)
        messages.success(
            request,
            f"{n} change{'s' if n != 1 else ''} added to the agenda."
            if n
            else "Nothing new awaits the board.",
        )
    return _back(meeting)


MOVES = {
    "start": (cab.start_meeting, "Meeting started."),
    "complete": (cab.complete_meeting, "Meeting completed; the minutes are kept below."),
    "cancel": (cab.cancel_meeting, "Meeting cancelled."),
}


@require_POST
@login_required
def cab_meeting_move(request: HttpRequest, meeting_id: int, move: str) -> HttpResponse:
    meeting = _meeting(request, meeting_id)
    if move not in MOVES:
        raise Http404("Unknown meeting action.")
    action, success = MOVES[move]
    _run(request, lambda: action(acting_user=request.user, meeting=meeting), success)
    return _back(meeting)


@require_POST
@login_required
def cab_meeting_notes(request: HttpRequest, meeting_id: int) -> HttpResponse:
    meeting = _meeting(request, meeting_id)
    form = NotesForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return _back(meeting)
    _run(
        request,
        lambda: cab.update_meeting(
            acting_user=request.user, meeting=meeting, notes=form.cleaned_data["notes"]
        ),
        "Notes saved.",
    )
    return _back(meeting)


@require_POST
@login_required
def cab_item_decision(request: HttpRequest, meeting_id: int, item_id: int) -> HttpResponse:
    meeting = _meeting(request, meeting_id)
    try:
        item = cab.access_item(request.user, meeting, item_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    form = DecisionForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return _back(meeting)
    decision = form.cleaned_data["decision"]
    number = item.change.number
    _run(
        request,
        lambda: cab.record_decision(
            acting_user=request.user,
            item=item,
            decision=decision,
            notes=form.cleaned_data["notes"],
        ),
        f"{number}: {decision}.",
    )
    return _back(meeting)


# --- approve / reject (the change page's section, my approvals) -------------------------------


@require_POST
@login_required
def approval_decide(request: HttpRequest, approval_id: int, verdict: str) -> HttpResponse:
    _org(request)
    if verdict not in ("approve", "reject"):
        raise Http404("Unknown decision.")
    try:
        approval = engine.access_approval(request.user, approval_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    form = CommentForm(request.POST)
    fallback = change_url(approval.change)
    if not form.is_valid():
        _form_errors(request, form)
        return _next(request, fallback)
    comment = form.cleaned_data["comment"]
    number = approval.change.number
    if verdict == "approve":
        _run(
            request,
            lambda: engine.approve(acting_user=request.user, approval=approval, comment=comment),
            f"You approved {number}.",
        )
    else:
        _run(
            request,
            lambda: engine.reject(acting_user=request.user, approval=approval, comment=comment),
            f"You rejected {number}; it is back in New.",
        )
    return _next(request, fallback)


# --- /changes/cab/policies/ -------------------------------------------------------------------


def _teams(org: Any) -> Any:
    return Team.objects.filter(organization_id=org.pk).order_by("name")


def _policy(request: HttpRequest, policy_id: int) -> ApprovalPolicy:
    org = _org(request, ApprovalPolicy)
    found = (
        ApprovalPolicy.objects.restrict(request.user)
        .filter(organization_id=org.pk, pk=policy_id)
        .first()
    )
    if found is None:
        raise Http404("No approval policy matches the given id.")
    return found


@login_required
def policy_list(request: HttpRequest) -> HttpResponse:
    org = _org(request, ApprovalPolicy)
    found = list(
        ApprovalPolicy.objects.restrict(request.user)
        .filter(organization_id=org.pk)
        .prefetch_related("steps__team", "steps__users")
        .order_by("order", "name", "pk")
    )
    teams, people = _teams(org), _people(org)
    cards = [
        {
            "policy": p,
            "steps": [policies.step_from(s) for s in p.steps.all()],
            "step_ids": [s.pk for s in p.steps.all()],
            "form": PolicyForm(
                prefix=f"p{p.pk}",
                initial={
                    "name": p.name,
                    "order": p.order,
                    "change_types": p.change_types,
                    "risk_classes": p.risk_classes,
                    "is_active": p.is_active,
                },
            ),
            "step_form": StepForm(prefix=f"s{p.pk}", teams=teams, people=people),
        }
        for p in found
    ]
    for card in cards:
        card["rows"] = list(zip(card["step_ids"], card["steps"], strict=True))
    return render(
        request,
        "changes/approvals/policies.html",
        {
            "cards": cards,
            "can_edit": _can(request, ApprovalPolicy, Action.CHANGE),
            "new_form": PolicyForm(prefix="new"),
            "new_step": StepForm(prefix="newstep", teams=teams, people=people),
            "defaults": [
                ("Normal change", "the change manager (else the assignment group's manager)"),
                ("Emergency change", "the emergency CAB, decided in an ECAB meeting"),
            ],
        },
    )


@require_POST
@login_required
def policy_new(request: HttpRequest) -> HttpResponse:
    org = _org(request, ApprovalPolicy)
    form = PolicyForm(request.POST, prefix="new")
    step = StepForm(request.POST, prefix="newstep", teams=_teams(org), people=_people(org))
    if not (form.is_valid() and step.is_valid()):
        _form_errors(request, form)
        _form_errors(request, step)
        return HttpResponseRedirect(reverse("cab-policies"))
    data = form.cleaned_data
    _run(
        request,
        lambda: policies.create_policy(
            acting_user=request.user,
            organization=org,
            name=data["name"],
            order=data["order"],
            change_types=data["change_types"],
            risk_classes=data["risk_classes"],
            is_active=data["is_active"],
            steps=[step.step()],
        ),
        f"Policy {data['name']} added.",
    )
    return HttpResponseRedirect(reverse("cab-policies"))


@require_POST
@login_required
def policy_edit(request: HttpRequest, policy_id: int) -> HttpResponse:
    policy = _policy(request, policy_id)
    form = PolicyForm(request.POST, prefix=f"p{policy.pk}")
    if not form.is_valid():
        _form_errors(request, form)
        return HttpResponseRedirect(reverse("cab-policies"))
    _run(
        request,
        lambda: policies.update_policy(
            acting_user=request.user, policy=policy, **form.cleaned_data
        ),
        f"Policy {form.cleaned_data['name']} saved.",
    )
    return HttpResponseRedirect(reverse("cab-policies"))


@require_POST
@login_required
def policy_step_add(request: HttpRequest, policy_id: int) -> HttpResponse:
    policy = _policy(request, policy_id)
    org = request.organization  # type: ignore[attr-defined]
    form = StepForm(request.POST, prefix=f"s{policy.pk}", teams=_teams(org), people=_people(org))
    if not form.is_valid():
        _form_errors(request, form)
        return HttpResponseRedirect(reverse("cab-policies"))
    _run(
        request,
        lambda: policies.add_step(acting_user=request.user, policy=policy, **form.step()),
        f"Step added to {policy.name}.",
    )
    return HttpResponseRedirect(reverse("cab-policies"))


@require_POST
@login_required
def policy_step_remove(request: HttpRequest, policy_id: int, step_id: int) -> HttpResponse:
    policy = _policy(request, policy_id)
    step = ApprovalStep.objects.filter(policy=policy, pk=step_id).first()
    if step is None:
        raise Http404("No step of this policy matches the given id.")
    _run(
        request,
        lambda: policies.remove_step(acting_user=request.user, step=step),
        f"Step removed from {policy.name}.",
    )
    return HttpResponseRedirect(reverse("cab-policies"))


urlpatterns = [
    path("", cab_home, name="cab-home"),
    path("new/", cab_meeting_new, name="cab-meeting-new"),
    path("policies/", policy_list, name="cab-policies"),
    path("policies/new/", policy_new, name="cab-policy-new"),
    path("policies/<int:policy_id>/", policy_edit, name="cab-policy-edit"),
    path("policies/<int:policy_id>/steps/", policy_step_add, name="cab-policy-step-add"),
    path(
        "policies/<int:policy_id>/steps/<int:step_id>/remove/",
        policy_step_remove,
        name="cab-policy-step-remove",
    ),
    path("approvals/<int:approval_id>/<str:verdict>/", approval_decide, name="cab-approval-decide"),
    path("<int:meeting_id>/", cab_meeting, name="cab-meeting"),
    path("<int:meeting_id>/agenda/", cab_meeting_agenda, name="cab-meeting-agenda"),
    path("<int:meeting_id>/notes/", cab_meeting_notes, name="cab-meeting-notes"),
    path(
        "<int:meeting_id>/items/<int:item_id>/decision/",
        cab_item_decision,
        name="cab-item-decision",
    ),
    path("<int:meeting_id>/<str:move>/", cab_meeting_move, name="cab-meeting-move"),
]
