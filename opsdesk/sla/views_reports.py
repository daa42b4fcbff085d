"""Pages of service-level reporting: the /sla/ overview and an organisation's report (HTML,
CSV and XLSX from the same figures).

Who may look: anyone whose role reads clocks in the organisation (agents, managers,
auditors, admins); a requester gets a 403, another organisation a 404.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from opsdesk.core.errors import FieldError
from opsdesk.core.permissions import Action, has_permission
from opsdesk.core.selectors import organizations_for_user
from opsdesk.sla import charts, exports, reports
from opsdesk.sla.choices import ClockStatus, Kind
from opsdesk.sla.models import Clock

#: Live clocks shown on the overview (the full queue is /sla/clocks/).
AT_RISK = 10
#: Breaches of the month shown on the overview.
RECENT_BREACHES = 15
#: Months in the overview's chart.
OVERVIEW_MONTHS = 12


def _now() -> datetime:
    """The clock of the pages (tests pin it)."""
    return timezone.now()


def _may_report(user: Any, organization_id: int) -> bool:
    return has_permission(user, Clock, Action.VIEW, organization_id)


def _reporting_orgs(user: Any) -> list[Any]:
    return [o for o in organizations_for_user(user).order_by("name") if _may_report(user, o.pk)]


def _delta(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else round(now - before, 1)


def _due_text(due: datetime | None, now: datetime) -> str:
    if due is None:
        return ""
    seconds = (due - now).total_seconds()
    if seconds < 0:
        return f"overdue by {reports.human_duration(-seconds)}"
    return f"due in {reports.human_duration(seconds)}"


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    org = request.organization
    if org is None:
        raise Http404("Choose an organisation first.")
    if not _may_report(request.user, org.pk):
        raise DjangoPermissionDenied("Your role does not read service levels.")
    zone = org.time_zone or "UTC"
    now = _now()
    month = reports.this_month(zone, now)
    current = reports.month_period(zone, month)
    previous = reports.month_period(zone, reports.add_months(month, -1))
    ids = [org.pk]
    figures = []
    this_res = reports.totals(ids, current.start, current.end)
    last_res = reports.totals(ids, previous.start, previous.end)
    this_resp = reports.totals(ids, current.start, current.end, metric="response")
    last_resp = reports.totals(ids, previous.start, previous.end, metric="response")
    for kind in reports.KINDS:
        row, before = this_res[kind], last_res[kind]
        figures.append(
            {
                "kind": kind,
                "label": reports.KIND_LABELS[kind],
                "row": row,
                "before": before,
                "delta": _delta(row.compliance, before.compliance),
                "band": charts.band(row.compliance),
                "response": this_resp[kind],
                "response_before": last_resp[kind],
            }
        )
    trend = reports.trend(org.pk, zone, month, months=OVERVIEW_MONTHS)
    breach_count, breaches = reports.breaches(
        org.pk, current.start, current.end, kind=None, limit=RECENT_BREACHES
    )
    live = list(
        Clock.objects.restrict(request.user, Action.VIEW)
        .filter(organization=org, status=ClockStatus.RUNNING, due_at__isnull=False)
        .select_related("definition", "service", "team", "vendor")
        .order_by("due_at", "pk")[:AT_RISK]
    )
    at_risk = [
        {"clock": c, "due_text": _due_text(c.due_at, now), "overdue": c.due_at < now} for c in live
    ]
    return render(
        request,
        "sla/overview.html",
        {
            "month": current,
            "previous": previous,
            "figures": figures,
            "trend": trend,
            "trend_chart": charts.trend_chart(
                trend,
                title=f"Resolution compliance per month, last {OVERVIEW_MONTHS} months",
            ),
            "breach_count": breach_count,
            "breaches": breaches,
            "at_risk": at_risk,
            "report_orgs": _reporting_orgs(request.user),
            "now": now,
        },
    )


class PeriodForm(forms.Form):
    """?month=YYYY-MM, or ?start=YYYY-MM-DD&end=YYYY-MM-DD; by default the current month."""

    month = forms.RegexField(regex=r"^\d{4}-\d{1,2}$", required=False)
    start = forms.DateField(required=False)
    end = forms.DateField(required=False)
    format = forms.ChoiceField(
        choices=[("", "HTML"), ("html", "HTML"), ("csv", "CSV"), ("xlsx", "XLSX")],
        required=False,
    )

    def __init__(self, *args: Any, time_zone: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.time_zone = time_zone

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        try:
            if data.get("start") or data.get("end"):
                first: date = data.get("start") or data["end"].replace(day=1)
                last: date = data.get("end") or reports.month_end(first.replace(day=1))
                data["period"] = reports.date_period(self.time_zone, first, last)
            else:
                month = (
                    reports.parse_month(data["month"])
                    if data.get("month")
                    else reports.this_month(self.time_zone, _now())
                )
                data["period"] = reports.month_period(self.time_zone, month)
        except FieldError as exc:
            for name, message in exc.errors.items():
                self.add_error(name if name in self.fields else None, message)
        return data


def _report_org(request: HttpRequest, slug: str) -> Any:
    org = organizations_for_user(request.user).filter(slug=slug).first()
    if org is None:
        raise Http404("No organisation matches this address.")
    if not _may_report(request.user, org.pk):
        raise DjangoPermissionDenied("Your role does not read service levels.")
    return org


@login_required
def report_index(request: HttpRequest) -> HttpResponse:
    org = request.organization
    if org is None:
        raise Http404("Choose an organisation first.")
    return HttpResponseRedirect(reverse("sla-report", args=[org.slug]))


@login_required
def report(request: HttpRequest, slug: str) -> HttpResponse:
    org = _report_org(request, slug)
    zone = org.time_zone or "UTC"
    form = PeriodForm(request.GET or None, time_zone=zone)
    if request.GET and not form.is_valid():
        return render(
            request,
            "sla/reports/report.html",
            {"org": org, "form": form, "report": None},
            status=400,
        )
    period = (
        form.cleaned_data["period"]
        if request.GET
        else reports.month_period(zone, reports.this_month(zone, _now()))
    )
    found = reports.customer_report(organization_id=org.pk, first=period.first, last=period.last)
    fmt = form.cleaned_data.get("format") if request.GET else ""
    if fmt == "csv":
        response = HttpResponse(exports.to_csv(found), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{exports.filename(found, "csv")}"'
        return response
    if fmt == "xlsx":
        response = HttpResponse(exports.to_xlsx(found), content_type=exports.XLSX_CONTENT_TYPE)
        response["Content-Disposition"] = (
            f'attachment; filename="{exports.filename(found, "xlsx")}"'
        )
        return response
    return render(request, "sla/reports/report.html", _report_context(org, form, found))


def _report_context(org: Any, form: PeriodForm, found: reports.ComplianceReport) -> dict:
    period = found.period
    month = period.first.replace(day=1)
    query = (
        f"month={period.first:%Y-%m}"
        if period.is_month
        else f"start={period.first:%Y-%m-%d}&end={period.last:%Y-%m-%d}"
    )
    return {
        "org": org,
        "form": form,
        "report": found,
        "query": query,
        "prev_month": f"{reports.add_months(month, -1):%Y-%m}",
        "next_month": f"{reports.add_months(month, 1):%Y-%m}",
        "kinds": [(k, charts.band(k.resolution.compliance)) for k in found.kinds],
        "trend_chart": charts.trend_chart(
            found.trend, title=f"Resolution compliance per month to {period.last:%B %Y}"
        ),
        "service_chart": charts.compliance_bars(
            found.by_service, title="SLA resolution compliance by service"
        ),
        "priority_chart": charts.compliance_bars(
            found.by_priority, title="SLA resolution compliance by priority"
        ),
        "durations": [
            {
                "measure": d,
                "chart": charts.histogram(d.overall, title=f"{d.name}, {d.basis}: distribution"),
                "rows": [("All priorities", d.overall)]
                + [
                    (reports.PRIORITY_LABELS.get(p, f"P{p}"), x)
                    for p, x in sorted(d.by_priority.items())
                ],
            }
            for d in (*found.mtta, *found.mttr)
        ],
        "sla_kind": Kind.SLA,
    }
