"""API routes of incidents: the queue, create and change, the workflow as explicit operations
(start, hold, resolve, close, reopen, cancel), assignment, timeline and comments,
attachments, watchers and links to problems and known errors."""

from typing import Annotated, Any

from django.http import FileResponse, HttpRequest
from ninja import File, Form, Query, Router, Status, UploadedFile
from ninja.pagination import paginate

from opsdesk.accounts.models import Team, User
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.api import ERROR_RESPONSES, ObjectId, Paginated
from opsdesk.core.errors import FieldError, NotFound, PermissionDenied
from opsdesk.core.permissions import Action, has_permission
from opsdesk.core.selectors import access, access_organization
from opsdesk.problems.models import KnownError, Problem
from opsdesk.servicedesk import actions, selectors, timeline
from opsdesk.servicedesk.api.schemas import (
    ActivityOut,
    AssignIn,
    AttachmentOut,
    CommentIn,
    HoldIn,
    IncidentDetailOut,
    IncidentFilterIn,
    IncidentIn,
    IncidentOut,
    IncidentPatch,
    LinkIn,
    PriorityValue,
    ReasonIn,
    ResolveIn,
    SortKey,
    StateFilter,
    TransitionOut,
    WatcherIn,
    WatcherOut,
    WorkflowOut,
)
from opsdesk.servicedesk.choices import SubjectType
from opsdesk.servicedesk.models import (
    Attachment,
    Category,
    Incident,
    ServiceDeskSettings,
    Watcher,
)
from opsdesk.servicedesk.selectors import IncidentFilter
from opsdesk.servicedesk.workflows import INCIDENT

router = Router(tags=["Incidents"])


# --- helpers (shared with the major-incident routes) ------------------------------------------


def transitions_for(user: Any, incident: Incident) -> list[dict[str, Any]]:
    """The transitions `user` may make now, with the fields each requires."""
    agent = has_permission(user, Incident, Action.CHANGE, incident.organization_id)
    own = incident.requester_id == getattr(user, "pk", None)
    return [
        {"name": t.name, "label": t.title, "to": t.target, "requires": list(t.requires)}
        for t in INCIDENT.available(incident.state)
        if agent or (own and t.name in actions.REQUESTER_TRANSITIONS)
    ]


def incident_detail(user: Any, incident_id: int) -> Incident:
    """The incident with everything its detail shows, if `user` may see it (else 404)."""
    qs = selectors.list_related(Incident.objects.restrict(user, Action.VIEW)).select_related(
        "category", "subcategory", "major_manager"
    )
    incident = access(qs, incident_id, "incident")
    incident.transitions = transitions_for(user, incident)
    return incident


def member(organization_id: int, user_id: int | None, field: str) -> User | None:
    """A user of the organisation by id, or a 422 naming `field` (never says who they are)."""
    if user_id is None:
        return None
    found = User.objects.filter(
        pk=user_id, memberships__organization_id=organization_id, is_active=True
    ).first()
    if found is None:
        raise FieldError({field: "No member of this organisation has this id."})
    return found


def _team(organization_id: int, team_id: int | None) -> Team | None:
    if team_id is None:
        return None
    found = Team.objects.filter(pk=team_id, organization_id=organization_id).first()
    if found is None:
        raise FieldError({"assignment_group_id": "No team of this organisation has this id."})
    return found


def _ci(organization_id: int, ci_id: int | None, field: str) -> ConfigurationItem | None:
    if ci_id is None:
        return None
    found = ConfigurationItem.objects.filter(pk=ci_id, organization_id=organization_id).first()
    if found is None:
        raise FieldError({field: "No configuration item of this organisation has this id."})
    return found


def _category(organization_id: int, category_id: int | None, field: str) -> Category | None:
    if category_id is None:
        return None
    found = Category.objects.filter(pk=category_id, organization_id=organization_id).first()
    if found is None:
        raise FieldError({field: "No category of this organisation has this id."})
    return found


