"""Pages of the part "after the change": open post-implementation reviews, the change metrics
(success rate and change-induced incident rate, with SVG charts), and the posts of the review
form and of the "Possibly caused by a change" panel (confirm, dismiss, link by hand).

Posts answer htmx with the re-rendered panel or section; without JavaScript they redirect
back to the page they came from (``next``, checked to stay on this site).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from opsdesk.changes import induced, metrics, reviews
from opsdesk.changes.charts_induced import rate_bars, rate_trend
from opsdesk.changes.induced import change_url
from opsdesk.changes.models import Change, InducedLink, PostImplementationReview
from opsdesk.changes.views import change_in_page
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.pages import object_in_organization, page_organization
from opsdesk.core.selectors import access
from opsdesk.servicedesk.models import Incident

GROUP_LABELS = {"service": "Service", "team": "Team", "month": "Month", "type": "Change type"}


def incident_url(incident: Incident) -> str:
    return reverse("desk-incident", args=[incident.pk])


def _partial(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def _next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _messages_of(exc: FieldError | Conflict) -> list[str]:
    items = {exc.field or "": exc.detail} if isinstance(exc, Conflict) else exc.errors
    out = []
    for field, message in items.items():
        label = field.replace("_id", "").replace("_", " ")
        out.append(f"{label}: {message}" if label and label != "__all__" else message)
    return out


def _link_in_org(request: HttpRequest, link_id: int) -> InducedLink:
    org = page_organization(request, InducedLink, "Change-induced incidents are not your role's.")
    return object_in_organization(
        lambda: access(induced.links(request.user), link_id, "induced-incident link"),
        org,
        "induced-incident link",
    )


# --- open reviews ----------------------------------------------------------------------------


@login_required
def review_list(request: HttpRequest) -> HttpResponse:
    org = page_organization(
        request, PostImplementationReview, "Post-implementation reviews are not your role's."
    )
    rows = [
        {
            "review": r,
            "change": r.change,
            "url": change_url(r.change),
            "reason": reviews.required_reason(r.change) or "Optional review",
            "required": reviews.review_required(r.change),
        }
        for r in reviews.open_reviews(request.user, org.pk)
    ]
    recent = reviews.reviews(request.user).filter(organization_id=org.pk, state="completed")
    return render(
        request,
        "changes/reviews/list.html",
        {
            "org": org,
            "rows": rows,
            "recent": [
                {"review": r, "change": r.change, "url": change_url(r.change)}
                for r in recent.order_by("-completed_at")[:10]
            ],
        },
    )


# --- the review form (change page section) --------------------------------------------------


class ReviewForm(forms.Form):
    summary = forms.CharField(required=False, max_length=reviews.MAX_TEXT)
    what_went_well = forms.CharField(required=False, max_length=reviews.MAX_TEXT)
    what_went_wrong = forms.CharField(required=False, max_length=reviews.MAX_TEXT)
    root_cause = forms.CharField(required=False, max_length=reviews.MAX_TEXT)
    lessons = forms.CharField(required=False, max_length=reviews.MAX_TEXT)
    follow_up = forms.CharField(required=False, max_length=reviews.MAX_TEXT)


def _section_response(
    request: HttpRequest, change: Change, provider: Any, back: str, errors: list[str], ok: str
) -> HttpResponse:
    if _partial(request):
        change.refresh_from_db()
        section = provider(request.user, change)
        if section is None:
            return HttpResponse("")
        html = render_to_string(
            section.template, {**section.context, "errors": errors, "notice": ok}, request
        )
        return HttpResponse(html)
    for message in errors:
        messages.error(request, message)
    if ok and not errors:
        messages.success(request, ok)
    return HttpResponseRedirect(back)


@require_POST
@login_required
def review_start(request: HttpRequest, change_id: int) -> HttpResponse:
    change = change_in_page(request, change_id)
    errors: list[str] = []
    try:
        reviews.start_review(acting_user=request.user, change=change)
    except (FieldError, Conflict) as exc:
        errors = _messages_of(exc)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    back = _next(request, change_url(change))
    return _section_response(
        request, change, reviews.review_section, back, errors, "Review started."
    )


@require_POST
@login_required
def review_save(request: HttpRequest, change_id: int) -> HttpResponse:
    """Save the form; with ``complete`` in the post, save then complete."""
    change = change_in_page(request, change_id)
    back = _next(request, change_url(change))
    review = reviews.review_of(request.user, change)
    if review is None:
        raise Http404(f"{change.number} has no post-implementation review.")
    form = ReviewForm(request.POST)
    errors: list[str] = []
    ok = "Review saved."
    if not form.is_valid():
        errors = [f"{f}: {' '.join(e)}" for f, e in form.errors.items()]
    else:
        fields = {k: v for k, v in form.cleaned_data.items() if k in request.POST}
        try:
            reviews.update_review(acting_user=request.user, review=review, **fields)
            if "complete" in request.POST:
                reviews.complete_review(acting_user=request.user, review=review)
                ok = "Review completed."
        except (FieldError, Conflict) as exc:
            errors = _messages_of(exc)
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.detail) from exc
    return _section_response(request, change, reviews.review_section, back, errors, ok)


# --- the incident panel and the change section: confirm, dismiss, link -----------------------


class DismissForm(forms.Form):
    reason = forms.CharField(max_length=induced.REASON_LIMIT)


class LinkForm(forms.Form):
    incident = forms.CharField(max_length=40, help_text="Number (INC0001042) or id")


def _panel_response(
    request: HttpRequest, link: InducedLink, errors: list[str], ok: str
) -> HttpResponse:
    """htmx: the panel (or section) the button was in, re-rendered; else back."""
    where = request.POST.get("from") or "incident"
    if _partial(request):
        if where == "change" and link.change_id:
            section = induced.induced_section(request.user, link.change)
            if section is None:
                return HttpResponse("")
            template, context = section.template, section.context
        else:
            incident = Incident.objects.select_related("ci", "service").get(pk=link.incident_id)
            template = "changes/induced/panel.html"
            context = induced.panel_context(request.user, incident)
        return HttpResponse(
            render_to_string(template, {**context, "errors": errors, "notice": ok}, request)
        )
    for message in errors:
        messages.error(request, message)
    if ok and not errors:
        messages.success(request, ok)
    return HttpResponseRedirect(_next(request, incident_url(link.incident)))


@require_POST
@login_required
def induced_confirm(request: HttpRequest, link_id: int) -> HttpResponse:
    link = _link_in_org(request, link_id)
    errors: list[str] = []
    try:
        induced.confirm_induced(acting_user=request.user, link=link)
    except (FieldError, Conflict) as exc:
        errors = _messages_of(exc)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    cause = link.change.number if link.change_id else "The deployment"
    return _panel_response(
        request, link, errors, f"{cause} confirmed as the cause of {link.incident.number}."
    )


@require_POST
@login_required
def induced_dismiss(request: HttpRequest, link_id: int) -> HttpResponse:
    link = _link_in_org(request, link_id)
    form = DismissForm(request.POST)
    errors: list[str] = []
    if not form.is_valid():
        errors = ["reason: Say why the change did not cause this incident."]
    else:
        try:
            induced.dismiss_induced(
                acting_user=request.user, link=link, reason=form.cleaned_data["reason"]
            )
        except (FieldError, Conflict) as exc:
            errors = _messages_of(exc)
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.detail) from exc
    return _panel_response(request, link, errors, "Suggestion dismissed.")


@require_POST
@login_required
def induced_link(request: HttpRequest, change_id: int) -> HttpResponse:
    """The "Link an incident" form of the change page's section."""
    change = change_in_page(request, change_id)
    back = _next(request, change_url(change))
    form = LinkForm(request.POST)
    errors: list[str] = []
    ok = ""
    if not form.is_valid():
        errors = ["incident: Give the incident's number."]
    else:
        ref = form.cleaned_data["incident"].strip().upper()
        query = Q(number=ref) | (Q(pk=int(ref)) if ref.isdigit() and len(ref) < 18 else Q())
        incident = (
            Incident.objects.restrict(request.user)
            .filter(organization_id=change.organization_id)
            .filter(query)
            .first()
        )
        if incident is None:
            errors = [f"incident: No incident {ref} in this organisation."]
        else:
            try:
                induced.link_induced(acting_user=request.user, incident=incident, change=change)
                ok = f"{incident.number} linked as caused by {change.number}."
            except (FieldError, Conflict) as exc:
                errors = _messages_of(exc)
            except PermissionDenied as exc:
                raise DjangoPermissionDenied(exc.detail) from exc
    return _section_response(request, change, induced.induced_section, back, errors, ok)


