"""API of deployments from CI/CD pipelines and the deploy gate.

Webhooks (``POST /deployments`` in OpsDesk's generic shape, ``/deployments/github``,
``/deployments/gitlab``, ``/deployments/azure-devops`` in the vendors' shapes) authenticate
with the integration's token (``Authorization: Bearer``, HTTP basic password, or
``?token=``), never a user session. Every refusal (401 token, 403 signature, 400/422 shape,
404 source) is logged and kept as a `WebhookDelivery` with the first 2 KB of the body; an
accepted delivery is applied in one transaction.
"""

import functools
import json
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status
from ninja.decorators import decorate_view
from ninja.pagination import paginate
from ninja.security import HttpBearer

from opsdesk.changes import deployments as domain
from opsdesk.changes import integration_actions as integrations
from opsdesk.changes.choices import DeploymentSource
from opsdesk.changes.models import Change, DeploymentIntegration
from opsdesk.changes.pipelines import Ignored, PayloadError, parse
from opsdesk.changes.pipelines.generic import DeploymentIn, from_schema
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actions import require
from opsdesk.core.api import (
    ERROR_RESPONSES,
    MAX_ID,
    ObjectId,
    OpsDeskSessionAuth,
    Paginated,
    TokenAuth,
)
from opsdesk.core.errors import FieldError, NotFound
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access_organization

router = Router(tags=["Deployments"])


# --- authentication by integration token -----------------------------------------------------


class IntegrationTokenAuth(HttpBearer):
    """A deployment integration's token: ``Authorization: Bearer opsdi_...``, the password of
    HTTP basic auth (Azure DevOps service hooks), or ``?token=`` (GitHub, GitLab)."""

    openapi_scheme = "bearer"

    def __call__(self, request: HttpRequest) -> Any:
        raw = integrations.token_from(request)
        if not raw:
            request._deploy_refusal = "No integration token (Bearer, basic auth or ?token=)."  # type: ignore[attr-defined]
            return None
        found = integrations.find_integration(raw)
        if found is None:
            request._deploy_refusal = "Unknown integration token."  # type: ignore[attr-defined]
            return None
        request.deployment_integration = found  # type: ignore[attr-defined]
        if not found.is_active:
            request._deploy_refusal = f"The integration {found.name} is disabled."  # type: ignore[attr-defined]
            return None
        return found

    def authenticate(self, request: HttpRequest, token: str) -> Any:  # pragma: no cover
        return None


INTEGRATION_AUTH = [IntegrationTokenAuth()]
GATE_AUTH = [IntegrationTokenAuth(), TokenAuth(), OpsDeskSessionAuth()]


def _reason(response: HttpResponse) -> str:
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"HTTP {response.status_code}"
    errors = "; ".join(
        f"{e.get('field')}: {e.get('message')}" for e in body.get("errors", []) if e.get("field")
    )
    return f"{body.get('detail', '')} {errors}".strip()


def recording_refusals(source: str) -> Any:
    """Wrap an operation so that any 4xx answer is logged and kept as a WebhookDelivery."""

    def decorator(run: Any) -> Any:
        @functools.wraps(run)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            response = run(request, *args, **kwargs)
            if 400 <= response.status_code < 500:
                reason = getattr(request, "_deploy_refusal", "") or _reason(response)
                integrations.record_refusal(
                    source=kwargs.get("source") or source,
                    status_code=response.status_code,
                    reason=reason,
                    body=request.body,
                    integration=getattr(request, "deployment_integration", None),
                    remote_addr=request.META.get("REMOTE_ADDR", ""),
                )
            return response

        return wrapper

    return decorator


# --- schemas -----------------------------------------------------------------------------------


class Ref(Schema):
    id: int
    name: str


class DeploymentOut(Schema):
    id: int
    organization_id: int
    source: str
    external_id: str
    integration_id: int | None
    service: Ref | None
    ci: Ref | None
    environment: str
    version: str
    outcome: str
    started_at: Any
    finished_at: Any | None
    repository: str
    commit_sha: str
    pipeline_url: str
    triggered_by: str
    change_id: int | None
    change_number: str | None = None
    during_freeze: bool
    flag: str

    @staticmethod
    def resolve_change_number(obj: Any) -> str | None:
        return obj.change.number if obj.change_id else None


class DeliveryOut(Schema):
    status: Literal["created", "updated", "ignored"]
    note: str = ""
    deployment: DeploymentOut | None = None


class DeploymentFilterIn(Schema):
    organization: ObjectId | None = None
    service: ObjectId | None = Field(None, description="A service or CI id.")
    outcome: Literal["in_progress", "success", "failure", "cancelled"] | None = None
    environment: str = Field("", max_length=100)
    flag: Literal["no_change", "freeze"] | None = None


