"""Deployments from CI/CD pipelines, the standard changes they open and close, and the
deploy gate.

* `record_deployment` (the webhook's action) binds a normalised deployment
  (`opsdesk.changes.pipelines`) to a service or CI of the integration's organisation and
  stores it, idempotently on (organisation, source, external id). Where an active template
  matches, a standard change from it opens and closes itself with the pipeline
  (`create_change(system="Pipeline: <integration>")`, schedule, implement at the start,
  complete and close at the finish). Inside a freeze window no change is faked: the
  deployment is recorded with ``during_freeze`` and a flag naming the window.
* `gate(organization, ci)` answers "may I deploy now?": no inside a freeze window covering
  the CI, no while a P1 incident is open on it or on a service it can take down.
* The change page shows a change's deployments (section, order 50).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from opsdesk.changes import actions as change_actions
from opsdesk.changes.choices import ChangeState, CloseCode, DeploymentOutcome
from opsdesk.changes.models import Change, ChangeTemplate, Deployment, DeploymentIntegration
from opsdesk.changes.pipelines import FINAL_OUTCOMES
from opsdesk.changes.sections import Section, register_section
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actions import save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError, NotFound
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access
from opsdesk.servicedesk import timeline
from opsdesk.servicedesk.choices import OPEN_STATES, ActivityKind

SYSTEM_PREFIX = "Pipeline: "
#: Close code of the standard change for each final outcome.
CLOSE_CODES = {
    DeploymentOutcome.SUCCESS: CloseCode.SUCCESSFUL,
    DeploymentOutcome.FAILURE: CloseCode.FAILED,
    DeploymentOutcome.CANCELLED: CloseCode.BACKED_OUT,
}
#: The fields a redelivery may update on a recorded deployment.
UPDATABLE = (
    "environment",
    "version",
    "outcome",
    "finished_at",
    "repository",
    "commit_sha",
    "pipeline_url",
    "triggered_by",
)


# --- reads ---------------------------------------------------------------------------------------


def deployments(user: Any, action: str = Action.VIEW) -> QuerySet[Deployment]:
    return Deployment.objects.restrict(user, action).select_related(
        "service", "ci", "change", "integration", "organization"
    )


def access_deployment(user: Any, deployment_id: int) -> Deployment:
    """The deployment if `user` may see it, else NotFound (the same for "not yours")."""
    return access(deployments(user), deployment_id, "deployment")


def filter_deployments(
    qs: QuerySet[Deployment],
    *,
    organization_id: int | None = None,
    service_id: int | None = None,
    outcome: str = "",
    environment: str = "",
    flag: str = "",
) -> QuerySet[Deployment]:
    """The list filters of the page and the API: ``flag`` is ``no_change`` (deployments that
    opened no change) or ``freeze`` (deployed during a freeze)."""
    if organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    if service_id is not None:
        qs = qs.filter(Q(service_id=service_id) | Q(ci_id=service_id))
    if outcome:
        if outcome not in DeploymentOutcome.values:
            raise FieldError({"outcome": f"One of: {', '.join(DeploymentOutcome.values)}."})
        qs = qs.filter(outcome=outcome)
    if environment:
        qs = qs.filter(environment__iexact=environment)
    if flag == "no_change":
        qs = qs.filter(change__isnull=True)
    elif flag == "freeze":
        qs = qs.filter(during_freeze=True)
    elif flag:
        raise FieldError({"flag": "One of: no_change, freeze."})
    return qs


# --- binding a deployment to the CMDB ------------------------------------------------------------


def _lookup(organization_id: int, ref: Any, field: str) -> ConfigurationItem:
    qs = ConfigurationItem.objects.filter(organization_id=organization_id).select_related(
        "ci_class"
    )
    if isinstance(ref, int):
        found = qs.filter(pk=ref).first()
        if found is None:
            raise FieldError({field: f"No configuration item of this organisation has id {ref}."})
        return found
    matches = list(qs.filter(name=str(ref))[:2])
    if not matches:
        matches = list(qs.filter(name__iexact=str(ref))[:2])
    if len(matches) != 1:
        problem = "Several configuration items are" if matches else "No configuration item is"
        raise FieldError({field: f"{problem} called {ref!r} in this organisation."})
    return matches[0]


def resolve_target(
    integration: DeploymentIntegration, service_ref: Any, ci_ref: Any
) -> tuple[ConfigurationItem | None, ConfigurationItem | None]:
    """(service, CI) of the integration's organisation named by the payload (by id or exact
    name); without a service, the most critical business service the CI serves, else the
    integration's default service; FieldError naming ``service`` or ``ci``."""
    org = integration.organization_id
    service = _lookup(org, service_ref, "service") if service_ref is not None else None
    ci = _lookup(org, ci_ref, "ci") if ci_ref is not None else None
    if service is not None and not service.ci_class.is_service:
        if ci is None:
            service, ci = None, service
        else:
            raise FieldError({"service": f"{service.name} is a {service.ci_class.label}."})
    if ci is not None and service is None and ci.ci_class.is_service:
        service, ci = ci, None
    if service is None and ci is not None:
        # The deployment is for the most critical business service the CI serves.
        from opsdesk.cmdb.impact import upstream_services

        served = upstream_services(ci)["services"]
        if served:
            service = ConfigurationItem.objects.get(pk=served[0]["id"])
    if service is None:
        service = integration.default_service
    if service is None and ci is None:
        raise FieldError(
            {
                "service": "Name the service or CI deployed to (service, ci), or give the "
                f"integration {integration.name} a default service."
            }
        )
    return service, ci


