"""API routes of problems and known errors, and the known errors suggested for an incident.

Transitions are explicit operations (``POST /problems/{id}/resolve``) that obey the same
declared workflow as the pages. Requesters see nothing here: problems and known errors are
not in their role's permissions.
"""

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from opsdesk.accounts.models import Team, User
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actions import require
from opsdesk.core.api import ERROR_RESPONSES, Paginated
from opsdesk.core.errors import FieldError
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access_organization
from opsdesk.problems import actions, selectors
from opsdesk.problems.models import KnownError, Problem
from opsdesk.problems.schemas import (
    FixIn,
    IncidentLinkIn,
    IncidentRef,
    KnownErrorFilterIn,
    KnownErrorIn,
    KnownErrorOut,
    KnownErrorPatch,
    ProblemDetailOut,
    ProblemFilterIn,
    ProblemIn,
    ProblemOut,
    ProblemPatch,
    ProblemTransitionOut,
    ReasonIn,
    ResolveIn,
    SuggestionOut,
)
from opsdesk.servicedesk.models import Incident
from opsdesk.servicedesk.selectors import access_incident

router = Router(tags=["Problems and known errors"])


# --- references in bodies ------------------------------------------------------------------


def _ci(user: Any, organization_id: int, pk: int | None, field: str) -> ConfigurationItem | None:
    if pk is None:
        return None
    found = (
        ConfigurationItem.objects.restrict(user, Action.VIEW)
        .filter(pk=pk, organization_id=organization_id)
        .select_related("ci_class")
        .first()
    )
    if found is None:
        raise FieldError({field: "No configuration item of this organisation has this id."})
    return found


def _cis(user: Any, organization_id: int, ids: list[int], field: str = "ci_ids") -> list[Any]:
    ids = list(dict.fromkeys(ids))
    found = list(
        ConfigurationItem.objects.restrict(user, Action.VIEW).filter(
            pk__in=ids, organization_id=organization_id
        )
    )
    missing = sorted(set(ids) - {ci.pk for ci in found})
    if missing:
        listed = ", ".join(str(i) for i in missing)
        raise FieldError({field: f"No configuration item of this organisation has id {listed}."})
    return found


def _team(organization_id: int, pk: int | None) -> Team | None:
    if pk is None:
        return None
    found = Team.objects.filter(pk=pk, organization_id=organization_id).first()
    if found is None:
        raise FieldError({"assignment_group_id": "No team of this organisation has this id."})
    return found


def _user(organization_id: int, pk: int | None) -> User | None:
    if pk is None:
        return None
    found = User.objects.filter(pk=pk, memberships__organization_id=organization_id).first()
    if found is None:
        raise FieldError({"assignee_id": "No member of this organisation has this id."})
    return found


def _incidents(user: Any, ids: list[int], organization_id: int | None = None) -> list[Incident]:
    ids = list(dict.fromkeys(ids))
    qs = Incident.objects.restrict(user, Action.VIEW).filter(pk__in=ids)
    if organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    by_pk = {i.pk: i for i in qs.select_related("organization", "service", "ci")}
    missing = [i for i in ids if i not in by_pk]
    if missing:
        listed = ", ".join(str(i) for i in missing)
        raise FieldError({"incident_ids": f"No incident you may see has id {listed}."})
    return [by_pk[i] for i in ids]