class GateFreezeOut(Schema):
    window_id: int
    name: str
    starts_at: Any
    ends_at: Any


class GateIncidentOut(Schema):
    id: int
    number: str
    title: str
    priority: int


class GateOut(Schema):
    allowed: bool
    reasons: list[str]
    ci: Ref
    environment: str
    at: Any
    freezes: list[GateFreezeOut]
    incidents: list[GateIncidentOut]


class GateIn(Schema):
    ci: str = Field(..., min_length=1, max_length=200, description="CI id or exact name.")
    environment: str = Field("", max_length=100)
    organization: ObjectId | None = Field(
        None, description="For a user in several organisations: where to look the CI up."
    )


# --- webhooks ----------------------------------------------------------------------------------


def _authorise(request: HttpRequest, source: str) -> DeploymentIntegration:
    """The integration of the request, if it posts this source and its signature holds."""
    integration: DeploymentIntegration = request.auth  # type: ignore[attr-defined]
    if integration.source != source:
        raise FieldError(
            {"source": f"The integration {integration.name} posts {integration.source} payloads."}
        )
    integrations.check_signature(integration, request.headers, request.body)
    return integration


def _deliver(request: HttpRequest, source: str, data: Any) -> Any:
    integration = _authorise(request, source)
    integrations.touch(integration)
    if isinstance(data, Ignored):
        return 200, {"status": "ignored", "note": data.note}
    overrides = {k: request.GET.get(k, "").strip() for k in ("service", "ci", "environment")}
    data = dict(data)
    for key in ("service", "ci"):
        if overrides[key] and data.get(key) is None:
            data[key] = overrides[key]
    if overrides["environment"] and not data.get("environment"):
        data["environment"] = overrides["environment"][:100]
    payload = request.body.decode("utf-8", errors="replace")
    try:
        stored: Any = json.loads(payload)
    except ValueError:
        stored = {}
    deployment, created = domain.record_deployment(
        integration=integration, data=data, payload=stored
    )
    deployment = domain.Deployment.objects.select_related("service", "ci", "change").get(
        pk=deployment.pk
    )
    return (201 if created else 200), {
        "status": "created" if created else "updated",
        "note": deployment.flag,
        "deployment": deployment,
    }


def _vendor(request: HttpRequest, source: str) -> Any:
    _authorise(request, source)
    try:
        payload = json.loads(request.body or b"")
    except ValueError as exc:
        raise FieldError({"body": f"Not JSON: {exc}."}) from None
    try:
        data = parse(source, payload, dict(request.headers))
    except PayloadError as exc:
        raise FieldError({exc.field: exc.message}, detail="Not a deployment payload") from None
    return _deliver(request, source, data)


DELIVERY_RESPONSES = {200: DeliveryOut, 201: DeliveryOut, **ERROR_RESPONSES}
_WEBHOOK_NOTES = (
    " Authenticate with the integration's token (Bearer, HTTP basic password, or `?token=`); "
    "`?service=`, `?ci=` and `?environment=` name the target when the payload does not. "
    "Events that are not deployments answer 200 with `status: ignored`."
)


@router.post(
    "/deployments",
    auth=INTEGRATION_AUTH,
    response=DELIVERY_RESPONSES,
    summary="Report a deployment (OpsDesk's generic shape); a redelivery with the same "
    "external_id updates it",
    description="With a secret, sign the body like GitHub: `X-OpsDesk-Signature-256: "
    "sha256=<HMAC-SHA256 hex>`." + _WEBHOOK_NOTES,
)
@decorate_view(recording_refusals(DeploymentSource.GENERIC))
def post_generic(request: HttpRequest, payload: DeploymentIn):  # type: ignore[no-untyped-def]
    try:
        data = from_schema(payload)
    except PayloadError as exc:
        raise FieldError({exc.field: exc.message}) from None
    status, body = _deliver(request, DeploymentSource.GENERIC, data)
    return Status(status, body)


@router.post(
    "/deployments/github",
    auth=INTEGRATION_AUTH,
    response=DELIVERY_RESPONSES,
    summary="GitHub webhook: deployment_status and workflow_run events (X-Hub-Signature-256 "
    "checked when the integration has a secret)",
    description="Point a repository webhook here with content type application/json."
    + _WEBHOOK_NOTES,
)
@decorate_view(recording_refusals(DeploymentSource.GITHUB))
def post_github(request: HttpRequest):  # type: ignore[no-untyped-def]
    status, body = _vendor(request, DeploymentSource.GITHUB)
    return Status(status, body)


