"""Self-healing runbooks: what managers write (create, update, delete), what the pipeline does
with them (`consider`, the last stage), the decisions of people (`approve_run`, `reject_run`)
and the background work (`execute_run`, `verify_runs`).

A runbook matches an open alert group by its conditions, all of which must hold for one of
the group's firing alerts on a CI:

* ``ci_classes``: the CI's class key is one of them;
* ``title_contains``: the alert's or the group's title contains it (any case);
* ``labels``: Alertmanager-style matchers over the alert's labels and resource attributes;
* ``min_severity``: the alert is at least this severe.

The run targets one CI: the best-ranked root-cause candidate among the matching alerts' CIs,
else the earliest matching alert's CI. Guard rails, in this order, each refusal kept as a run
in ``refused`` with its reason:

1. rate limit: at most ``max_runs_per_ci_per_hour`` runs (refusals and rejections aside) of
   the runbook on the CI in the hour before;
2. blast radius: the group's CIs, and the CIs upstream of the target (what depends on it),
   must each be at most ``max_blast_radius``;
3. the action must still be valid (a command still on the allow-list, a template active);
4. ``dry_run``: the run records the request it would send, state ``dry_run``;
5. ``requires_approval``: state ``awaiting_approval`` until a manager approves or rejects.

Otherwise (or once approved) the run is ``running`` and queued on commit as a background
task, so the pipeline's transaction never waits on a remote system. After the action the run
is ``verifying`` until ``verify_until``; the periodic job (`verify_runs`) marks it
``succeeded`` once the group's alerts on the CI have cleared, else ``escalated``: the
incident's urgency (then impact) goes up one step and a work note says why. Every run is
audited (a change-logged row written as the pipeline) and each step is a work note on the
group's incident.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from opsdesk.cmdb.models import CIClass, ConfigurationItem
from opsdesk.core.actions import require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError, NotFound
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action
from opsdesk.events import runbook_exec as ex
from opsdesk.events.choices import (
    SEVERITY_RANK,
    EventStatus,
    GroupState,
    RunbookActionKind,
    RunState,
    Severity,
)
from opsdesk.events.models import Alert, AlertGroup, Runbook, RunbookRun

logger = logging.getLogger(__name__)

RUNBOOK_FIELDS = (
    "name",
    "description",
    "is_active",
    "conditions",
    "action_kind",
    "action",
    "dry_run",
    "requires_approval",
    "max_runs_per_ci_per_hour",
    "max_blast_radius",
    "verify_seconds",
)
CONDITION_KEYS = ("ci_classes", "title_contains", "labels", "min_severity")
MATCH_OPS = ("=", "!=", "=~", "!~")
#: Runs that count against the rate limit: everything but refusals and rejections.
COUNTED_STATES = tuple(s for s in RunState.values if s not in (RunState.REFUSED, RunState.REJECTED))
OPEN_STATES = (RunState.AWAITING_APPROVAL, RunState.RUNNING, RunState.VERIFYING)
MIN_VERIFY_SECONDS, MAX_VERIFY_SECONDS = 30, 86_400
#: How far upstream the blast radius walk looks.
BLAST_DEPTH = 6


def actor_name(runbook: Runbook) -> str:
    return f"Runbook: {runbook.name}"[:200]


# --- Conditions ---------------------------------------------------------------------------------


def _local_matches(matchers: list[dict[str, Any]], values: dict[str, Any]) -> bool:
    for m in matchers:
        actual = str(values.get(m["name"], ""))
        op, wanted = m.get("op", "="), str(m.get("value", ""))
        if op == "=" and actual != wanted:
            return False
        if op == "!=" and actual == wanted:
            return False
        if op == "=~" and not re.fullmatch(wanted, actual):
            return False
        if op == "!~" and re.fullmatch(wanted, actual):
            return False
    return True


def matches(matchers: list[dict[str, Any]], values: dict[str, Any]) -> bool:
    """Label matchers over labels and resource attributes: the silences' matcher when that
    module is there, the same semantics here otherwise."""
    if not matchers:
        return True
    try:
        from opsdesk.events.silences import matches as silence_matches
    except ImportError:
        return _local_matches(matchers, values)
    return bool(silence_matches(matchers, values))


def _check_conditions(conditions: Any) -> dict[str, str]:
    if not isinstance(conditions, dict):
        return {"conditions": "An object with ci_classes, title_contains, labels, min_severity."}
    errors = {
        f"conditions.{key}": f"Unknown condition; use {', '.join(CONDITION_KEYS)}."
        for key in conditions
        if key not in CONDITION_KEYS
    }
    classes = conditions.get("ci_classes", [])
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        errors["conditions.ci_classes"] = "A list of CI class keys, e.g. ['server']."
    elif classes:
        known = set(CIClass.objects.filter(key__in=classes).values_list("key", flat=True))
        missing = [c for c in classes if c not in known]
        if missing:
            errors["conditions.ci_classes"] = f"No CI class has the key {', '.join(missing)}."
    title = conditions.get("title_contains", "")
    if not isinstance(title, str) or len(title) > 200:
        errors["conditions.title_contains"] = "Text of at most 200 characters."
    labels = conditions.get("labels", [])
    if not isinstance(labels, list):
        errors["conditions.labels"] = 'A list of matchers {"name", "value", "op"}.'
    else:
        for m in labels:
            if not isinstance(m, dict) or not isinstance(m.get("name"), str) or not m["name"]:
                errors["conditions.labels"] = 'Each matcher is {"name", "value", "op"}.'
                break
            if set(m) - {"name", "value", "op"}:
                errors["conditions.labels"] = 'A matcher has only "name", "value" and "op".'
                break
            if not isinstance(m.get("value", ""), str):
                errors["conditions.labels"] = f"The value of the matcher on {m['name']} is text."
                break
            if m.get("op", "=") not in MATCH_OPS:
                errors["conditions.labels"] = f"Matcher op is one of {', '.join(MATCH_OPS)}."
                break
            if m.get("op") in ("=~", "!~"):
                try:
                    re.compile(m.get("value", ""))
                except re.error as exc:
                    errors["conditions.labels"] = f"Bad regular expression on {m['name']}: {exc}."
                    break
    severity = conditions.get("min_severity")
    if severity not in (None, "") and severity not in Severity.values:
        errors["conditions.min_severity"] = f"One of: {', '.join(Severity.values)}."
    if not errors and not (classes or (title or "").strip() or labels):
        errors["conditions"] = (
            "Give at least one of ci_classes, title_contains or labels: a runbook for every "
            "alert is too broad."
        )
    return errors


def alert_matches(runbook: Runbook, alert: Alert, group: AlertGroup) -> bool:
    cond = runbook.conditions or {}
    if alert.ci_id is None:
        return False
    classes = cond.get("ci_classes") or []
    if classes and alert.ci.ci_class.key not in classes:
        return False
    minimum = cond.get("min_severity")
    if minimum and SEVERITY_RANK.get(alert.severity, 9) > SEVERITY_RANK[minimum]:
        return False
    needle = (cond.get("title_contains") or "").strip().lower()
    if needle and needle not in alert.title.lower() and needle not in group.title.lower():
        return False
    labels = cond.get("labels") or []
    return not labels or matches(labels, {**(alert.resource or {}), **(alert.labels or {})})


# --- Runbook actions ------------------------------------------------------------------------------


def _check(runbook: Runbook) -> None:
    errors: dict[str, str] = {}
    runbook.name = (runbook.name or "").strip()
    if not runbook.name:
        errors["name"] = "A name is required."
    elif len(runbook.name) > 200:
        errors["name"] = "At most 200 characters."
    errors.update(_check_conditions(runbook.conditions))
    action = runbook.action
    if runbook.action_kind not in RunbookActionKind.values:
        errors["action_kind"] = f"One of: {', '.join(RunbookActionKind.values)}."
    elif not isinstance(action, dict):
        errors["action"] = "An object; its keys depend on action_kind."
    elif runbook.action_kind == RunbookActionKind.HTTP:
        errors.update(ex.http_problems(action))
        if not errors:
            runbook.action, runbook.secret_headers, problems = ex.split_secrets(
                action, runbook.secret_headers or {}
            )
            errors.update(problems)
    elif runbook.action_kind == RunbookActionKind.COMMAND:
        errors.update(ex.command_problems(action))
    else:
        errors.update(_template_problems(runbook.organization_id, action))
    if runbook.action_kind != RunbookActionKind.HTTP:
        runbook.secret_headers = {}
    for name, low, high in (
        ("max_runs_per_ci_per_hour", 1, 100),
        ("max_blast_radius", 1, 100_000),
        ("verify_seconds", MIN_VERIFY_SECONDS, MAX_VERIFY_SECONDS),
    ):
        value = getattr(runbook, name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors[name] = f"A whole number from {low} to {high}."
    for name in ("is_active", "dry_run", "requires_approval"):
        if not isinstance(getattr(runbook, name), bool):
            errors[name] = "true or false."
    if not isinstance(runbook.description, str):
        errors["description"] = "Text."
    if errors:
        raise FieldError(errors)


def _template_problems(organization_id: int, action: dict[str, Any]) -> dict[str, str]:
    from opsdesk.changes.models import ChangeTemplate

    errors = {
        f"action.{key}": "Unknown key; a standard change action takes template_id."
        for key in action
        if key != "template_id"
    }
    tid = action.get("template_id")
    if isinstance(tid, bool) or not isinstance(tid, int):
        errors["action.template_id"] = "The id of a standard-change template."
        return errors
    template = ChangeTemplate.objects.filter(pk=tid, organization_id=organization_id).first()
    if template is None:
        errors["action.template_id"] = (
            "No standard-change template of this organisation has this id."
        )
    elif not template.is_active:
        errors["action.template_id"] = f"The template {template.name} is retired."
    return errors


def _unique_name(runbook: Runbook) -> None:
    clash = Runbook.objects.filter(organization_id=runbook.organization_id, name=runbook.name)
    if runbook.pk:
        clash = clash.exclude(pk=runbook.pk)
    if clash.exists():
        raise FieldError({"name": f"A runbook named {runbook.name!r} already exists."})


@transaction.atomic
def create_runbook(
    *,
    acting_user: Any,
    organization: Organization,
    name: str,
    action_kind: str,
    action: dict[str, Any],
    conditions: dict[str, Any],
    **fields: Any,
) -> Runbook:
    """A runbook (managers and admins). New runbooks are dry runs unless ``dry_run=False``."""
    require(acting_user, Runbook, Action.ADD, organization.pk)
    unknown = sorted(set(fields) - set(RUNBOOK_FIELDS))
    if unknown:
        raise FieldError({n: "This field cannot be set here." for n in unknown})
    runbook = Runbook(
        organization=organization,
        name=name,
        action_kind=action_kind,
        action=action,
        conditions=conditions,
        **{k: ("" if k == "description" and v is None else v) for k, v in fields.items()},
    )
    _check(runbook)
    _unique_name(runbook)
    with acting_as(acting_user):
        save_validated(runbook)
    return runbook


@transaction.atomic
def update_runbook(*, acting_user: Any, runbook: Runbook, **changes: Any) -> Runbook:
    """Change any of `RUNBOOK_FIELDS`; the whole runbook is checked again."""
    require(acting_user, Runbook, Action.CHANGE, runbook.organization_id)
    unknown = sorted(set(changes) - set(RUNBOOK_FIELDS))
    if unknown:
        raise FieldError({n: "This field cannot be changed here." for n in unknown})
    runbook = Runbook.objects.select_for_update().get(pk=runbook.pk)
    for name, value in changes.items():
        setattr(runbook, name, "" if name == "description" and value is None else value)
    _check(runbook)
    _unique_name(runbook)
    with acting_as(acting_user):
        save_validated(runbook)
    return runbook


@transaction.atomic
def delete_runbook(*, acting_user: Any, runbook: Runbook) -> None:
    """Delete a runbook that never ran; one with runs is kept for their record (deactivate
    it instead: ``is_active=false``)."""
    require(acting_user, Runbook, Action.DELETE, runbook.organization_id)
    runs = RunbookRun.objects.filter(runbook=runbook).count()
    if runs:
        raise Conflict(
            f"The runbook {runbook.name} has {runs} run(s) on record: deactivate it instead.",
            field="is_active",
        )
    with acting_as(acting_user):
        runbook.delete()


# --- The engine ---------------------------------------------------------------------------------


def context_for(run: RunbookRun, alert: Alert | None = None) -> dict[str, Any]:
    """The values a runbook's templates may use (see `runbook_exec.PLACEHOLDERS`)."""
    group = run.group
    ci = run.ci
    ctx: dict[str, Any] = {
        "group": group.number,
        "group_id": group.pk,
        "group_title": group.title,
        "severity": group.severity,
        "ci": ci.name if ci else "",
        "ci_id": ci.pk if ci else "",
        "ci_class": ci.ci_class.key if ci else "",
        "service": group.service.name if group.service_id else "",
        "incident": group.incident.number if group.incident_id else "",
        "incident_id": group.incident_id or "",
        "runbook": run.runbook.name,
        "run_id": run.pk or "",
        "alert_title": alert.title if alert else group.title,
        "alert_count": group.alert_count,
    }
    if alert is not None:
        for key, value in (alert.resource or {}).items():
            ctx[f"resource_{ex.placeholder_key(str(key))}"] = value
        for key, value in (alert.labels or {}).items():
            ctx[f"label_{ex.placeholder_key(str(key))}"] = value
    return ctx


