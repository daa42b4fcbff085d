"""API routes of the SLA -> OLA -> UC chain: the fit of every service and priority's chain,
and where a breached ticket's time went.

Both are reads for those who work tickets (agents, managers, auditors, admins); requesters
get 403 for the chain report and 404 for a ticket's attribution, like any other clock data.
"""

from django.http import HttpRequest
from ninja import Query, Router

from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.api import ERROR_RESPONSES, ObjectId
from opsdesk.core.errors import FieldError, NotFound, PermissionDenied
from opsdesk.core.permissions import Action, has_permission
from opsdesk.core.selectors import access_organization
from opsdesk.servicedesk.selectors import access_incident
from opsdesk.sla.chain import attribute, check_chain
from opsdesk.sla.models import Clock, Definition
from opsdesk.sla.schemas_chain import (
    AttributionOut,
    ChainFilterIn,
    ChainRowOut,
    attribution_out,
    row_out,
)

router = Router(tags=["Service-level chain"])


@router.get(
    "/sla/chain",
    response={200: list[ChainRowOut], **ERROR_RESPONSES},
    summary="Do the OLAs and UCs fit inside each SLA? One row per service and priority",
)
def sla_chain(request: HttpRequest, filters: Query[ChainFilterIn]):  # type: ignore[no-untyped-def]
    user = request.auth
    org = access_organization(user, filters.organization)
    if not has_permission(user, Definition, Action.VIEW, org.pk):
        raise PermissionDenied("You may not see the service levels of this organisation.")
    if (
        filters.service is not None
        and not ConfigurationItem.objects.filter(
            pk=filters.service, organization_id=org.pk
        ).exists()
    ):
        raise FieldError({"service": "No configuration item of this organisation has this id."})
    rows = check_chain(org.pk, filters.service, filters.priority)
    return [row_out(r) for r in rows]


@router.get(
    "/incidents/{incident_id}/sla/attribution",
    response={200: AttributionOut, **ERROR_RESPONSES},
    summary="Where a breached SLA's time went: the share of each team and supplier, "
    "against their OLA and UC",
)
def sla_attribution(request: HttpRequest, incident_id: ObjectId):  # type: ignore[no-untyped-def]
    user = request.auth
    incident = access_incident(user, incident_id)
    if not has_permission(user, Clock, Action.VIEW, incident.organization_id):
        raise NotFound("No incident matches the given id.")
    return attribution_out(attribute(incident))