def matching_template(
    organization_id: int,
    service: ConfigurationItem | None,
    ci: ConfigurationItem | None,
    environment: str,
) -> ChangeTemplate | None:
    """The active template whose ``match_cis`` holds the CI or the service and whose
    ``match_environments`` is empty or holds the environment; a template naming the
    environment wins over one covering any, then a CI match over a service match."""
    targets = [t.pk for t in (ci, service) if t is not None]
    candidates = (
        ChangeTemplate.objects.filter(
            organization_id=organization_id, is_active=True, match_cis__in=targets
        )
        .distinct()
        .prefetch_related("match_cis")
        .order_by("name")
    )
    env = environment.strip().lower()
    best: tuple[int, int, str] | None = None
    chosen = None
    for tpl in candidates:
        envs = [str(e).strip().lower() for e in tpl.match_environments or []]
        if envs and env not in envs:
            continue
        matched = {c.pk for c in tpl.match_cis.all()}
        rank = (0 if envs else 1, 0 if ci is not None and ci.pk in matched else 1, tpl.name)
        if best is None or rank < best:
            best, chosen = rank, tpl
    return chosen


# --- recording -------------------------------------------------------------------------------------


def _target_label(deployment: Deployment) -> str:
    names = [t.name for t in (deployment.ci, deployment.service) if t is not None]
    return names[0] if names else "?"


@transaction.atomic
def record_deployment(
    *, integration: DeploymentIntegration, data: dict[str, Any], payload: Any = None
) -> tuple[Deployment, bool]:
    """Store the normalised deployment `data` for `integration` (a system actor), creating it
    or updating the one with the same external id, and open, move or close its standard
    change. Returns (deployment, created). Everything happens in one transaction: a refusal
    leaves nothing behind."""
    if not integration.is_active:
        raise Conflict(f"The integration {integration.name} is disabled.", field="integration")
    org_id = integration.organization_id
    service, ci = resolve_target(integration, data.get("service"), data.get("ci"))
    existing = (
        Deployment.objects.select_for_update()
        .filter(organization_id=org_id, source=integration.source, external_id=data["external_id"])
        .first()
    )
    created = existing is None
    now = timezone.now()
    with acting_as(None):
        if created:
            deployment = Deployment(
                organization_id=org_id,
                integration=integration,
                source=integration.source,
                external_id=data["external_id"],
                started_at=data.get("started_at") or data.get("finished_at") or now,
            )
        else:
            deployment = existing
            if (
                deployment.outcome in FINAL_OUTCOMES
                and data["outcome"] == DeploymentOutcome.IN_PROGRESS
            ):
                # A late "running" delivery after the result: keep the result.
                data = {**data, "outcome": deployment.outcome, "finished_at": None}
            if data.get("started_at") and data["started_at"] < deployment.started_at:
                deployment.started_at = data["started_at"]
        deployment.service = service
        deployment.ci = ci
        for name in UPDATABLE:
            value = data.get(name)
            if value in (None, "") and name != "outcome":
                continue
            setattr(deployment, name, value)
        if deployment.outcome in FINAL_OUTCOMES and deployment.finished_at is None:
            deployment.finished_at = now
        if deployment.finished_at and deployment.finished_at < deployment.started_at:
            deployment.finished_at = deployment.started_at
        deployment.payload = payload if isinstance(payload, dict) else {}
        save_validated(deployment)
        _sync_change(deployment, integration, partial=bool(data.get("partial")))
    return deployment, created


