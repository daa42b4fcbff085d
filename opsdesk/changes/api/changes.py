"""API routes of changes and the standard-change template catalogue.

Every transition is an explicit operation (``POST /changes/{id}/assess``) that calls
`opsdesk.changes.actions.transition_change`, so the API obeys the same declared workflows
(and the same guards of the risk, approvals, windows and review parts) as the pages: a
transition not allowed from the current state is a 409 naming those that are, a missing
input a 422 naming the field.
"""

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from opsdesk.accounts.models import Team, User
from opsdesk.changes import actions, template_actions
from opsdesk.changes import selectors_changes as selectors
from opsdesk.changes.models import Change, ChangeTemplate
from opsdesk.changes.schemas import (
    ChangeDetailOut,
    ChangeFilterIn,
    ChangeIn,
    ChangeOut,
    ChangePatch,
    ChangeWorkflowsOut,
    CisIn,
    CloseIn,
    CompleteIn,
    ImplementIn,
    NoteIn,
    ReasonIn,
    ScheduleIn,
    TemplateFilterIn,
    TemplateIn,
    TemplateOut,
    TemplatePatch,
)
from opsdesk.changes.workflows import WORKFLOWS
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actions import require
from opsdesk.core.api import ERROR_RESPONSES, Paginated
from opsdesk.core.errors import FieldError
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access_organization
from opsdesk.servicedesk import timeline
from opsdesk.servicedesk.api.schemas import ActivityOut

router = Router(tags=["Changes"])

_CONFLICT = "409 names the transitions allowed from the current state; 422 names missing input"


# --- references in bodies ------------------------------------------------------------------


def cis_of(user: Any, organization_id: int, ids: list[int], field: str = "ci_ids") -> list[Any]:
    """CIs of the organisation by id, in the order given, or a 422 naming `field`."""
    ids = list(dict.fromkeys(ids))
    found = {
        ci.pk: ci
        for ci in ConfigurationItem.objects.restrict(user, Action.VIEW).filter(
            pk__in=ids, organization_id=organization_id
        )
    }
    missing = [i for i in ids if i not in found]
    if missing:
        listed = ", ".join(str(i) for i in missing)
        raise FieldError({field: f"No configuration item of this organisation has id {listed}."})
    return [found[i] for i in ids]


def _service(user: Any, organization_id: int, pk: int | None) -> ConfigurationItem | None:
    if pk is None:
        return None
    found = (
        ConfigurationItem.objects.restrict(user, Action.VIEW)
        .filter(pk=pk, organization_id=organization_id)
        .select_related("ci_class")
        .first()
    )
    if found is None:
        raise FieldError({"service_id": "No configuration item of this organisation has this id."})
    return found


def _team(organization_id: int, pk: int | None, field: str = "assignment_group_id") -> Team | None:
    if pk is None:
        return None
    found = Team.objects.filter(pk=pk, organization_id=organization_id).first()
    if found is None:
        raise FieldError({field: "No team of this organisation has this id."})
    return found


def _member(organization_id: int, pk: int | None, field: str) -> User | None:
    if pk is None:
        return None
    found = User.objects.filter(
        pk=pk, memberships__organization_id=organization_id, is_active=True
    ).first()
    if found is None:
        raise FieldError({field: "No member of this organisation has this id."})
    return found


_TEXT = (
    "description",
    "justification",
    "implementation_plan",
    "backout_plan",
    "test_plan",
    "freeze_justification",
)


