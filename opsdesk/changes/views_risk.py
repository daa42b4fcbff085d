"""Pages of change risk: the risk section of the change page (class, score, each factor with
its evidence and contribution, the questionnaire answered with htmx), the same explanation
on its own page, and the risk settings page where managers tune weights and thresholds with
a live preview of how recent changes would be classed.

Views check the shape of input and call `opsdesk.changes.risk`, like the API.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_POST

from opsdesk.changes import risk
from opsdesk.changes.choices import ChangeType, RiskClass
from opsdesk.changes.models import Change, RiskSettings
from opsdesk.changes.sections import Section
from opsdesk.changes.views import change_in_page
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.pages import page_organization
from opsdesk.core.permissions import Action, has_permission

#: How many recently assessed changes the settings preview re-classes.
PREVIEW_SAMPLE = 20


# --- the chart -----------------------------------------------------------------------------


def contribution_chart(
    factors: list[dict[str, Any]], *, title: str, width: int = 560
) -> SafeString:
    """Horizontal bars of each factor's contribution to the score (server-side SVG: the
    Content-Security-Policy allows no inline styles)."""
    row_h, label_w, gap = 24, 200, 6
    height = len(factors) * row_h + 8
    top = max([f["contribution"] for f in factors] or [0]) or 1
    plot_w = width - label_w - 56
    parts = [
        f'<svg class="chart risk-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, f in enumerate(factors):
        y = 4 + i * row_h
        w = plot_w * f["contribution"] / top
        level = "high" if f["score"] >= 0.66 else "mid" if f["score"] >= 0.33 else "low"
        parts.append(
            f'<text class="chart-tick" x="{label_w - 8}" y="{y + 15}" text-anchor="end">'
            f"{escape(f['label'])}</text>"
            f'<rect class="risk-bar risk-bar-{level}" x="{label_w}" y="{y + 3}" '
            f'width="{max(w, 0):.1f}" height="{row_h - gap}" rx="2"><title>'
            f"{escape(f['label'])}: {f['contribution']:g} points "
            f"(score {f['score']:g}, weight {f['weight']:g})</title></rect>"
            f'<text class="chart-value" x="{label_w + w + 6:.1f}" y="{y + 15}">'
            f"{f['contribution']:g}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


# --- the section ---------------------------------------------------------------------------


def _can_assess(user: Any, change: Change) -> bool:
    return change.state not in change.workflow.final and has_permission(
        user, Change, Action.CHANGE, change.organization_id
    )


def section_context(user: Any, change: Change, *, live: bool = False) -> dict[str, Any]:
    """What the risk section shows: the stored assessment, or a live estimate when the change
    was never assessed (or `live` is asked)."""
    stored = bool(change.risk_assessment.get("factors")) and not live
    result = change.risk_assessment if stored else risk.assess(change)
    config = risk.settings_for(change.organization_id)
    answers = change.risk_answers or {}
    questions = [
        {
            "key": q["key"],
            "question": q["question"],
            "answers": q["answers"],
            "chosen": answers.get(q["key"]),
        }
        for q in config.questionnaire
    ]
    return {
        "change": change,
        "risk": result,
        "stored": stored,
        "risk_class": result["class"],
        "chart": contribution_chart(
            result["factors"], title=f"Contributions to the risk score of {change.number}"
        ),
        "questions": questions,
        "can_assess": _can_assess(user, change),
        "standard": change.change_type == ChangeType.STANDARD,
        "computed_label": _label(result.get("computed_class") or result["class"]),
    }


def risk_section(user: Any, change: Change) -> Section | None:
    if not has_permission(user, Change, Action.VIEW, change.organization_id):
        return None
    return Section(
        title="Risk",
        template="changes/risk/_section.html",
        context=section_context(user, change),
        order=20,
        column="main",
    )


# --- a change's risk -----------------------------------------------------------------------


@login_required
def change_risk(request: HttpRequest, change_id: int) -> HttpResponse:
    change = change_in_page(request, change_id)
    context = section_context(request.user, change, live=request.GET.get("live") == "1")
    context["on_own_page"] = True
    return render(request, "changes/risk/change.html", context)


@login_required
@require_POST
def change_assess(request: HttpRequest, change_id: int) -> HttpResponse:
    """Answer the questionnaire and re-assess; htmx gets the section back in place."""
    change = change_in_page(request, change_id)
    config = risk.settings_for(change.organization_id)
    answers = {q["key"]: request.POST.get(f"q_{q['key']}", "") for q in config.questionnaire}
    errors: dict[str, str] = {}
    try:
        risk.assess_risk(acting_user=request.user, change=change, answers=answers)
    except FieldError as exc:
        errors = exc.errors
    except Conflict as exc:
        errors = {exc.field or "__all__": exc.detail}
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    if request.htmx:
        context = section_context(request.user, change)
        context["errors"] = errors
        context["just_assessed"] = not errors
        # htmx swaps only 2xx answers: the errors are shown inside the section.
        return render(request, "changes/risk/_section.html", context)
    if errors:
        for field, message in errors.items():
            messages.error(request, f"{field}: {message}")
    else:
        messages.success(
            request, f"{change.number} assessed: {RiskClass(change.risk_class).label.lower()} risk."
        )
    return HttpResponseRedirect(reverse("changes-risk-change", args=[change.pk]))


# --- settings ------------------------------------------------------------------------------


def _settings_org(request: HttpRequest) -> Any:
    return page_organization(request, RiskSettings, "Risk settings are not part of your role.")


def _form_values(config: risk.RiskConfig) -> dict[str, Any]:
    return {
        "weights": [
            {
                "key": k,
                "label": label,
                "value": f"{config.weights[k]:g}",
                "default": f"{risk.DEFAULT_WEIGHTS[k]:g}",
            }
            for k, label in risk.FACTORS.items()
        ],
        "thresholds": [
            {
                "key": k,
                "label": RiskClass(k).label,
                "value": f"{config.thresholds[k]:g}",
                "default": f"{risk.DEFAULT_THRESHOLDS[k]:g}",
            }
            for k in risk.CLASS_ORDER
        ],
        "questionnaire": json.dumps(config.questionnaire, indent=2),
        "induced_window_hours": config.induced_window_hours,
    }


def _parse_number(raw: str, field: str, errors: dict[str, str]) -> float | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        errors[field] = "A number."
        return None


def _posted(request: HttpRequest) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings in a posted form: numbers and the questionnaire's JSON, shape-checked."""
    errors: dict[str, str] = {}
    weights: dict[str, float] = {}
    for k in risk.FACTORS:
        value = _parse_number(request.POST.get(f"weight_{k}", ""), f"weights.{k}", errors)
        if value is not None:
            weights[k] = value
    thresholds: dict[str, float] = {}
    for k in risk.CLASS_ORDER:
        value = _parse_number(request.POST.get(f"threshold_{k}", ""), f"thresholds.{k}", errors)
        if value is not None:
            thresholds[k] = value
    data: dict[str, Any] = {"weights": weights, "thresholds": thresholds}
    text = request.POST.get("questionnaire", "").strip()
    if text:
        try:
            data["questionnaire"] = json.loads(text)
        except ValueError as exc:
            errors["questionnaire"] = f"Not valid JSON: {exc}."
    else:
        data["questionnaire"] = []
    hours = _parse_number(
        request.POST.get("induced_window_hours", ""), "induced_window_hours", errors
    )
    if hours is not None:
        data["induced_window_hours"] = hours
    return data, errors