def _planned(deployment: Deployment, template: ChangeTemplate) -> tuple[datetime, datetime]:
    start = deployment.started_at
    end = deployment.finished_at
    if end is None or end <= start:
        end = start + timedelta(minutes=max(template.default_duration_minutes, 1))
    return start, end


def _flag(deployment: Deployment, text: str, during_freeze: bool = False) -> None:
    if deployment.flag != text or deployment.during_freeze != during_freeze:
        deployment.flag = text[:500]
        deployment.during_freeze = during_freeze
        save_validated(deployment)


def _sync_change(deployment: Deployment, integration: DeploymentIntegration, partial: bool) -> None:
    system = f"{SYSTEM_PREFIX}{integration.name}"[:200]
    if deployment.change_id is None:
        if deployment.during_freeze:
            return
        _open_change(deployment, integration, system)
        if deployment.change_id is None:
            return
    _advance(deployment, system, partial)


def _open_change(deployment: Deployment, integration: DeploymentIntegration, system: str) -> None:
    from opsdesk.changes.windows import freezes_overlapping

    org_id = deployment.organization_id
    template = matching_template(org_id, deployment.service, deployment.ci, deployment.environment)
    if template is None:
        env = f" in {deployment.environment}" if deployment.environment else ""
        _flag(deployment, f"No standard-change template matches {_target_label(deployment)}{env}.")
        return
    start, end = _planned(deployment, template)
    cis = [deployment.ci] if deployment.ci else []
    services = [deployment.service] if deployment.service else []
    freezes = freezes_overlapping(org_id, start, end, cis=cis or services, services=services)
    if freezes:
        names = ", ".join(dict.fromkeys(f["name"] for f in freezes))
        _flag(deployment, f"Deployed during freeze {names}.", during_freeze=True)
        return
    target = _target_label(deployment)
    title = f"{template.name}: {target}"
    if deployment.version:
        title += f" {deployment.version}"
    if deployment.environment:
        title += f" to {deployment.environment}"
    try:
        with transaction.atomic():
            change = change_actions.create_change(
                acting_user=None,
                organization=Organization.objects.get(pk=org_id),
                template=template,
                system=system,
                at=start,
                title=title[:255],
                description=(
                    f"Opened by the pipeline {integration.name} for deployment "
                    f"{deployment.external_id}."
                ),
                cis=cis or list(template.cis.all()),
                service=deployment.service,
                planned_start=start,
                planned_end=end,
            )
            change_actions.transition_change(
                acting_user=None, change=change, name="schedule", system=system, at=start
            )
            change_actions.transition_change(
                acting_user=None,
                change=change,
                name="implement",
                system=system,
                at=start,
                actual_start=start,
            )
            timeline.record(
                change,
                ActivityKind.LINK,
                actor_name=system,
                data={
                    "deployment": deployment.pk,
                    "external_id": deployment.external_id,
                    "version": deployment.version,
                    "environment": deployment.environment,
                    "url": deployment.pipeline_url,
                },
                at=start,
            )
    except (FieldError, Conflict) as exc:
        detail = exc.detail if isinstance(exc, Conflict) else "; ".join(exc.errors.values())
        freeze = "freeze" in detail.lower()
        _flag(deployment, f"No standard change: {detail}", during_freeze=freeze)
        return
    deployment.change = change
    deployment.flag = ""
    save_validated(deployment)