@router.post(
    "/deployments/gitlab",
    auth=INTEGRATION_AUTH,
    response=DELIVERY_RESPONSES,
    summary="GitLab webhook: deployment events (X-Gitlab-Token compared with the secret)",
    description="Enable 'Deployment events' on the project webhook." + _WEBHOOK_NOTES,
)
@decorate_view(recording_refusals(DeploymentSource.GITLAB))
def post_gitlab(request: HttpRequest):  # type: ignore[no-untyped-def]
    status, body = _vendor(request, DeploymentSource.GITLAB)
    return Status(status, body)


@router.post(
    "/deployments/azure-devops",
    auth=INTEGRATION_AUTH,
    response=DELIVERY_RESPONSES,
    summary="Azure DevOps service hook: release deployment started/completed, build completed",
    description="A Web Hooks subscription; put the token as the basic-auth password or in an "
    "`Authorization: Bearer` header." + _WEBHOOK_NOTES,
)
@decorate_view(recording_refusals(DeploymentSource.AZURE_DEVOPS))
def post_azure_devops(request: HttpRequest):  # type: ignore[no-untyped-def]
    status, body = _vendor(request, DeploymentSource.AZURE_DEVOPS)
    return Status(status, body)


# --- reads -------------------------------------------------------------------------------------


@router.get(
    "/deployments",
    response={200: list[DeploymentOut], **ERROR_RESPONSES},
    summary="Deployments, filtered by service or CI, outcome, environment, flag",
)
@paginate(Paginated)
def list_deployments(request: HttpRequest, filters: Query[DeploymentFilterIn]):  # type: ignore[no-untyped-def]
    f = filters.dict()
    return domain.filter_deployments(
        domain.deployments(request.auth),
        organization_id=f["organization"],
        service_id=f["service"],
        outcome=f["outcome"] or "",
        environment=f["environment"].strip(),
        flag=f["flag"] or "",
    )


@router.get(
    "/deployments/{int:deployment_id}",
    response={200: DeploymentOut, **ERROR_RESPONSES},
    summary="A deployment, with the change it opened",
)
def get_deployment(request: HttpRequest, deployment_id: int):  # type: ignore[no-untyped-def]
    if deployment_id > MAX_ID:
        raise NotFound("No deployment matches the given id.")
    return domain.access_deployment(request.auth, deployment_id)


@router.post("/deployments/{source}", auth=INTEGRATION_AUTH, include_in_schema=False)
@decorate_view(recording_refusals("unknown"))
def post_unknown_source(request: HttpRequest, source: str):  # type: ignore[no-untyped-def]
    known = ", ".join(s for s in DeploymentSource.values if s != DeploymentSource.GENERIC)
    raise NotFound(f"Unknown deployment source {source[:40]!r}: one of {known}, or none.")


# --- the gate ----------------------------------------------------------------------------------


def _gate_ci(request: HttpRequest, query: GateIn) -> tuple[int, ConfigurationItem]:
    caller = request.auth
    ref = query.ci.strip()
    if isinstance(caller, DeploymentIntegration):
        org_id = caller.organization_id
        if query.organization is not None and query.organization != org_id:
            raise NotFound("No organisation matches the given id.")
        qs = ConfigurationItem.objects.filter(organization_id=org_id)
    else:
        qs = ConfigurationItem.objects.restrict(caller, Action.VIEW)
        if query.organization is not None:
            qs = qs.filter(organization_id=access_organization(caller, query.organization).pk)
    qs = qs.select_related("organization", "ci_class")
    if ref.isdigit() and len(ref) < 19:
        found = list(qs.filter(pk=int(ref))[:1])
    else:
        found = list(qs.filter(name=ref)[:2]) or list(qs.filter(name__iexact=ref)[:2])
    if not found:
        raise NotFound(f"No configuration item you may see matches ci={ref[:60]!r}.")
    if len(found) > 1:
        raise FieldError(
            {"ci": f"Several configuration items are called {ref!r}: give the id or organization."}
        )
    ci = found[0]
    if not isinstance(caller, DeploymentIntegration):
        require(caller, Change, Action.VIEW, ci.organization_id)
    return ci.organization_id, ci


@router.get(
    "/changes/gate",
    auth=GATE_AUTH,
    response={200: GateOut, **ERROR_RESPONSES},
    summary="May a pipeline deploy to this CI now? No inside a freeze window or while a P1 "
    "incident is open on it or on a service it can take down, with the reasons",
    description="Callable with an integration token or a user's token.",
)
def deploy_gate(request: HttpRequest, query: Query[GateIn]):  # type: ignore[no-untyped-def]
    org_id, ci = _gate_ci(request, query)
    if isinstance(request.auth, DeploymentIntegration):
        integrations.touch(request.auth)
    return domain.gate(org_id, ci, environment=query.environment.strip())