def target_alert(run: RunbookRun) -> Alert | None:
    return (
        Alert.objects.filter(group_id=run.group_id, ci_id=run.ci_id)
        .order_by("starts_at", "id")
        .first()
    )


def planned_request(run: RunbookRun, alert: Alert | None = None) -> dict[str, Any]:
    """What the run will do (or would do, for a dry run), rendered from the group."""
    runbook = run.runbook
    ctx = context_for(run, alert if alert is not None else target_alert(run))
    if runbook.action_kind == RunbookActionKind.HTTP:
        return ex.redacted(ex.http_request(runbook.sent_action(), ctx))
    if runbook.action_kind == RunbookActionKind.COMMAND:
        return ex.command_request(runbook.action, ctx)
    return {"template_id": runbook.action.get("template_id"), "ci": ctx["ci"]}


def describe(request: dict[str, Any]) -> str:
    if "url" in request:
        return f"{request['method']} {request['url']}"
    if "command" in request:
        return " ".join(request["command"])
    return f"open a standard change from template {request.get('template_id')}"


def note_run(run: RunbookRun, body: str, at: datetime | None = None) -> None:
    """A work note on the group's incident (none without one): the run's trail for people."""
    incident = run.group.incident
    if incident is None:
        return
    from opsdesk.servicedesk.actions import add_comment

    add_comment(
        acting_user=None,
        subject=incident,
        body=body,
        public=False,
        actor_name=actor_name(run.runbook),
        at=at,
        data={"runbook_id": run.runbook_id, "runbook_run_id": run.pk, "state": run.state},
    )


