"""API routes: service-level reports (the scorecard's compliance, MTTA/MTTR and the customer
report of one organisation).

Every route names one organisation: another organisation's is a 404 (as if it did not
exist), and a member whose role may not read clocks (a requester) gets a 403, as for the
CMDB health report.
"""

from datetime import date
from typing import Literal

from django.http import HttpRequest
from ninja import Router

from opsdesk.core.api import ERROR_RESPONSES, ObjectId
from opsdesk.core.errors import FieldError, PermissionDenied
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action, has_permission
from opsdesk.core.selectors import access_organization
from opsdesk.sla import reports
from opsdesk.sla.models import Clock
from opsdesk.sla.schemas_reports import ComplianceOut, MttrOut, ReportOut

router = Router(tags=["Service-level reports"])

GroupBy = Literal["service", "priority", "team", "supplier", "month", "definition"]
KindIn = Literal["sla", "ola", "uc"]
MetricIn = Literal["resolution", "response", "all"]


def reporting_organization(user: object, organization_id: int) -> Organization:
    """The organisation if the user may read its clocks: 404 outside it, 403 inside it for a
    role without clocks (requesters)."""
    org = access_organization(user, organization_id)
    if not has_permission(user, Clock, Action.VIEW, org.pk):
        raise PermissionDenied("Your role may not read the service levels of this organisation.")
    return org


def _period(org: Organization, start: date | None, end: date | None) -> reports.Period:
    """The days asked for, in the organisation's time zone: by default the current month;
    a start alone runs to the end of its month, an end alone from the start of its month."""
    zone = org.time_zone or "UTC"
    first = start or (end or reports.this_month(zone)).replace(day=1)
    last = end or reports.month_end(first.replace(day=1))
    return reports.date_period(zone, first, last)


@router.get(
    "/sla/compliance",
    response={200: ComplianceOut, **ERROR_RESPONSES},
    summary="Compliance (met / (met + breached) stopped clocks) per service, priority, team, "
    "supplier, month or definition",
)
def sla_compliance(
    request: HttpRequest,
    organization: ObjectId,
    start: date | None = None,
    end: date | None = None,
    group_by: GroupBy = "service",
    kind: KindIn | None = None,
    metric: MetricIn = "resolution",
):  # type: ignore[no-untyped-def]
    org = reporting_organization(request.auth, organization)
    period = _period(org, start, end)
    rows = reports.compliance(
        [org.pk],
        period.start,
        period.end,
        group_by,
        kind=kind,
        metric=None if metric == "all" else metric,
    )
    return {
        "organization_id": org.pk,
        "start": period.start,
        "end": period.end,
        "group_by": group_by,
        "kind": "uc" if group_by == "supplier" and kind is None else kind,
        "metric": metric,
        "rows": [r.as_dict() for r in rows],
    }


@router.get(
    "/sla/mttr",
    response={200: MttrOut, **ERROR_RESPONSES},
    summary="MTTA and MTTR: mean, median, 90th percentile and histogram, per priority",
)
def sla_mttr(
    request: HttpRequest,
    organization: ObjectId,
    start: date | None = None,
    end: date | None = None,
    priority: int | None = None,
):  # type: ignore[no-untyped-def]
    org = reporting_organization(request.auth, organization)
    if priority is not None and priority not in reports.PRIORITY_LABELS:
        raise FieldError({"priority": "Choose a priority from 1 to 5."})
    period = _period(org, start, end)
    ids = [org.pk]
    return {
        "organization_id": org.pk,
        "start": period.start,
        "end": period.end,
        "priority": priority,
        "mtta": [d.as_dict() for d in reports.mtta(ids, period.start, period.end, priority)],
        "mttr": [d.as_dict() for d in reports.mttr(ids, period.start, period.end, priority)],
    }


@router.get(
    "/sla/reports/{organization_id}",
    response={200: ReportOut, **ERROR_RESPONSES},
    summary="An organisation's service-level report for a month (YYYY-MM; default this month)",
)
def sla_report(request: HttpRequest, organization_id: ObjectId, month: str | None = None):  # type: ignore[no-untyped-def]
    org = reporting_organization(request.auth, organization_id)
    first = (
        reports.parse_month(month)
        if month is not None
        else reports.this_month(org.time_zone or "UTC")
    )
    report = reports.customer_report(
        organization_id=org.pk, first=first, last=reports.month_end(first)
    )
    return report.as_dict()