def _problem_changes(user: Any, organization_id: int, data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name in ("service_id", "ci_id"):
            out[name.removesuffix("_id")] = _ci(user, organization_id, value, name)
        elif name == "assignment_group_id":
            out["assignment_group"] = _team(organization_id, value)
        elif name == "assignee_id":
            out["assignee"] = _user(organization_id, value)
        else:
            out[name] = value
    return out


def _problem(user: Any, problem_id: int, action: str = Action.VIEW) -> Problem:
    return selectors.access_problem(user, problem_id, action)


def _problem_out(problem: Problem) -> Problem:
    return (
        Problem.objects.select_related("service", "ci", "assignment_group", "assignee")
        .filter(pk=problem.pk)
        .get()
    )


# --- problems ------------------------------------------------------------------------------


@router.get(
    "/problems",
    response={200: list[ProblemOut], **ERROR_RESPONSES},
    summary="Problems, filtered by state ('open' for every open state), priority, team ...",
)
@paginate(Paginated)
def list_problems(request: HttpRequest, filters: Query[ProblemFilterIn]):  # type: ignore[no-untyped-def]
    f = selectors.ProblemFilter(**filters.dict())
    return selectors.problem_list_related(selectors.problems(request.auth, f))


@router.post(
    "/problems",
    response={201: ProblemDetailOut, **ERROR_RESPONSES},
    summary="Open a problem, optionally raised from incidents (then of their organisation)",
)
def create_problem(request: HttpRequest, payload: ProblemIn):  # type: ignore[no-untyped-def]
    user = request.auth
    data = payload.dict(exclude_unset=True)
    org_id = data.pop("organization_id", None)
    incident_ids = data.pop("incident_ids", [])
    title = data.pop("title", None) or ""
    if org_id is not None:
        org = access_organization(user, org_id)
    elif incident_ids:
        org = _incidents(user, incident_ids)[0].organization
    else:
        raise FieldError({"organization_id": "Give the organisation, or incidents of it."})
    require(user, Problem, Action.ADD, org.pk)
    incidents = _incidents(user, incident_ids, org.pk) if incident_ids else []
    fields = _problem_changes(user, org.pk, data)
    if incidents:
        problem = actions.raise_problem_from_incidents(
            acting_user=user, incidents=incidents, title=title, **fields
        )
    else:
        if not title.strip():
            raise FieldError({"title": "A title is required."})
        problem = actions.create_problem(acting_user=user, organization=org, title=title, **fields)
    return Status(201, _problem_out(problem))


@router.get("/problems/{problem_id}", response={200: ProblemDetailOut, **ERROR_RESPONSES})
def get_problem(request: HttpRequest, problem_id: int):  # type: ignore[no-untyped-def]
    return _problem_out(_problem(request.auth, problem_id))


@router.patch(
    "/problems/{problem_id}",
    response={200: ProblemDetailOut, **ERROR_RESPONSES},
    summary="Change a problem: description, RCA notes, root cause, workaround, service, CI, "
    "assignment (the assignee must be a member of the group)",
)
def update_problem(request: HttpRequest, problem_id: int, payload: ProblemPatch):  # type: ignore[no-untyped-def]
    user = request.auth
    problem = _problem(user, problem_id)
    data = payload.dict(exclude_unset=True)
    nulls = [k for k in ("title",) if k in data and data[k] is None]
    if nulls:
        raise FieldError({k: "Cannot be null." for k in nulls})
    for text in ("description", "rca_notes", "root_cause", "workaround"):
        if text in data and data[text] is None:
            data[text] = ""
    if "priority" in data and data["priority"] is None:
        raise FieldError({"priority": "Cannot be null."})
    actions.update_problem(
        acting_user=user, problem=problem, **_problem_changes(user, problem.organization_id, data)
    )
    return _problem_out(problem)


def _transition(request: HttpRequest, problem_id: int, transition: str, **values: Any) -> Problem:
    problem = _problem(request.auth, problem_id)
    actions.transition_problem(
        acting_user=request.auth, problem=problem, transition=transition, **values
    )
    out = _problem_out(problem)
    out.resolved_incidents = getattr(problem, "resolved_incidents", [])  # type: ignore[attr-defined]
    return out


_T = {200: ProblemTransitionOut, **ERROR_RESPONSES}


@router.post("/problems/{problem_id}/assess", response=_T, summary="New -> assess")
def assess_problem(request: HttpRequest, problem_id: int):  # type: ignore[no-untyped-def]
    return _transition(request, problem_id, "assess")


@router.post(
    "/problems/{problem_id}/analyse",
    response=_T,
    summary="New or assess -> root-cause analysis",
)
def analyse_problem(request: HttpRequest, problem_id: int):  # type: ignore[no-untyped-def]
    return _transition(request, problem_id, "analyse")


@router.post(
    "/problems/{problem_id}/fix",
    response=_T,
    summary="Root-cause analysis -> fix in progress (needs the root cause)",
)
def fix_problem(request: HttpRequest, problem_id: int, payload: FixIn):  # type: ignore[no-untyped-def]
    return _transition(request, problem_id, "fix", root_cause=payload.root_cause)


@router.post(
    "/problems/{problem_id}/resolve",
    response=_T,
    summary="Resolve (root cause and resolution notes required); resolve_incidents also "
    "resolves every open linked incident",
)
def resolve_problem(request: HttpRequest, problem_id: int, payload: ResolveIn):  # type: ignore[no-untyped-def]
    return _transition(request, problem_id, "resolve", **payload.dict())


@router.post("/problems/{problem_id}/close", response=_T, summary="Resolved -> closed")
def close_problem(request: HttpRequest, problem_id: int):  # type: ignore[no-untyped-def]
    return _transition(request, problem_id, "close")


@router.post(
    "/problems/{problem_id}/reopen",
    response=_T,
    summary="Resolved -> root-cause analysis again (reason required)",
)
def reopen_problem(request: HttpRequest, problem_id: int, payload: ReasonIn):  # type: ignore[no-untyped-def]
    return _transition(request, problem_id, "reopen", reason=payload.reason)


@router.post(
    "/problems/{problem_id}/cancel",
    response=_T,
    summary="Cancel an open problem (reason required)",
)
def cancel_problem(request: HttpRequest, problem_id: int, payload: ReasonIn):  # type: ignore[no-untyped-def]
    return _transition(request, problem_id, "cancel", reason=payload.reason)


@router.get(
    "/problems/{problem_id}/incidents",
    response={200: list[IncidentRef], **ERROR_RESPONSES},
    summary="The incidents linked to a problem",
)
@paginate(Paginated)
def list_problem_incidents(request: HttpRequest, problem_id: int):  # type: ignore[no-untyped-def]
    return selectors.problem_incidents(request.auth, _problem(request.auth, problem_id))


@router.post(
    "/problems/{problem_id}/incidents",
    response={200: list[IncidentRef], **ERROR_RESPONSES},
    summary="Link more incidents (of the problem's organisation); returns those newly linked",
)
def link_problem_incidents(request: HttpRequest, problem_id: int, payload: IncidentLinkIn):  # type: ignore[no-untyped-def]
    user = request.auth
    problem = _problem(user, problem_id)
    require(user, Problem, Action.CHANGE, problem.organization_id)
    incidents = _incidents(user, payload.incident_ids, problem.organization_id)
    return actions.link_incidents(acting_user=user, problem=problem, incidents=incidents)


# --- known errors --------------------------------------------------------------------------


def _known_error_out(known_error: KnownError) -> KnownError:
    return KnownError.objects.prefetch_related("cis").get(pk=known_error.pk)


@router.get(
    "/known-errors",
    response={200: list[KnownErrorOut], **ERROR_RESPONSES},
    summary="Known errors, filtered by state, CI, problem or words",
)
@paginate(Paginated)
def list_known_errors(request: HttpRequest, filters: Query[KnownErrorFilterIn]):  # type: ignore[no-untyped-def]
    return selectors.known_errors(request.auth, **filters.dict()).prefetch_related("cis")


@router.post(
    "/known-errors",
    response={201: KnownErrorOut, **ERROR_RESPONSES},
    summary="Create a known error, standalone or from a problem (copies its root cause and "
    "workaround), linked to CIs",
)
def create_known_error(request: HttpRequest, payload: KnownErrorIn):  # type: ignore[no-untyped-def]
    user = request.auth
    data = payload.dict(exclude_unset=True)
    problem = None
    if data.get("problem_id") is not None:
        problem = _problem(user, data["problem_id"])
        org = problem.organization
        if data.get("organization_id") not in (None, org.pk):
            raise FieldError({"organization_id": "The problem belongs to another organisation."})
    elif data.get("organization_id") is not None:
        org = access_organization(user, data["organization_id"])
    else:
        raise FieldError({"organization_id": "Give the organisation, or the problem."})
    require(user, KnownError, Action.ADD, org.pk)
    cis = _cis(user, org.pk, data["ci_ids"]) if data.get("ci_ids") is not None else None
    state = data.get("state", payload.state)
    if problem is not None:
        known_error = actions.create_known_error_from_problem(
            acting_user=user,
            problem=problem,
            title=data.get("title") or "",
            symptoms=data.get("symptoms") or "",
            cis=cis,
            state=state,
        )
        extra = {k: data[k] for k in ("root_cause", "workaround") if data.get(k)}
        if extra:
            actions.update_known_error(acting_user=user, known_error=known_error, **extra)
    else:
        known_error = actions.create_known_error(
            acting_user=user,
            organization=org,
            title=data.get("title") or "",
            workaround=data.get("workaround") or "",
            symptoms=data.get("symptoms") or "",
            root_cause=data.get("root_cause") or "",
            state=state,
            cis=cis or [],
        )
    return Status(201, _known_error_out(known_error))


@router.get("/known-errors/{known_error_id}", response={200: KnownErrorOut, **ERROR_RESPONSES})
def get_known_error(request: HttpRequest, known_error_id: int):  # type: ignore[no-untyped-def]
    return _known_error_out(selectors.access_known_error(request.auth, known_error_id))


@router.patch(
    "/known-errors/{known_error_id}",
    response={200: KnownErrorOut, **ERROR_RESPONSES},
    summary="Change a known error's text or CIs (ci_ids replaces the set)",
)
def update_known_error(request: HttpRequest, known_error_id: int, payload: KnownErrorPatch):  # type: ignore[no-untyped-def]
    user = request.auth
    known_error = selectors.access_known_error(user, known_error_id)
    data = payload.dict(exclude_unset=True)
    if "title" in data and data["title"] is None:
        raise FieldError({"title": "Cannot be null."})
    changes: dict[str, Any] = {}
    for name, value in data.items():
        if name == "ci_ids":
            changes["cis"] = _cis(user, known_error.organization_id, value or [])
        else:
            changes[name] = value if value is not None else ""
    actions.update_known_error(acting_user=user, known_error=known_error, **changes)
    return _known_error_out(known_error)


@router.post(
    "/known-errors/{known_error_id}/publish",
    response={200: KnownErrorOut, **ERROR_RESPONSES},
    summary="Publish a draft known error (it is then suggested for incidents)",
)
def publish_known_error(request: HttpRequest, known_error_id: int):  # type: ignore[no-untyped-def]
    known_error = selectors.access_known_error(request.auth, known_error_id)
    actions.transition_known_error(
        acting_user=request.auth, known_error=known_error, transition="publish"
    )
    return _known_error_out(known_error)


@router.post(
    "/known-errors/{known_error_id}/retire",
    response={200: KnownErrorOut, **ERROR_RESPONSES},
    summary="Retire a known error (no longer suggested; kept for history)",
)
def retire_known_error(request: HttpRequest, known_error_id: int, payload: ReasonIn):  # type: ignore[no-untyped-def]
    known_error = selectors.access_known_error(request.auth, known_error_id)
    actions.retire_known_error(
        acting_user=request.auth, known_error=known_error, reason=payload.reason
    )
    return _known_error_out(known_error)


# --- suggestions ---------------------------------------------------------------------------


@router.get(
    "/incidents/{incident_id}/suggested-known-errors",
    response={200: list[SuggestionOut], **ERROR_RESPONSES},
    summary="Published known errors that fit an incident (same CI, a CI it depends on, its "
    "service, or shared words), best first, each with why",
)
def suggested_known_errors(
    request: HttpRequest, incident_id: int, limit: int = Query(5, ge=1, le=20)
):  # type: ignore[no-untyped-def]
    user = request.auth
    incident = access_incident(user, incident_id)
    require(user, KnownError, Action.VIEW, incident.organization_id)
    return [
        {"known_error": s.known_error, "score": s.score, "reasons": s.reasons}
        for s in selectors.suggested_known_errors(user, incident, limit=limit)
    ]