#: A run's references are set by the engine from rows it has just read, never from input:
#: validating them again would cost a query each per save.
RUN_REFERENCES = ("organization", "runbook", "group", "ci", "decided_by", "change")


def save_run(run: RunbookRun) -> RunbookRun:
    """Save a run as the pipeline (audited, fields validated)."""
    with acting_as(None):
        return save_validated(run, exclude=RUN_REFERENCES)


def _queue(run_id: int) -> None:
    def send() -> None:
        from opsdesk.events.runbook_tasks import execute_run_task

        try:
            execute_run_task.enqueue(run_id)
        except Exception:  # the run stays "running" without a start; the verify job requeues
            logger.exception("could not queue runbook run %s", run_id)

    transaction.on_commit(send)


def _rate_counts(runbooks: Iterable[int], cis: Iterable[int], since: datetime) -> Counter:
    rows = (
        RunbookRun.objects.filter(
            runbook_id__in=list(runbooks),
            ci_id__in=list(cis),
            requested_at__gte=since,
            state__in=COUNTED_STATES,
        )
        .values("runbook_id", "ci_id")
        .annotate(n=Count("id"))
    )
    return Counter({(r["runbook_id"], r["ci_id"]): r["n"] for r in rows})


def _upstream_count(ci: ConfigurationItem, limit: int) -> tuple[int, bool]:
    """How many CIs depend on `ci` (walked upstream), stopping a little past `limit`."""
    from opsdesk.cmdb.impact import UPSTREAM, walk

    found = walk(ci, UPSTREAM, BLAST_DEPTH, node_budget=limit + 2)
    return len(found.reached) - 1, found.truncated


