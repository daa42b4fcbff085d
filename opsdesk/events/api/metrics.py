"""API route of the event-management scorecard: MTTD, MTTA, MTTR per service and month,
compression, noise and the operators' corrections of the grouping."""

import zoneinfo
from datetime import datetime, time, timedelta

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router

from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actions import require
from opsdesk.core.api import ERROR_RESPONSES
from opsdesk.core.errors import FieldError
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access_organization
from opsdesk.events import metrics
from opsdesk.events.models import AlertGroup
from opsdesk.events.schemas import EventMetricsOut, MetricsQuery

router = Router(tags=["Alert groups and alerts"])

DEFAULT_MONTHS = 6
MAX_DAYS = 3 * 366


@router.get(
    "/event-metrics",
    response={200: EventMetricsOut, **ERROR_RESPONSES},
    summary="MTTD / MTTA / MTTR of event-driven incidents per service and month, compression, "
    "noise and grouping feedback (durations in seconds)",
)
def event_metrics(request: HttpRequest, query: Query[MetricsQuery]):  # type: ignore[no-untyped-def]
    org = access_organization(request.auth, query.organization_id)
    require(request.auth, AlertGroup, Action.VIEW, org.pk)
    zone = zoneinfo.ZoneInfo(org.time_zone or "UTC")
    today = timezone.now().astimezone(zone).date()
    end = query.end or today
    start = query.start
    if start is None:
        start = end.replace(day=1)
        for _ in range(DEFAULT_MONTHS - 1):
            start = (start - timedelta(days=1)).replace(day=1)
    if end < start:
        raise FieldError({"end": "The last day must not be before the first."})
    if (end - start).days > MAX_DAYS:
        raise FieldError({"end": "At most three years at a time."})
    if (
        query.service_id is not None
        and not ConfigurationItem.objects.restrict(request.auth, Action.VIEW)
        .filter(pk=query.service_id, organization_id=org.pk)
        .exists()
    ):
        raise FieldError({"service_id": "No configuration item of this organisation has this id."})
    lo = datetime.combine(start, time.min, tzinfo=zone)
    hi = datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone)
    return metrics.event_metrics(org.pk, lo, hi, service_id=query.service_id)