def _label(risk_class: str) -> str:
    return RiskClass(risk_class).label if risk_class in RiskClass.values else "none"


def preview_rows(
    organization_id: int, weights: dict[str, float], thresholds: dict[str, float]
) -> list[dict[str, Any]]:
    """The recently assessed changes of the organisation re-classed with `weights` and
    `thresholds`, from the factor scores of their last assessment."""
    config = risk.effective(weights, thresholds)
    rows = []
    sample = (
        Change.objects.filter(organization_id=organization_id, risk_assessed_at__isnull=False)
        .exclude(change_type=ChangeType.STANDARD)
        .order_by("-risk_assessed_at", "-id")
        .only("id", "number", "title", "risk_score", "risk_class", "risk_assessment")[
            :PREVIEW_SAMPLE
        ]
    )
    for change in sample:
        factors = change.risk_assessment.get("factors") or []
        scores = {f["key"]: f["score"] for f in factors}
        score, new_class, _ = risk.combine(scores, config.weights, config.thresholds)
        rows.append(
            {
                "change": change,
                "old_score": change.risk_score,
                "old_class": change.risk_class,
                "new_score": score,
                "new_class": new_class,
                "old_label": _label(change.risk_class),
                "new_label": _label(new_class),
                "moved": new_class != change.risk_class,
                "up": risk.CLASS_RANK.get(new_class, 0) > risk.CLASS_RANK.get(change.risk_class, 0),
            }
        )
    return rows


