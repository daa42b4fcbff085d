"""Clocks of tickets, recomputed from their timeline (see `opsdesk.sla.engine`).

`recompute_incidents` is the one way clocks are written: for each incident it loads the
history, finds the definitions that apply, replays every clock and upserts the `Clock`
rows (deleting clocks whose definition no longer applies). It returns what moved, so
callers that recompute because a calendar or definition changed can record it.

History comes from the incident's `Activity` rows:

- ``created``: the initial state and priority;
- ``state``: ``to``, ``hold_reason``, ``transition``;
- ``assigned``: ``group_id`` (or the group's name, for imported history) and whether a
  person was assigned (that is a first response);
- ``field``: ``changes.priority = [old, new]``;
- ``comment``: a public reply from someone other than the requester is a first response.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from opsdesk.sla.calendars import OrgCalendars
from opsdesk.sla.choices import Kind, Metric
from opsdesk.sla.engine import Change, ClockResult, ClockRules, compute, stretches
from opsdesk.sla.models import Clock, ClockEvent, Definition

#: Timeline kinds that can move a clock.
CLOCK_KINDS = ("created", "state", "assigned", "field", "comment")
RESPONSE_STOP = frozenset({"responded", "resolved", "closed", "cancelled"})
UC_DEFAULT_RUN = frozenset({"on_hold:awaiting_vendor"})


# --- definitions -> rules ------------------------------------------------------------------


@dataclass
class LoadedDefinition:
    definition: Definition
    service_ids: frozenset[int]
    team_name: str = ""
    rules: dict[str, ClockRules] = field(default_factory=dict)

    def applies(self, incident: Any) -> bool:
        d = self.definition
        if not d.is_active:
            return False
        if self.service_ids and incident.service_id not in self.service_ids:
            return False
        if d.priorities and incident.priority not in {int(p) for p in d.priorities}:
            return False
        return all(condition_holds(c, incident) for c in d.conditions or [])


def _targets(minutes: dict[str, Any]) -> dict[int, int]:
    return {int(p): int(float(m) * 60) for p, m in (minutes or {}).items() if m not in (None, "")}


def rules_for(definition: Definition, metric: str, team_name: str = "") -> ClockRules | None:
    """The clock rules a definition gives one metric, or None when it sets no target."""
    targets = _targets(
        definition.response_minutes if metric == Metric.RESPONSE else definition.resolution_minutes
    )
    if not targets:
        return None
    run_when = frozenset(definition.run_when or [])
    if definition.kind == Kind.UC and not run_when:
        run_when = UC_DEFAULT_RUN
    stop_when = frozenset(definition.stop_when or [])
    if metric == Metric.RESPONSE:
        stop_when = stop_when | RESPONSE_STOP
    return ClockRules(
        metric=metric,
        targets=targets,
        start_when=frozenset(definition.start_when or []),
        pause_when=frozenset(definition.pause_when or []),
        stop_when=stop_when,
        run_when=run_when,
        reset_when=frozenset(definition.reset_when or []),
        team=definition.team_id if definition.kind == Kind.OLA else None,
        team_names=frozenset({team_name})
        if definition.kind == Kind.OLA and team_name
        else frozenset(),
        thresholds=tuple(
            sorted({int(t) for t in definition.warning_thresholds or [] if 0 < int(t) < 100})
        ),
    )


def load_definitions(organization_id: int) -> list[LoadedDefinition]:
    loaded: list[LoadedDefinition] = []
    definitions = (
        Definition.objects.filter(organization_id=organization_id, is_active=True)
        .select_related("team")
        .prefetch_related("services")
    )
    for d in definitions:
        item = LoadedDefinition(
            d,
            frozenset(s.pk for s in d.services.all()),
            d.team.name if d.team_id else "",
        )
        for metric in (Metric.RESPONSE, Metric.RESOLUTION):
            rules = rules_for(d, metric, item.team_name)
            if rules is not None:
                item.rules[metric] = rules
        loaded.append(item)
    return loaded


CONDITION_FIELDS = {
    "channel": lambda i: i.channel,
    "category": lambda i: i.category.name if i.category_id else "",
    "category_id": lambda i: i.category_id,
    "impact": lambda i: i.impact,
    "urgency": lambda i: i.urgency,
    "location": lambda i: i.location,
    "service": lambda i: i.service_id,
    "ci": lambda i: i.ci_id,
    "assignment_group": lambda i: i.assignment_group_id,
    "country": lambda i: ticket_country(i),
    "is_major": lambda i: i.is_major,
}
CONDITION_OPS = ("eq", "ne", "in", "not_in", "contains")


def condition_holds(condition: dict[str, Any], incident: Any) -> bool:
    getter = CONDITION_FIELDS.get(condition.get("field", ""))
    if getter is None:
        return False
    value = getter(incident)
    wanted = condition.get("value")
    op = condition.get("op", "eq")
    if op == "eq":
        return str(value) == str(wanted)
    if op == "ne":
        return str(value) != str(wanted)
    if op in ("in", "not_in"):
        options = {str(w) for w in (wanted if isinstance(wanted, list) else [wanted])}
        return (str(value) in options) == (op == "in")
    if op == "contains":
        return str(wanted).lower() in str(value or "").lower()
    return False


def ticket_country(incident: Any) -> str:
    for ci in (getattr(incident, "ci", None), getattr(incident, "service", None)):
        if ci is not None and getattr(ci, "country", ""):
            return ci.country
    return ""


# --- history -------------------------------------------------------------------------------


def changes_from_activities(
    rows: Iterable[tuple[str, datetime, dict[str, Any], bool, int | None]],
    requester_id: int | None,
) -> tuple[list[Change], int | None]:
    """(changes, initial priority) from ``(kind, at, data, public, actor_id)`` rows."""
    changes: list[Change] = []
    initial: int | None = None
    for kind, at, data, public, actor_id in rows:
        data = data or {}
        if kind == "created":
            if data.get("priority") is not None:
                initial = int(data["priority"])
                changes.append(Change(at, priority=initial))
        elif kind == "state":
            to = data.get("to")
            if to:
                changes.append(
                    Change(
                        at,
                        state=to,
                        hold_reason=data.get("hold_reason") or "",
                        transition=data.get("transition") or "",
                    )
                )
        elif kind == "assigned":
            group = data.get("group_id")
            if group is None:
                group = data.get("group")  # imported history names the group
            person = data.get("assignee_id") or data.get("assignee")
            changes.append(Change(at, group=group, responded=bool(person)))
        elif kind == "field":
            prio = (data.get("changes") or {}).get("priority")
            if isinstance(prio, list) and len(prio) == 2 and prio[1] is not None:
                with contextlib.suppress(TypeError, ValueError):
                    changes.append(Change(at, priority=int(prio[1])))
        elif kind == "comment" and public and actor_id is not None and actor_id != requester_id:
            changes.append(Change(at, responded=True))
    return changes, initial


def load_histories(incidents: list[Any]) -> dict[int, list[Change]]:
    from opsdesk.servicedesk.models import Activity

    by_id = {i.pk: i for i in incidents}
    rows: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    ids = list(by_id)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for sid, kind, at, data, public, actor_id in (
            Activity.objects.filter(
                subject_type="incident", subject_id__in=chunk, kind__in=CLOCK_KINDS
            )
            .order_by("subject_id", "at", "id")
            .values_list("subject_id", "kind", "at", "data", "public", "actor_id")
        ):
            rows[sid].append((kind, at, data, public, actor_id))
    histories: dict[int, list[Change]] = {}
    for pk, incident in by_id.items():
        changes, initial = changes_from_activities(rows.get(pk, []), incident.requester_id)
        if initial is None:
            changes.insert(0, Change(incident.opened_at, priority=incident.priority))
        histories[pk] = changes
    return histories


# --- recompute -----------------------------------------------------------------------------


@dataclass
class Moved:
    number: str
    subject_id: int
    definition: str
    metric: str
    before: datetime | None
    after: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "subject_id": self.subject_id,
            "definition": self.definition,
            "metric": self.metric,
            "from": self.before.isoformat() if self.before else None,
            "to": self.after.isoformat() if self.after else None,
        }


@dataclass
class Summary:
    tickets: int = 0
    clocks: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    moved: list[Moved] = field(default_factory=list)


CLOCK_FIELDS = (
    "kind",
    "number",
    "service_id",
    "team_id",
    "vendor_id",
    "priority",
    "calendar_id",
    "status",
    "target_seconds",
    "elapsed_seconds",
    "paused_seconds",
    "started_at",
    "stopped_at",
    "due_at",
    "breached",
    "breached_at",
    "next_check_at",
    "definition_version",
)


def clock_values(
    result: ClockResult,
    definition: Definition,
    incident: Any,
    calendar_id: int | None,
    next_check: datetime | None,
) -> dict[str, Any]:
    return {
        "kind": definition.kind,
        "number": incident.number,
        "service_id": incident.service_id,
        "team_id": definition.team_id
        if definition.kind == Kind.OLA
        else incident.assignment_group_id,
        "vendor_id": definition.vendor_id,
        "priority": result.priority,
        "calendar_id": calendar_id,
        "status": result.status,
        "target_seconds": int(result.target_seconds),
        "elapsed_seconds": round(result.elapsed_seconds),
        "paused_seconds": round(result.paused_seconds),
        "started_at": result.started_at,
        "stopped_at": result.stopped_at,
        "due_at": result.due_at,
        "breached": result.breached,
        "breached_at": result.breached_at,
        "next_check_at": next_check,
        "definition_version": definition.version,
    }


def _next_check(result: ClockResult, recorded: set[tuple[str, int]], live: bool) -> datetime | None:
    """The earliest crossing the sweep has not recorded yet (past or future)."""
    if result.status != "running" and not live:
        return None
    pending = [
        at
        for pct, at in result.crossings.items()
        if ("breach" if pct == 100 else "warning", pct) not in recorded
    ]
    if result.status != "running":
        pending = [at for at in pending if result.stopped_at is None or at <= result.stopped_at]
    return min(pending) if pending else None


def compute_for(
    incident: Any,
    changes: list[Change],
    definitions: list[LoadedDefinition],
    calendars: OrgCalendars,
    now: datetime,
    *,
    explain: bool = False,
) -> list[tuple[LoadedDefinition, str, ClockResult, int | None]]:
    """Every clock of one incident: (definition, metric, result, calendar id)."""
    out: list[tuple[LoadedDefinition, str, ClockResult, int | None]] = []
    history = stretches(incident.opened_at, changes, now)
    country = (
        ticket_country(incident) if any(not d.definition.calendar_id for d in definitions) else ""
    )
    groups = {span.condition.group for span in history}
    tokens: set[str] = set()
    for span in history:
        tokens |= span.condition.tokens()
    for loaded in definitions:
        if not loaded.applies(incident):
            continue
        kind = loaded.definition.kind
        if kind == Kind.OLA and not any(
            rules.holds(group) for rules in loaded.rules.values() for group in groups
        ):
            continue  # the team never held the ticket: no clock, no replay needed
        if kind == Kind.UC and not any(
            tokens & rules.run_when for rules in loaded.rules.values() if rules.run_when
        ):
            continue  # never with the supplier
        stored = calendars.choose(loaded.definition.calendar_id, country)
        cal = calendars.compiled(stored)
        for metric, rules in loaded.rules.items():
            result = compute(
                rules, cal, incident.opened_at, changes, now, explain=explain, history=history
            )
            if result is None:
                continue
            if loaded.definition.kind != Kind.SLA and result.status == "not_started":
                continue  # an OLA or UC the ticket never reached
            out.append((loaded, metric, result, stored.pk if stored else None))
    return out


def recompute_incidents(
    incidents: Iterable[Any],
    *,
    now: datetime | None = None,
    live: bool = True,
) -> Summary:
    """Recompute and store every clock of `incidents`. ``live=False`` (imports, bulk
    replays) schedules no warnings for tickets that are no longer running."""
    now = now or timezone.now()
    incidents = list(incidents)
    summary = Summary(tickets=len(incidents))
    if not incidents:
        return summary
    by_org: dict[int, list[Any]] = defaultdict(list)
    for incident in incidents:
        by_org[incident.organization_id].append(incident)
    definitions_of = {org_id: load_definitions(org_id) for org_id in by_org}
    ids = [i.pk for i in incidents]
    if (
        not any(definitions_of.values())
        and len(ids) <= 500
        and not Clock.objects.filter(subject_type="incident", subject_id__in=ids).exists()
    ):
        return summary  # nothing applies and nothing to remove: the common case without SLAs
    histories = load_histories(incidents)
    existing: dict[tuple[int, int, str], Clock] = {}
    recorded: dict[int, set[tuple[str, int]]] = defaultdict(set)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for clock in Clock.objects.filter(subject_type="incident", subject_id__in=chunk):
            existing[(clock.definition_id, clock.subject_id, clock.metric)] = clock
        if live:
            for clock_id, kind, threshold in ClockEvent.objects.filter(
                clock__subject_type="incident", clock__subject_id__in=chunk
            ).values_list("clock_id", "kind", "threshold"):
                recorded[clock_id].add((kind, threshold))
    seen: set[tuple[int, int, str]] = set()
    to_create: list[Clock] = []
    to_update: list[Clock] = []
    for org_id, org_incidents in by_org.items():
        definitions = definitions_of[org_id]
        calendars = OrgCalendars.load(org_id)
        for incident in org_incidents:
            for loaded, metric, result, calendar_id in compute_for(
                incident, histories[incident.pk], definitions, calendars, now
            ):
                definition = loaded.definition
                key = (definition.pk, incident.pk, metric)
                seen.add(key)
                clock = existing.get(key)
                marks = recorded.get(clock.pk, set()) if clock else set()
                values = clock_values(
                    result, definition, incident, calendar_id, _next_check(result, marks, live)
                )
                summary.clocks += 1
                if clock is None:
                    to_create.append(
                        Clock(
                            organization_id=org_id,
                            definition=definition,
                            metric=metric,
                            subject_type="incident",
                            subject_id=incident.pk,
                            computed_at=now,
                            **values,
                        )
                    )
                    continue
                changed = [name for name, v in values.items() if getattr(clock, name) != v]
                if not changed:
                    continue
                if "due_at" in changed and clock.due_at != values["due_at"]:
                    summary.moved.append(
                        Moved(
                            incident.number,
                            incident.pk,
                            definition.name,
                            metric,
                            clock.due_at,
                            values["due_at"],
                        )
                    )
                for name, value in values.items():
                    setattr(clock, name, value)
                clock.computed_at = now
                to_update.append(clock)
    stale = [clock.pk for key, clock in existing.items() if key not in seen]
    with transaction.atomic():
        if stale:
            Clock.objects.filter(pk__in=stale).delete()
        Clock.objects.bulk_create(to_create, batch_size=1000)
        if to_update:
            Clock.objects.bulk_update(to_update, [*CLOCK_FIELDS, "computed_at"], batch_size=1000)
    summary.created, summary.updated, summary.deleted = len(to_create), len(to_update), len(stale)
    return summary


def incidents_for_recompute(queryset: Any) -> Any:
    return queryset.select_related("ci", "service", "category")


def explain_incident(incident: Any, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every clock of `incident`, replayed with its segments: what the explain view and
    ``GET /incidents/{id}/sla`` show."""
    now = now or timezone.now()
    incident = incidents_for_recompute(type(incident).objects.filter(pk=incident.pk)).get()
    changes = load_histories([incident])[incident.pk]
    definitions = load_definitions(incident.organization_id)
    calendars = OrgCalendars.load(incident.organization_id)
    out = []
    for loaded, metric, result, calendar_id in compute_for(
        incident, changes, definitions, calendars, now, explain=True
    ):
        cal = calendars.by_id.get(calendar_id) if calendar_id else None
        out.append(
            {
                "definition": loaded.definition,
                "metric": metric,
                "result": result,
                "calendar": cal,
            }
        )
    return out