# --- metrics ---------------------------------------------------------------------------------


class MetricsForm(forms.Form):
    by = forms.ChoiceField(choices=list(GROUP_LABELS.items()), required=False)
    start = forms.DateField(required=False)
    end = forms.DateField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            self.add_error("end", "The last day must not be before the first.")
        elif start and end and (end - start).days > 3 * 366:
            self.add_error("end", "At most three years at a time.")
        return data


@login_required
def metrics_page(request: HttpRequest) -> HttpResponse:
    org = page_organization(request, Change, "Changes are not part of your role.")
    zone = org.time_zone or "UTC"
    form = MetricsForm(request.GET or None)
    first, last = metrics.default_period(zone)
    by = "service"
    start: date = first
    end: date = last
    if form.is_bound and form.is_valid():
        by = form.cleaned_data.get("by") or "service"
        start = form.cleaned_data.get("start") or first
        end = form.cleaned_data.get("end") or last
    grouped = metrics.change_metrics(org.pk, start, end, by, zone)
    trend = grouped if by == "month" else metrics.change_metrics(org.pk, start, end, "month", zone)
    label = GROUP_LABELS[by]
    return render(
        request,
        "changes/reviews/metrics.html",
        {
            "org": org,
            "form": form,
            "by": by,
            "by_label": label,
            "groups": GROUP_LABELS.items(),
            "start": start,
            "end": end,
            "result": grouped,
            "trend": trend,
            "trend_chart": rate_trend(
                trend.rows, title="Change success rate and change-induced incident rate by month"
            ),
            "success_chart": rate_bars(
                grouped.rows, "success", title=f"Change success rate by {label.lower()}"
            ),
            "induced_chart": rate_bars(
                grouped.rows, "induced", title=f"Change-induced incident rate by {label.lower()}"
            ),
        },
    )