@login_required
def risk_settings(request: HttpRequest) -> HttpResponse:
    org = _settings_org(request)
    can_change = has_permission(request.user, RiskSettings, Action.CHANGE, org.pk)
    config = risk.settings_for(org.pk)
    values = _form_values(config)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        if not can_change:
            raise DjangoPermissionDenied("Only managers change the risk settings.")
        data, errors = _posted(request)
        if not errors:
            try:
                risk.update_risk_settings(acting_user=request.user, organization=org, **data)
            except FieldError as exc:
                errors = exc.errors
            except PermissionDenied as exc:
                raise DjangoPermissionDenied(exc.detail) from exc
        if not errors:
            messages.success(request, "Risk settings saved. New assessments use them.")
            return HttpResponseRedirect(reverse("changes-risk-settings"))
        status = 422
        values = _submitted_values(request, values)
    return render(
        request,
        "changes/risk/settings.html",
        {
            "values": values,
            "errors": errors,
            "general_errors": {
                k: v
                for k, v in errors.items()
                if k in ("weights", "thresholds") or k.startswith("questionnaire")
            },
            "can_change": can_change,
            "customised": sorted(config.customised),
            "rows": preview_rows(org.pk, config.weights, config.thresholds),
            "sample_size": PREVIEW_SAMPLE,
            "defaults_questionnaire": json.dumps(risk.DEFAULT_QUESTIONNAIRE, indent=2),
        },
        status=status,
    )


def _submitted_values(request: HttpRequest, values: dict[str, Any]) -> dict[str, Any]:
    for row in values["weights"]:
        row["value"] = request.POST.get(f"weight_{row['key']}", "")
    for row in values["thresholds"]:
        row["value"] = request.POST.get(f"threshold_{row['key']}", "")
    values["questionnaire"] = request.POST.get("questionnaire", "")
    values["induced_window_hours"] = request.POST.get("induced_window_hours", "")
    return values


@login_required
@require_POST
def risk_preview(request: HttpRequest) -> HttpResponse:
    """The preview table for the weights and thresholds being edited (htmx)."""
    org = _settings_org(request)
    data, errors = _posted(request)
    errors = {k: v for k, v in errors.items() if k.startswith(("weights", "thresholds"))}
    if not errors:
        try:
            risk.clean_settings(weights=data["weights"], thresholds=data["thresholds"])
        except FieldError as exc:
            errors = exc.errors
    config = risk.settings_for(org.pk)
    rows = (
        []
        if errors
        else preview_rows(
            org.pk,
            {**config.weights, **data["weights"]},
            {**config.thresholds, **data["thresholds"]},
        )
    )
    return render(
        request,
        "changes/risk/_preview.html",
        {"rows": rows, "errors": errors, "sample_size": PREVIEW_SAMPLE},
    )


urlpatterns = [
    path("", risk_settings, name="changes-risk-settings"),
    path("preview", risk_preview, name="changes-risk-preview"),
    path("<int:change_id>/", change_risk, name="changes-risk-change"),
    path("<int:change_id>/assess", change_assess, name="changes-risk-assess"),
]