def _change_fields(user: Any, organization_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Body fields -> keyword arguments of the change actions (ids become objects)."""
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name == "service_id":
            out["service"] = _service(user, organization_id, value)
        elif name == "assignment_group_id":
            out["assignment_group"] = _team(organization_id, value)
        elif name in ("assignee_id", "change_manager_id"):
            out[name.removesuffix("_id")] = _member(organization_id, value, name)
        elif name in _TEXT:
            out[name] = value or ""
        else:
            out[name] = value
    return out


def _detail(user: Any, change: Change) -> Change:
    return selectors.change_detail(user, change.pk)


def _change(user: Any, change_id: int) -> Change:
    return selectors.change_detail(user, change_id)


# --- changes -------------------------------------------------------------------------------


@router.get(
    "/changes",
    response={200: list[ChangeOut], **ERROR_RESPONSES},
    summary="Changes, filtered by organisation, state ('open' for every open state), type, "
    "risk class, service, CI, team, planned period (from/to) and words",
)
@paginate(Paginated)
def list_changes(request: HttpRequest, filters: Query[ChangeFilterIn]):  # type: ignore[no-untyped-def]
    data = filters.dict()
    f = selectors.ChangeFilter(
        **{k: v for k, v in data.items() if k in selectors.ChangeFilter.names()}
    )
    return selectors.list_related(selectors.changes(request.auth, f))


@router.post(
    "/changes",
    response={201: ChangeDetailOut, **ERROR_RESPONSES},
    summary="Raise a normal or emergency change, or a standard change from template_id "
    "(it fills the plan, group, CIs and, from planned_start, the planned end)",
)
def create_change(request: HttpRequest, payload: ChangeIn):  # type: ignore[no-untyped-def]
    user = request.auth
    data = payload.dict(exclude_unset=True)
    org_id = data.pop("organization_id", None)
    template_id = data.pop("template_id", None)
    change_type = data.pop("change_type", payload.change_type)
    title = data.pop("title", None) or ""
    ci_ids = data.pop("ci_ids", None)
    template = None
    if template_id is not None:
        template = selectors.access_template(user, template_id)
        if org_id is not None and org_id != template.organization_id:
            raise FieldError({"template_id": "The template belongs to another organisation."})
        org = template.organization
    elif org_id is not None:
        org = access_organization(user, org_id)
    else:
        raise FieldError({"organization_id": "Give the organisation, or a template of it."})
    require(user, Change, Action.ADD, org.pk)
    cis = cis_of(user, org.pk, ci_ids) if ci_ids else []
    fields = _change_fields(user, org.pk, data)
    change = actions.create_change(
        acting_user=user,
        organization=org,
        title=title,
        change_type=change_type,
        template=template,
        cis=cis,
        **fields,
    )
    return Status(201, _detail(user, change))


@router.get(
    "/changes/{int:change_id}",
    response={200: ChangeDetailOut, **ERROR_RESPONSES},
    summary="A change with its plan, CIs, risk, conflicts and the transitions allowed now",
)
def get_change(request: HttpRequest, change_id: int):  # type: ignore[no-untyped-def]
    return _change(request.auth, change_id)


@router.patch(
    "/changes/{int:change_id}",
    response={200: ChangeDetailOut, **ERROR_RESPONSES},
    summary="Change the description, plans, service, assignment or planned times (the plan "
    "locks once implementation starts: 409)",
)
def update_change(request: HttpRequest, change_id: int, payload: ChangePatch):  # type: ignore[no-untyped-def]
    user = request.auth
    change = _change(user, change_id)
    data = payload.dict(exclude_unset=True)
    if "title" in data and data["title"] is None:
        raise FieldError({"title": "Cannot be null."})
    actions.update_change(
        acting_user=user,
        change=change,
        **_change_fields(user, change.organization_id, data),
    )
    return _detail(user, change)


@router.put(
    "/changes/{int:change_id}/cis",
    response={200: ChangeDetailOut, **ERROR_RESPONSES},
    summary="Replace the affected CIs (of the change's organisation; before implementation)",
)
def set_change_cis(request: HttpRequest, change_id: int, payload: CisIn):  # type: ignore[no-untyped-def]
    user = request.auth
    change = _change(user, change_id)
    require(user, Change, Action.CHANGE, change.organization_id)
    cis = cis_of(user, change.organization_id, payload.ci_ids)
    actions.set_cis(acting_user=user, change=change, cis=cis)
    return _detail(user, change)


def _transition(request: HttpRequest, change_id: int, name: str, **values: Any) -> Change:
    user = request.auth
    change = _change(user, change_id)
    given = {k: v for k, v in values.items() if v is not None and v != ""}
    actions.transition_change(acting_user=user, change=change, name=name, **given)
    return _detail(user, change)


_T = {200: ChangeDetailOut, **ERROR_RESPONSES}


@router.post(
    "/changes/{int:change_id}/assess",
    response=_T,
    summary=f"Normal change: new -> assess; {_CONFLICT}",
)
def assess_change(request: HttpRequest, change_id: int):  # type: ignore[no-untyped-def]
    return _transition(request, change_id, "assess")


@router.post(
    "/changes/{int:change_id}/request_authorisation",
    response=_T,
    summary="Ask for authorisation (normal: from assess; emergency: from new, with a "
    f"justification); needs the planned times and the implementation and back-out plans; {_CONFLICT}",
)
def request_authorisation(request: HttpRequest, change_id: int, payload: ScheduleIn):  # type: ignore[no-untyped-def]
    return _transition(request, change_id, "request_authorisation", **payload.dict())


@router.post(
    "/changes/{int:change_id}/authorise",
    response=_T,
    summary="Authorise -> scheduled: refused while an approval is outstanding (the approvals "
    f"engine fires it when the last step reaches its quorum); {_CONFLICT}",
)
def authorise_change(request: HttpRequest, change_id: int, payload: ScheduleIn):  # type: ignore[no-untyped-def]
    return _transition(request, change_id, "authorise", **payload.dict())


@router.post(
    "/changes/{int:change_id}/reject",
    response=_T,
    summary=f"Authorise -> new, with the reason; {_CONFLICT}",
)
def reject_change(request: HttpRequest, change_id: int, payload: ReasonIn):  # type: ignore[no-untyped-def]
    return _transition(request, change_id, "reject", reason=payload.reason)


@router.post(
    "/changes/{int:change_id}/revise",
    response=_T,
    summary=f"Back to new to change the plan, with the reason; {_CONFLICT}",
)
def revise_change(request: HttpRequest, change_id: int, payload: ReasonIn):  # type: ignore[no-untyped-def]
    return _transition(request, change_id, "revise", reason=payload.reason)


@router.post(
    "/changes/{int:change_id}/schedule",
    response=_T,
    summary="Standard change: new -> scheduled (pre-approved; needs the planned times; inside "
    f"a freeze window only with a freeze_justification); {_CONFLICT}",
)
def schedule_change(request: HttpRequest, change_id: int, payload: ScheduleIn):  # type: ignore[no-untyped-def]
    return _transition(request, change_id, "schedule", **payload.dict())


@router.post(
    "/changes/{int:change_id}/implement",
    response=_T,
    summary=f"Scheduled -> implement (actual start: now unless given); {_CONFLICT}",
)
def implement_change(request: HttpRequest, change_id: int, payload: ImplementIn):  # type: ignore[no-untyped-def]
    return _transition(request, change_id, "implement", **payload.dict())


@router.post(
    "/changes/{int:change_id}/complete",
    response=_T,
    summary="Implement -> review with the close code (successful, successful_with_issues, "
    f"failed, backed_out); {_CONFLICT}",
)
def complete_change(request: HttpRequest, change_id: int, payload: CompleteIn):  # type: ignore[no-untyped-def]
    return _transition(request, change_id, "complete", **payload.dict())


@router.post(
    "/changes/{int:change_id}/close",
    response=_T,
    summary="Review -> closed with the close notes (a failed, backed-out or emergency change "
    f"needs its post-implementation review first); {_CONFLICT}",
)
def close_change(request: HttpRequest, change_id: int, payload: CloseIn):  # type: ignore[no-untyped-def]
    return _transition(request, change_id, "close", **payload.dict())


@router.post(
    "/changes/{int:change_id}/cancel",
    response=_T,
    summary=f"Cancel a change not yet implemented, with the reason; {_CONFLICT}",
)
def cancel_change(request: HttpRequest, change_id: int, payload: ReasonIn):  # type: ignore[no-untyped-def]
    return _transition(request, change_id, "cancel", reason=payload.reason)


@router.get(
    "/changes/{int:change_id}/timeline",
    response={200: list[ActivityOut], **ERROR_RESPONSES},
    summary="The change's story, oldest first: states, fields, CIs, approvals, notes",
)
@paginate(Paginated)
def change_timeline(request: HttpRequest, change_id: int):  # type: ignore[no-untyped-def]
    user = request.auth
    return timeline.timeline(user, _change(user, change_id))


@router.post(
    "/changes/{int:change_id}/notes",
    response={201: ActivityOut, **ERROR_RESPONSES},
    summary="A work note on the change's timeline (public=true: a comment)",
)
def add_change_note(request: HttpRequest, change_id: int, payload: NoteIn):  # type: ignore[no-untyped-def]
    user = request.auth
    change = _change(user, change_id)
    entry = actions.add_note(
        acting_user=user, change=change, body=payload.body, public=payload.public
    )
    return Status(201, entry)


@router.get(
    "/change-workflows",
    response={200: ChangeWorkflowsOut, **ERROR_RESPONSES},
    summary="The three change workflows (normal, emergency, standard) as data",
)
def change_workflows(request: HttpRequest):  # type: ignore[no-untyped-def]
    return {change_type: wf.as_dict() for change_type, wf in WORKFLOWS.items()}


# --- templates -----------------------------------------------------------------------------


def _template_fields(user: Any, organization_id: int, data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name == "assignment_group_id":
            out["assignment_group"] = _team(organization_id, value)
        elif name in ("ci_ids", "match_ci_ids"):
            out[name.removesuffix("_ids") + "s"] = cis_of(user, organization_id, value or [], name)
        elif name in (
            "description",
            "category",
            "implementation_plan",
            "backout_plan",
            "test_plan",
        ):
            out[name] = value or ""
        elif name == "match_environments":
            out[name] = value or []
        elif value is None:
            raise FieldError({name: "Cannot be null."})
        else:
            out[name] = value
    return out


def _template_out(user: Any, template: ChangeTemplate) -> ChangeTemplate:
    return selectors.access_template(user, template.pk)


@router.get(
    "/change-templates",
    response={200: list[TemplateOut], **ERROR_RESPONSES},
    summary="The standard-change catalogue: pre-approved templates, filtered by organisation, "
    "active or retired, and words",
)
@paginate(Paginated)
def list_templates(request: HttpRequest, filters: Query[TemplateFilterIn]):  # type: ignore[no-untyped-def]
    return selectors.templates(request.auth, **filters.dict())


@router.post(
    "/change-templates",
    response={201: TemplateOut, **ERROR_RESPONSES},
    summary="Add a standard-change template (managers and admins; names unique per organisation)",
)
def create_template(request: HttpRequest, payload: TemplateIn):  # type: ignore[no-untyped-def]
    user = request.auth
    data = payload.dict(exclude_unset=True)
    org = access_organization(user, data.pop("organization_id"))
    require(user, ChangeTemplate, Action.ADD, org.pk)
    name = data.pop("name")
    template = template_actions.create_template(
        acting_user=user, organization=org, name=name, **_template_fields(user, org.pk, data)
    )
    return Status(201, _template_out(user, template))


@router.get(
    "/change-templates/{int:template_id}",
    response={200: TemplateOut, **ERROR_RESPONSES},
)
def get_template(request: HttpRequest, template_id: int):  # type: ignore[no-untyped-def]
    return selectors.access_template(request.auth, template_id)


@router.patch(
    "/change-templates/{int:template_id}",
    response={200: TemplateOut, **ERROR_RESPONSES},
    summary="Change a template; is_active=false retires it (changes raised from it stay)",
)
def update_template(request: HttpRequest, template_id: int, payload: TemplatePatch):  # type: ignore[no-untyped-def]
    user = request.auth
    template = selectors.access_template(user, template_id)
    require(user, ChangeTemplate, Action.CHANGE, template.organization_id)
    data = payload.dict(exclude_unset=True)
    template_actions.update_template(
        acting_user=user,
        template=template,
        **_template_fields(user, template.organization_id, data),
    )
    return _template_out(user, template)