def _advance(deployment: Deployment, system: str, partial: bool) -> None:
    """Move the change with the deployment: complete and close it when the outcome is final."""
    change = Change.objects.select_for_update().get(pk=deployment.change_id)
    if deployment.outcome not in FINAL_OUTCOMES:
        return
    end = deployment.finished_at or timezone.now()
    if change.state == ChangeState.IMPLEMENT:
        code = CLOSE_CODES[deployment.outcome]
        if code == CloseCode.SUCCESSFUL and partial:
            code = CloseCode.SUCCESSFUL_WITH_ISSUES
        change_actions.transition_change(
            acting_user=None,
            change=change,
            name="complete",
            system=system,
            at=end,
            close_code=code,
            actual_end=end,
        )
    if change.state != ChangeState.REVIEW:
        return
    run = f" Run: {deployment.pipeline_url}" if deployment.pipeline_url else ""
    notes = (
        f"Closed by the pipeline: deployment {deployment.external_id} "
        f"{deployment.get_outcome_display().lower()}.{run}"
    )
    try:
        with transaction.atomic():
            change_actions.transition_change(
                acting_user=None,
                change=change,
                name="close",
                system=system,
                at=end,
                close_notes=notes,
            )
    except (FieldError, Conflict) as exc:
        detail = exc.detail if isinstance(exc, Conflict) else "; ".join(exc.errors.values())
        _flag(deployment, f"{change.number} stays in review: {detail}")
        return
    if deployment.flag:
        _flag(deployment, "")


# --- the gate --------------------------------------------------------------------------------------


def gate(
    organization: Organization | int,
    ci: ConfigurationItem,
    environment: str = "",
    at: datetime | None = None,
) -> dict[str, Any]:
    """May a pipeline deploy to `ci` now? ``{"allowed", "reasons", "freezes", "incidents"}``:
    no inside a freeze window covering the CI's services, no while a P1 incident is open on
    the CI, on its service, or on a business service the CI can take down."""
    from opsdesk.changes.windows import describe_span, freezes_overlapping, zone_of
    from opsdesk.cmdb.impact import upstream_services
    from opsdesk.servicedesk.models import Incident

    org_id = organization if isinstance(organization, int) else organization.pk
    if ci.organization_id != org_id:
        raise NotFound("No configuration item matches the given id.")
    now = at or timezone.now()
    reasons: list[str] = []
    freezes = freezes_overlapping(org_id, now, now + timedelta(seconds=1), cis=[ci])
    zone = zone_of(ci.organization)
    for f in freezes:
        span = describe_span(f["starts_at"], f["ends_at"], zone)
        scope = ", ".join(f["services"]) or "the whole organisation"
        reasons.append(f"Freeze window {f['name']} ({span}) covers {scope}.")
    reached = {s["id"]: s["name"] for s in upstream_services(ci)["services"]}
    reached[ci.pk] = ci.name
    incidents = list(
        Incident.objects.filter(organization_id=org_id, priority=1, state__in=OPEN_STATES)
        .filter(Q(ci_id__in=reached) | Q(service_id__in=reached))
        .select_related("ci", "service")
        .order_by("opened_at")[:20]
    )
    for incident in incidents:
        on = incident.ci if incident.ci_id in reached else incident.service
        reasons.append(f"P1 incident {incident.number} is open on {on.name}: {incident.title}")
    return {
        "allowed": not reasons,
        "ci": {"id": ci.pk, "name": ci.name},
        "environment": environment,
        "at": now,
        "reasons": reasons,
        "freezes": [
            {
                "window_id": f["window_id"],
                "name": f["name"],
                "starts_at": f["starts_at"],
                "ends_at": f["ends_at"],
            }
            for f in freezes
        ],
        "incidents": [
            {"id": i.pk, "number": i.number, "title": i.title, "priority": i.priority}
            for i in incidents
        ],
    }


# --- the change page ------------------------------------------------------------------------------


@register_section
def deployments_section(user: Any, change: Change) -> Section | None:
    rows = list(deployments(user).filter(change_id=change.pk).order_by("-started_at")[:20])
    if not rows:
        return None
    return Section(
        title="Deployments",
        template="changes/deployments/_section.html",
        context={"deployments": rows},
        order=50,
    )