def _refusal(runbook: Runbook, group_cis: int, ci: ConfigurationItem, used: int) -> str:
    if used >= runbook.max_runs_per_ci_per_hour:
        return (
            f"Rate limit: {runbook.name} already ran {used} time(s) on {ci.name} in the last "
            f"hour (at most {runbook.max_runs_per_ci_per_hour})."
        )
    if group_cis > runbook.max_blast_radius:
        return (
            f"Blast radius: the group touches {group_cis} CIs, more than the runbook's "
            f"maximum of {runbook.max_blast_radius}."
        )
    upstream, truncated = _upstream_count(ci, runbook.max_blast_radius)
    if upstream > runbook.max_blast_radius:
        more = "more than " if truncated else ""
        return (
            f"Blast radius: {more}{upstream} CIs depend on {ci.name}, more than the runbook's "
            f"maximum of {runbook.max_blast_radius}."
        )
    return _action_problem(runbook)


def _action_problem(runbook: Runbook) -> str:
    """The action checked again now: the allow-list or the template may have changed."""
    if runbook.action_kind == RunbookActionKind.COMMAND:
        problems = ex.command_problems(runbook.action or {})
    elif runbook.action_kind == RunbookActionKind.STANDARD_CHANGE:
        problems = _template_problems(runbook.organization_id, runbook.action or {})
    else:
        problems = ex.http_problems(runbook.action or {})
    return " ".join(f"{k}: {v}" for k, v in problems.items())