#: body field -> (model field, resolver)
_REFS = {
    "requester_id": ("requester", lambda org, v: member(org, v, "requester_id")),
    "service_id": ("service", lambda org, v: _ci(org, v, "service_id")),
    "ci_id": ("ci", lambda org, v: _ci(org, v, "ci_id")),
    "category_id": ("category", lambda org, v: _category(org, v, "category_id")),
    "subcategory_id": ("subcategory", lambda org, v: _category(org, v, "subcategory_id")),
}


def _resolve_refs(organization_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Replace ``*_id`` references by objects of the organisation; every bad one is named."""
    out: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, value in data.items():
        if key not in _REFS:
            out[key] = value
            continue
        name, resolve = _REFS[key]
        try:
            out[name] = resolve(organization_id, value)
        except FieldError as exc:
            errors.update(exc.errors)
    if errors:
        raise FieldError(errors)
    return out


# --- the queue, create, read, change ----------------------------------------------------------


@router.get(
    "/incidents",
    response={200: list[IncidentOut], **ERROR_RESPONSES},
    summary="Incidents, filtered as in the queue (state and priority and sort may repeat)",
)
@paginate(Paginated)
def list_incidents(  # type: ignore[no-untyped-def]
    request: HttpRequest,
    filters: Query[IncidentFilterIn],
    state: Annotated[
        list[StateFilter] | None, Query(description='Repeat; "open" = new, in progress, on hold')
    ] = None,
    priority: Query[list[PriorityValue] | None] = None,
    sort: Annotated[
        list[SortKey] | None, Query(description="Repeat; prefix - for descending")
    ] = None,
):
    f = IncidentFilter(**filters.dict(), state=state, priority=priority, sort=sort)
    return selectors.list_related(selectors.incidents(request.auth, f))


@router.post(
    "/incidents", response={201: IncidentDetailOut, **ERROR_RESPONSES}, summary="Raise an incident"
)
def create_incident(request: HttpRequest, payload: IncidentIn):  # type: ignore[no-untyped-def]
    user = request.auth
    org = access_organization(user, payload.organization_id)
    data = payload.dict(exclude_unset=True)
    data.pop("organization_id")
    data["channel"] = payload.channel
    group_id = data.pop("assignment_group_id", None)
    assignee_id = data.pop("assignee_id", None)
    if not has_permission(user, Incident, Action.ADD, org.pk):
        raise PermissionDenied("You may not raise incidents in this organisation.")
    data = _resolve_refs(org.pk, data)
    data["assignment_group"] = _team(org.pk, group_id)
    data["assignee"] = member(org.pk, assignee_id, "assignee_id")
    incident = actions.create_incident(acting_user=user, organization=org, **data)
    return Status(201, incident_detail(user, incident.pk))


@router.get(
    "/incidents/{incident_id}",
    response={200: IncidentDetailOut, **ERROR_RESPONSES},
    summary="An incident, with the transitions you may make now",
)
def get_incident(request: HttpRequest, incident_id: int):  # type: ignore[no-untyped-def]
    return incident_detail(request.auth, incident_id)


@router.patch(
    "/incidents/{incident_id}",
    response={200: IncidentDetailOut, **ERROR_RESPONSES},
    summary="Change descriptive fields; priority follows impact and urgency",
)
def update_incident(request: HttpRequest, incident_id: int, payload: IncidentPatch):  # type: ignore[no-untyped-def]
    user = request.auth
    incident = selectors.access_incident(user, incident_id)
    data = payload.dict(exclude_unset=True)
    for name in ("title", "impact", "urgency", "channel", "description", "location"):
        if name in data and data[name] is None:
            raise FieldError({name: "Cannot be null."})
    actions.update_incident(
        acting_user=user, incident=incident, **_resolve_refs(incident.organization_id, data)
    )
    return incident_detail(user, incident.pk)


# --- the workflow -----------------------------------------------------------------------------


@router.get(
    "/workflows/incident",
    response={200: WorkflowOut, **ERROR_RESPONSES},
    summary="The incident workflow as data: states, transitions, required fields",
)
def incident_workflow(request: HttpRequest):  # type: ignore[no-untyped-def]
    return INCIDENT.as_dict()


@router.get(
    "/incidents/{incident_id}/transitions",
    response={200: list[TransitionOut], **ERROR_RESPONSES},
    summary="The transitions you may make now, with the fields each requires",
)
def incident_transitions(request: HttpRequest, incident_id: int):  # type: ignore[no-untyped-def]
    return transitions_for(request.auth, selectors.access_incident(request.auth, incident_id))


def _transition(request: HttpRequest, incident_id: int, name: str, **values: Any) -> Incident:
    user = request.auth
    incident = selectors.access_incident(user, incident_id)
    actions.transition_incident(acting_user=user, incident=incident, transition=name, **values)
    return incident_detail(user, incident.pk)


_CONFLICT = "409 if not allowed from the current state (the message lists what is)"


@router.post(
    "/incidents/{incident_id}/start",
    response={200: IncidentDetailOut, **ERROR_RESPONSES},
    summary=f"Start work (from new or on hold); {_CONFLICT}",
)
def start_incident(request: HttpRequest, incident_id: int):  # type: ignore[no-untyped-def]
    return _transition(request, incident_id, "start")


@router.post(
    "/incidents/{incident_id}/hold",
    response={200: IncidentDetailOut, **ERROR_RESPONSES},
    summary=f"Put on hold with a reason; {_CONFLICT}",
)
def hold_incident(request: HttpRequest, incident_id: int, payload: HoldIn):  # type: ignore[no-untyped-def]
    return _transition(request, incident_id, "hold", hold_reason=payload.hold_reason or "")


@router.post(
    "/incidents/{incident_id}/resolve",
    response={200: IncidentDetailOut, **ERROR_RESPONSES},
    summary=f"Resolve with a resolution code and notes (children follow); {_CONFLICT}",
)
def resolve_incident(request: HttpRequest, incident_id: int, payload: ResolveIn):  # type: ignore[no-untyped-def]
    return _transition(
        request,
        incident_id,
        "resolve",
        resolution_code=payload.resolution_code,
        resolution_notes=payload.resolution_notes,
    )


@router.post(
    "/incidents/{incident_id}/close",
    response={200: IncidentDetailOut, **ERROR_RESPONSES},
    summary=f"Close a resolved incident; {_CONFLICT}",
)
def close_incident(request: HttpRequest, incident_id: int):  # type: ignore[no-untyped-def]
    return _transition(request, incident_id, "close")


@router.post(
    "/incidents/{incident_id}/reopen",
    response={200: IncidentDetailOut, **ERROR_RESPONSES},
    summary=f"Reopen a resolved incident, saying why; {_CONFLICT}",
)
def reopen_incident(request: HttpRequest, incident_id: int, payload: ReasonIn):  # type: ignore[no-untyped-def]
    return _transition(request, incident_id, "reopen", reason=payload.reason)


@router.post(
    "/incidents/{incident_id}/cancel",
    response={200: IncidentDetailOut, **ERROR_RESPONSES},
    summary=f"Cancel, saying why; {_CONFLICT}",
)
def cancel_incident(request: HttpRequest, incident_id: int, payload: ReasonIn):  # type: ignore[no-untyped-def]
    return _transition(request, incident_id, "cancel", reason=payload.reason)


@router.post(
    "/incidents/{incident_id}/assign",
    response={200: IncidentDetailOut, **ERROR_RESPONSES},
    summary="Assign to a team and (optionally) one of its members",
)
def assign_incident(request: HttpRequest, incident_id: int, payload: AssignIn):  # type: ignore[no-untyped-def]
    user = request.auth
    incident = selectors.access_incident(user, incident_id)
    org = incident.organization_id
    actions.assign_incident(
        acting_user=user,
        incident=incident,
        assignment_group=_team(org, payload.assignment_group_id),
        assignee=member(org, payload.assignee_id, "assignee_id"),
    )
    return incident_detail(user, incident.pk)


# --- timeline and comments --------------------------------------------------------------------


@router.get(
    "/incidents/{incident_id}/timeline",
    response={200: list[ActivityOut], **ERROR_RESPONSES},
    summary="The incident's story, oldest first (a requester sees public entries only)",
)
@paginate(Paginated)
def incident_timeline(request: HttpRequest, incident_id: int):  # type: ignore[no-untyped-def]
    user = request.auth
    incident = selectors.access_incident(user, incident_id)
    public_only = actions.is_requester_only(user, incident.organization_id)
    return timeline.timeline(user, incident, public_only=public_only)


@router.post(
    "/incidents/{incident_id}/comments",
    response={201: ActivityOut, **ERROR_RESPONSES},
    summary="A comment (public) or an internal work note (public=false, agents only)",
)
def add_comment(request: HttpRequest, incident_id: int, payload: CommentIn):  # type: ignore[no-untyped-def]
    user = request.auth
    incident = selectors.access_incident(user, incident_id)
    entry = actions.add_comment(
        acting_user=user, subject=incident, body=payload.body, public=payload.public
    )
    return Status(201, entry)


# --- attachments ------------------------------------------------------------------------------

UPLOAD_FIELDS = frozenset({"file", "public"})


def _attachments(user: Any, incident: Incident) -> Any:
    return Attachment.objects.restrict(user).filter(
        subject_type=SubjectType.INCIDENT, subject_id=incident.pk
    )


@router.post(
    "/incidents/{incident_id}/attachments",
    response={201: AttachmentOut, **ERROR_RESPONSES},
    summary="Upload a file (multipart); size and type rules of the organisation apply",
)
def add_attachment(  # type: ignore[no-untyped-def]
    request: HttpRequest,
    incident_id: int,
    file: File[UploadedFile | None] = None,
    public: Form[bool] = True,
):
    user = request.auth
    incident = selectors.access_incident(user, incident_id)
    unknown = sorted((set(request.POST) | set(request.FILES)) - UPLOAD_FIELDS)
    if unknown:
        raise FieldError({name: "Unknown field." for name in unknown})
    if file is None:
        raise FieldError({"file": "Upload a file (multipart/form-data, field 'file')."})
    limit = ServiceDeskSettings.for_org(incident.organization_id).attachment_max_bytes
    if file.size is not None and file.size > limit:
        raise FieldError({"file": f"The file is {file.size:,} bytes; the limit is {limit:,}."})
    attachment = actions.add_attachment(
        acting_user=user,
        subject=incident,
        filename=file.name or "",
        content=file.read(),
        content_type=file.content_type or "",
        public=public,
    )
    return Status(201, attachment)


@router.get(
    "/incidents/{incident_id}/attachments",
    response={200: list[AttachmentOut], **ERROR_RESPONSES},
    summary="The incident's files (a requester sees public, accepted files only)",
)
@paginate(Paginated)
def list_attachments(request: HttpRequest, incident_id: int):  # type: ignore[no-untyped-def]
    incident = selectors.access_incident(request.auth, incident_id)
    return _attachments(request.auth, incident)


@router.get(
    "/attachments/{attachment_id}/content",
    response={**ERROR_RESPONSES},
    summary="Download a file (quarantined files: agents only)",
    openapi_extra={
        "responses": {
            200: {
                "description": "The file, as an attachment",
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        }
    },
)
def download_attachment(request: HttpRequest, attachment_id: int):  # type: ignore[no-untyped-def]
    user = request.auth
    attachment = access(Attachment.objects.restrict(user), attachment_id, "attachment")
    if attachment.subject_type == SubjectType.INCIDENT:
        selectors.access_incident(user, attachment.subject_id)
    if attachment.quarantined and not has_permission(
        user, Incident, Action.CHANGE, attachment.organization_id
    ):
        raise PermissionDenied("Quarantined files are for agents only.")
    content_type = "application/octet-stream" if attachment.quarantined else attachment.content_type
    try:
        handle = attachment.file.open("rb")
    except OSError as exc:
        raise NotFound("The file is missing from storage.") from exc
    response = FileResponse(
        handle, as_attachment=True, filename=attachment.filename, content_type=content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- watchers ---------------------------------------------------------------------------------


def _watchers(incident: Incident) -> Any:
    return (
        Watcher.objects.filter(subject_type=SubjectType.INCIDENT, subject_id=incident.pk)
        .select_related("user")
        .order_by("user__full_name", "pk")
    )


@router.post(
    "/incidents/{incident_id}/watchers",
    response={200: list[WatcherOut], **ERROR_RESPONSES},
    summary="Add a watcher (yourself, or as an agent any member); returns the watchers",
)
def add_watcher(request: HttpRequest, incident_id: int, payload: WatcherIn):  # type: ignore[no-untyped-def]
    user = request.auth
    incident = selectors.access_incident(user, incident_id)
    target = member(incident.organization_id, payload.user_id, "user_id")
    actions.watch(acting_user=user, subject=incident, user=target, watching=True)
    return list(_watchers(incident))


@router.delete(
    "/incidents/{incident_id}/watchers/{user_id}",
    response={204: None, **ERROR_RESPONSES},
    summary="Stop someone (or yourself) watching the incident",
)
def remove_watcher(request: HttpRequest, incident_id: int, user_id: int):  # type: ignore[no-untyped-def]
    user = request.auth
    incident = selectors.access_incident(user, incident_id)
    watching = _watchers(incident).filter(user_id=user_id).first()
    if watching is None:
        raise NotFound("This user does not watch the incident.")
    actions.watch(acting_user=user, subject=incident, user=watching.user, watching=False)
    return Status(204, None)


# --- links ------------------------------------------------------------------------------------


def _link_targets(user: Any, incident: Incident, problem_id: Any, known_error_id: Any) -> dict:
    if problem_id is None and known_error_id is None:
        raise FieldError({"problem_id": "Give a problem_id or a known_error_id."})
    if problem_id is not None and known_error_id is not None:
        raise FieldError({"known_error_id": "Link one thing at a time."})
    org = incident.organization_id
    if problem_id is not None:
        problem = Problem.objects.restrict(user).filter(pk=problem_id, organization_id=org).first()
        if problem is None:
            raise FieldError({"problem_id": "No problem of this organisation has this id."})
        return {"problem": problem}
    known = KnownError.objects.restrict(user).filter(pk=known_error_id, organization_id=org).first()
    if known is None:
        raise FieldError({"known_error_id": "No known error of this organisation has this id."})
    return {"known_error": known}


@router.post(
    "/incidents/{incident_id}/links",
    response={200: IncidentDetailOut, **ERROR_RESPONSES},
    summary="Link a problem or a known error",
)
def link(request: HttpRequest, incident_id: int, payload: LinkIn):  # type: ignore[no-untyped-def]
    user = request.auth
    incident = selectors.access_incident(user, incident_id)
    targets = _link_targets(user, incident, payload.problem_id, payload.known_error_id)
    actions.link_incident(acting_user=user, incident=incident, **targets)
    return incident_detail(user, incident.pk)


@router.delete(
    "/incidents/{incident_id}/links",
    response={200: IncidentDetailOut, **ERROR_RESPONSES},
    summary="Unlink a problem or a known error (given as a query parameter)",
)
def unlink(  # type: ignore[no-untyped-def]
    request: HttpRequest,
    incident_id: int,
    problem_id: ObjectId | None = None,
    known_error_id: ObjectId | None = None,
):
    user = request.auth
    incident = selectors.access_incident(user, incident_id)
    targets = _link_targets(user, incident, problem_id, known_error_id)
    actions.link_incident(acting_user=user, incident=incident, unlink=True, **targets)
    return incident_detail(user, incident.pk)
