"""API routes: service-level definitions (SLA, OLA, UC) and the preview of one on an
incident or a hypothetical ticket. Writes go through `opsdesk.sla.definition_actions`."""

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Status
from ninja.pagination import paginate

from opsdesk.accounts.models import Team
from opsdesk.core.actions import require
from opsdesk.core.api import ERROR_RESPONSES, Paginated
from opsdesk.core.errors import FieldError
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access, access_organization
from opsdesk.servicedesk.selectors import access_incident
from opsdesk.sla import definition_actions as actions
from opsdesk.sla.models import Definition
from opsdesk.sla.schemas_definitions import (
    DefinitionFilterIn,
    DefinitionIn,
    DefinitionOut,
    DefinitionPatch,
    PreviewIn,
    PreviewOut,
)

router = Router(tags=["Service-level definitions"])


def definitions(user: Any) -> QuerySet[Definition]:
    return (
        Definition.objects.restrict(user, Action.VIEW)
        .select_related("team", "vendor", "calendar")
        .prefetch_related("services")
    )


def access_definition(user: Any, definition_id: int, action: str = Action.VIEW) -> Definition:
    return access(
        Definition.objects.restrict(user, action).select_related("team", "vendor", "calendar"),
        definition_id,
        "service-level definition",
    )


def _out(definition: Definition) -> Definition:
    return definitions_for_out().get(pk=definition.pk)


def definitions_for_out() -> QuerySet[Definition]:
    return Definition.objects.select_related("team", "vendor", "calendar").prefetch_related(
        "services"
    )


@router.get(
    "/sla-definitions",
    response={200: list[DefinitionOut], **ERROR_RESPONSES},
    summary="Service-level definitions (SLA, OLA, UC), filtered by organisation, kind, active",
)
@paginate(Paginated)
def list_definitions(request: HttpRequest, filters: Query[DefinitionFilterIn]):  # type: ignore[no-untyped-def]
    qs = definitions(request.auth)
    if filters.organization is not None:
        qs = qs.filter(organization_id=filters.organization)
    if filters.kind is not None:
        qs = qs.filter(kind=filters.kind)
    if filters.active is not None:
        qs = qs.filter(is_active=filters.active)
    return qs.order_by("kind", "name", "pk")


@router.post(
    "/sla-definitions",
    response={201: DefinitionOut, **ERROR_RESPONSES},
    summary="Add an SLA, OLA (names team_id) or UC (names vendor_id); open tickets get its "
    "clocks at once",
)
def create_definition(request: HttpRequest, payload: DefinitionIn):  # type: ignore[no-untyped-def]
    user = request.auth
    data = payload.dict(exclude_unset=True)
    org = access_organization(user, data.pop("organization_id"))
    require(user, Definition, Action.ADD, org.pk)
    fields, services = actions.references(org.pk, data)
    name = fields.pop("name")
    definition = actions.create_definition(
        acting_user=user, organization=org, name=name, services=services or [], **fields
    )
    return Status(201, _out(definition))


@router.get("/sla-definitions/{definition_id}", response={200: DefinitionOut, **ERROR_RESPONSES})
def get_definition(request: HttpRequest, definition_id: int):  # type: ignore[no-untyped-def]
    return _out(access_definition(request.auth, definition_id))


@router.patch(
    "/sla-definitions/{definition_id}",
    response={200: DefinitionOut, **ERROR_RESPONSES},
    summary="Change a definition: its version goes up and open clocks are recomputed",
)
def update_definition(request: HttpRequest, definition_id: int, payload: DefinitionPatch):  # type: ignore[no-untyped-def]
    user = request.auth
    definition = access_definition(user, definition_id)
    fields, services = actions.references(
        definition.organization_id, payload.dict(exclude_unset=True)
    )
    updated = actions.update_definition(
        acting_user=user, definition=definition, services=services, **fields
    )
    return _out(updated)


@router.delete(
    "/sla-definitions/{definition_id}",
    response={204: None, **ERROR_RESPONSES},
    summary="Remove a definition and its clocks (set is_active=false to keep the history)",
)
def delete_definition(request: HttpRequest, definition_id: int):  # type: ignore[no-untyped-def]
    definition = access_definition(request.auth, definition_id)
    actions.delete_definition(acting_user=request.auth, definition=definition)
    return Status(204, None)


@router.post(
    "/sla-definitions/{definition_id}/preview",
    response={200: PreviewOut, **ERROR_RESPONSES},
    summary="Would it apply, on which calendar, due when: on an incident (incident_id) or a "
    "hypothetical ticket (priority, service_id, opened_at, assignment_group_id)",
)
def preview_definition(request: HttpRequest, definition_id: int, payload: PreviewIn):  # type: ignore[no-untyped-def]
    user = request.auth
    definition = access_definition(user, definition_id)
    org_id = definition.organization_id
    data = payload.dict(exclude_unset=True)
    if data.get("incident_id") is not None:
        others = sorted(k for k, v in data.items() if k != "incident_id" and v is not None)
        if others:
            raise FieldError({others[0]: "Give an incident or a hypothetical ticket, not both."})
        incident = access_incident(user, data["incident_id"])
        if incident.organization_id != org_id:
            raise FieldError({"incident_id": "The incident belongs to another organisation."})
        result = actions.preview(definition, incident=incident)
    else:
        if data.get("priority") is None:
            raise FieldError({"priority": "Give incident_id, or the ticket's priority."})
        service = None
        if data.get("service_id") is not None:
            service = actions.services_of(org_id, [data["service_id"]], "service_id")[0]
        ticket = actions.hypothetical(
            organization_id=org_id,
            priority=data["priority"],
            opened_at=data.get("opened_at") or timezone.now(),
            service=service,
            assignment_group=actions.reference(
                Team, org_id, data.get("assignment_group_id"), "assignment_group_id", "team"
            ),
        )
        result = actions.preview(definition, ticket=ticket)
    return result