def consider(batch_or_group: Any, *, now: datetime | None = None) -> list[RunbookRun]:
    """The ``runbooks`` stage: runs for the groups the batch opened, or that new CIs joined
    (or for one `AlertGroup`). Returns the runs it recorded. A failure on one group is logged
    and leaves the rest of the batch alone."""
    if isinstance(batch_or_group, AlertGroup):
        org_id, ids = batch_or_group.organization_id, {batch_or_group.pk}
        now = now or timezone.now()
    else:
        batch = batch_or_group
        org_id, now = batch.organization_id, now or batch.now
        ids = set(batch.groups_opened)
        for item in batch.items:
            alert = item.alert
            if (
                alert is not None
                and alert.group_id
                and alert.ci_id
                and not item.suppressed_by
                and alert.status == EventStatus.FIRING
                and (item.created or item.status_changed)
            ):
                ids.add(alert.group_id)
    if not ids:
        return []
    runbooks = list(Runbook.objects.filter(organization_id=org_id, is_active=True))
    if not runbooks:
        return []
    groups = list(
        AlertGroup.objects.filter(organization_id=org_id, pk__in=ids, state=GroupState.OPEN)
        .select_related("incident", "service")
        .order_by("pk")
    )
    if not groups:
        return []
    alerts = list(
        Alert.objects.filter(group_id__in=[g.pk for g in groups], ci__isnull=False)
        .select_related("ci__ci_class")
        .order_by("starts_at", "id")
    )
    by_group: dict[int, list[Alert]] = {}
    for alert in alerts:
        by_group.setdefault(alert.group_id, []).append(alert)
    existing = set(
        RunbookRun.objects.filter(
            group_id__in=[g.pk for g in groups], runbook_id__in=[r.pk for r in runbooks]
        ).values_list("runbook_id", "group_id", "ci_id")
    )
    plans: list[tuple[Runbook, AlertGroup, Alert, int]] = []
    for group in groups:
        members = by_group.get(group.pk, [])
        firing = [a for a in members if a.status == EventStatus.FIRING]
        group_cis = len({a.ci_id for a in members})
        ranks = {c.get("ci_id"): i for i, c in enumerate(group.root_causes or [])}
        for runbook in runbooks:
            matching = [a for a in firing if alert_matches(runbook, a, group)]
            if not matching:
                continue
            target = min(matching, key=lambda a: (ranks.get(a.ci_id, len(ranks)), a.starts_at))
            if (runbook.pk, group.pk, target.ci_id) in existing:
                continue
            existing.add((runbook.pk, group.pk, target.ci_id))
            plans.append((runbook, group, target, group_cis))
    if not plans:
        return []
    used = _rate_counts(
        {r.pk for r, *_ in plans}, {a.ci_id for _, _, a, _ in plans}, now - timedelta(hours=1)
    )
    runs = []
    for runbook, group, target, group_cis in plans:
        try:
            with transaction.atomic():
                run = _start(runbook, group, target, group_cis, used, now)
        except Exception:
            logger.exception("runbook %s on group %s failed", runbook.pk, group.pk)
            continue
        runs.append(run)
    return runs


def _start(
    runbook: Runbook,
    group: AlertGroup,
    target: Alert,
    group_cis: int,
    used: Counter,
    now: datetime,
) -> RunbookRun:
    ci = target.ci
    key = (runbook.pk, ci.pk)
    run = RunbookRun(
        organization_id=group.organization_id,
        runbook=runbook,
        group=group,
        ci=ci,
        requested_at=now,
        dry_run=runbook.dry_run,
    )
    refusal = _refusal(runbook, group_cis, ci, used[key])
    if refusal:
        run.state, run.reason = RunState.REFUSED, refusal
        save_run(run)
        note_run(run, f"{runbook.name} was not run on {ci.name}: {refusal}", at=now)
        return run
    used[key] += 1
    if runbook.dry_run:
        run.state, run.finished_at = RunState.DRY_RUN, now
    elif runbook.requires_approval:
        run.state = RunState.AWAITING_APPROVAL
    else:
        run.state = RunState.RUNNING
    save_run(run)  # saved first: the templates may use the run's id
    run.request = planned_request(run, target)
    what = describe(run.request)
    if run.state == RunState.DRY_RUN:
        run.reason = f"Dry run: would {what}."
        save_run(run)
        note_run(run, f"{runbook.name} (dry run) on {ci.name}: would {what}.", at=now)
    elif run.state == RunState.AWAITING_APPROVAL:
        save_run(run)
        note_run(
            run,
            f"{runbook.name} matched {ci.name} and waits for a manager's approval: it will {what}.",
            at=now,
        )
    else:
        save_run(run)
        note_run(run, f"{runbook.name} started on {ci.name}: {what}.", at=now)
        _queue(run.pk)
    return run


# --- Decisions ------------------------------------------------------------------------------------


def _decidable(acting_user: Any, run: RunbookRun) -> RunbookRun:
    require(acting_user, Runbook, Action.CHANGE, run.organization_id)
    locked = (
        RunbookRun.objects.select_for_update(of=("self",))
        .select_related("runbook", "group__incident", "ci__ci_class")
        .get(pk=run.pk)
    )
    if locked.state != RunState.AWAITING_APPROVAL:
        raise Conflict(
            f"Run {locked.pk} is {locked.get_state_display().lower()}, not awaiting approval.",
            field="state",
        )
    return locked


@transaction.atomic
def approve_run(
    *, acting_user: Any, run: RunbookRun, note: str = "", now: datetime | None = None
) -> RunbookRun:
    """A manager lets a waiting run go: it is queued on commit. Refused (409) when the group
    has resolved meanwhile or the action is no longer valid."""
    run = _decidable(acting_user, run)
    now = now or timezone.now()
    if run.group.state != GroupState.OPEN:
        raise Conflict(
            f"{run.group.number} is {run.group.get_state_display().lower()}: nothing to heal.",
            field="state",
        )
    if not run.runbook.is_active:
        raise Conflict(f"The runbook {run.runbook.name} is no longer active.", field="is_active")
    problem = _action_problem(run.runbook)
    if problem:
        raise Conflict(f"The runbook's action is no longer valid: {problem}", field="action")
    run.state = RunState.RUNNING
    run.decided_by = acting_user
    if note.strip():
        run.reason = f"Approved: {note.strip()}"
    with acting_as(acting_user):
        save_validated(run)
    by = getattr(acting_user, "get_full_name", lambda: "")() or str(acting_user)
    note_run(run, f"{run.runbook.name} on {run.ci.name if run.ci else '-'} approved by {by}.", now)
    _queue(run.pk)
    return run


@transaction.atomic
def reject_run(
    *, acting_user: Any, run: RunbookRun, note: str = "", now: datetime | None = None
) -> RunbookRun:
    run = _decidable(acting_user, run)
    now = now or timezone.now()
    run.state = RunState.REJECTED
    run.decided_by = acting_user
    run.finished_at = now
    run.reason = f"Rejected: {note.strip()}" if note.strip() else "Rejected."
    with acting_as(acting_user):
        save_validated(run)
    by = getattr(acting_user, "get_full_name", lambda: "")() or str(acting_user)
    note_run(run, f"{run.runbook.name} rejected by {by}. {run.reason}", now)
    return run


# --- Reads (tenant- and permission-restricted) -----------------------------------------------------


def runbooks_for(user: Any, action: str = Action.VIEW) -> Any:
    return Runbook.objects.restrict(user, action)


def access_runbook(user: Any, runbook_id: int, action: str = Action.VIEW) -> Runbook:
    found = runbooks_for(user, action).filter(pk=runbook_id).first()
    if found is None:
        raise NotFound("No runbook matches the given id.")
    return found


def runs_for(user: Any, action: str = Action.VIEW) -> Any:
    return RunbookRun.objects.restrict(user, action).select_related(
        "runbook", "group__incident", "ci__ci_class", "decided_by", "change"
    )


def access_run(user: Any, run_id: int, action: str = Action.VIEW) -> RunbookRun:
    found = runs_for(user, action).filter(pk=run_id).first()
    if found is None:
        raise NotFound("No runbook run matches the given id.")
    return found
