"""Every write on service-level definitions (SLA, OLA, UC), and the preview of one.

Each action is atomic, checks permission, validates with errors that name the field,
is audited (through `acting_as`) and, because a definition decides clocks, bumps the
definition's `version` and replays the organisation's open clocks
(`opsdesk.sla.recompute.recompute_open`) with a reason that names the definition and what
changed.

`preview` answers "which clocks would this definition start on that ticket, on which
calendar, and when would they be due" for a stored or an unsaved (edited) definition,
an existing incident or a hypothetical one. It writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from opsdesk.accounts.models import Team, User
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actions import require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError
from opsdesk.core.models import BusinessCalendar, Organization
from opsdesk.core.permissions import Action
from opsdesk.servicedesk.choices import HoldReason, IncidentState
from opsdesk.sla.calendars import OrgCalendars
from opsdesk.sla.choices import NOTIFY_TARGETS, EscalationAction, Kind, Metric
from opsdesk.sla.clocks import (
    CONDITION_FIELDS,
    CONDITION_OPS,
    LoadedDefinition,
    condition_holds,
    load_histories,
    rules_for,
    ticket_country,
)
from opsdesk.sla.engine import Change, compute
from opsdesk.sla.models import Definition

#: Fields the actions set directly (services are a list of CIs, set apart).
DEFINITION_FIELDS = (
    "name",
    "kind",
    "description",
    "is_active",
    "customer",
    "team",
    "vendor",
    "priorities",
    "conditions",
    "response_minutes",
    "resolution_minutes",
    "calendar",
    "start_when",
    "pause_when",
    "stop_when",
    "reset_when",
    "run_when",
    "warning_thresholds",
    "escalations",
)
TOKEN_FIELDS = ("start_when", "pause_when", "stop_when", "run_when")
RESET_TOKENS = ("reopen", "priority_change")
PRIORITIES = (1, 2, 3, 4, 5)
#: A target longer than a year of business minutes is a typo.
MAX_TARGET_MINUTES = 525_600


def state_tokens() -> list[str]:
    """Every token a start/pause/stop/run list may hold: a state, on_hold:<reason>, or
    "responded"."""
    return [
        *IncidentState.values,
        *(f"{IncidentState.ON_HOLD}:{r}" for r in HoldReason.values),
        "responded",
    ]


# --- references in input ---------------------------------------------------------------

TEXT_FIELDS = ("description", "customer")
LIST_FIELDS = (
    "priorities",
    "conditions",
    "start_when",
    "pause_when",
    "stop_when",
    "reset_when",
    "run_when",
    "warning_thresholds",
    "escalations",
)
DICT_FIELDS = ("response_minutes", "resolution_minutes")


def reference(model: Any, organization_id: int, pk: Any, field: str, noun: str) -> Any:
    """The row `pk` of `model` in the organisation, or FieldError naming `field`."""
    if pk is None:
        return None
    found = model.objects.filter(pk=pk, organization_id=organization_id).first()
    if found is None:
        raise FieldError({field: f"No {noun} of this organisation has this id."})
    return found


def services_of(
    organization_id: int, ids: Iterable[int], field: str = "service_ids"
) -> list[ConfigurationItem]:
    ids = list(dict.fromkeys(ids))
    found = list(
        ConfigurationItem.objects.filter(
            pk__in=ids, organization_id=organization_id
        ).select_related("ci_class")
    )
    missing = sorted(set(ids) - {ci.pk for ci in found})
    if missing:
        listed = ", ".join(str(i) for i in missing)
        raise FieldError({field: f"No CI of this organisation has id {listed}."})
    return found


def references(
    organization_id: int, data: dict[str, Any]
) -> tuple[dict[str, Any], list[ConfigurationItem] | None]:
    """Input with ids (API bodies, the editor) -> action keywords, references resolved in the
    organisation; services apart (None: not given)."""
    from opsdesk.vendors.models import Vendor

    out: dict[str, Any] = {}
    services = None
    for name, value in data.items():
        if name == "team_id":
            out["team"] = reference(Team, organization_id, value, name, "team")
        elif name == "vendor_id":
            out["vendor"] = reference(Vendor, organization_id, value, name, "vendor")
        elif name == "calendar_id":
            out["calendar"] = reference(BusinessCalendar, organization_id, value, name, "calendar")
        elif name == "service_ids":
            services = services_of(organization_id, value or [])
        elif name in TEXT_FIELDS and value is None:
            out[name] = ""
        elif name in LIST_FIELDS and value is None:
            out[name] = []
        elif name in DICT_FIELDS and value is None:
            out[name] = {}
        elif name in ("name", "kind", "is_active") and value is None:
            raise FieldError({name: "Cannot be null."})
        else:
            out[name] = value
    return out, services


# --- validation ----------------------------------------------------------------------------


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 12:
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _targets(value: Any, name: str, errors: dict[str, str]) -> dict[str, int | float]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        errors[name] = 'Give minutes per priority: {"1": 15, "2": 30}.'
        return {}
    out: dict[str, int | float] = {}
    for key, minutes in value.items():
        prio = _int(key)
        if prio not in PRIORITIES:
            errors[name] = f"Priority {key!r} is not 1-5."
            return {}
        if minutes in (None, ""):
            continue
        number = _number(minutes)
        if number is None or number != number or number <= 0:
            errors[name] = f"P{prio}: the target must be a positive number of minutes."
            return {}
        if number > MAX_TARGET_MINUTES:
            errors[name] = f"P{prio}: at most {MAX_TARGET_MINUTES} minutes (a year)."
            return {}
        out[str(prio)] = int(number) if number.is_integer() else round(number, 2)
    return dict(sorted(out.items()))


def _tokens(value: Any, name: str, allowed: Iterable[str], errors: dict[str, str]) -> list[str]:
    allowed = list(allowed)
    if value in (None, ""):
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors[name] = "Give a list of tokens."
        return []
    bad = [v for v in value if v not in allowed]
    if bad:
        errors[name] = (
            f"Unknown: {', '.join(repr(b) for b in bad[:5])}; one of: {', '.join(allowed)}."
        )
        return []
    return list(dict.fromkeys(value))


def _conditions(value: Any, errors: dict[str, str]) -> list[dict[str, Any]]:
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        errors["conditions"] = 'Give a list: [{"field": "channel", "op": "eq", "value": "email"}].'
        return []
    out: list[dict[str, Any]] = []
    for n, item in enumerate(value, start=1):
        if not isinstance(item, dict) or set(item) - {"field", "op", "value"}:
            errors["conditions"] = f"Condition {n}: give field, op and value."
            return []
        fld, op, wanted = item.get("field"), item.get("op", "eq"), item.get("value")
        if fld not in CONDITION_FIELDS:
            errors["conditions"] = (
                f"Condition {n}: unknown field {fld!r}; one of: {', '.join(CONDITION_FIELDS)}."
            )
            return []
        if op not in CONDITION_OPS:
            errors["conditions"] = (
                f"Condition {n}: unknown op {op!r}; one of: {', '.join(CONDITION_OPS)}."
            )
            return []
        scalar = (str, int, float, bool)
        if op in ("in", "not_in"):
            ok = isinstance(wanted, list) and wanted and all(isinstance(w, scalar) for w in wanted)
        else:
            ok = isinstance(wanted, scalar) and str(wanted) != ""
        if not ok:
            kind = "a non-empty list" if op in ("in", "not_in") else "a value"
            errors["conditions"] = f"Condition {n}: {op} needs {kind}."
            return []
        out.append({"field": fld, "op": op, "value": wanted})
    return out


def _thresholds(value: Any, errors: dict[str, str]) -> list[int]:
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        errors["warning_thresholds"] = "Give a list of percentages, e.g. [50, 75, 90]."
        return []
    out = []
    for item in value:
        n = _int(item)
        if n is None or not 1 <= n <= 99:
            errors["warning_thresholds"] = f"{item!r}: thresholds are whole percentages 1-99."
            return []
        out.append(n)
    return sorted(set(out))


def _escalations(
    value: Any, thresholds: list[int], organization_id: int, errors: dict[str, str]
) -> list[dict[str, Any]]:
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        errors["escalations"] = 'Give a list: [{"at": 75, "action": "notify", "to": "group"}].'
        return []
    out: list[dict[str, Any]] = []
    marks = {*thresholds, 100}
    for n, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            errors["escalations"] = f"Escalation {n}: give at, action and its target."
            return []
        at = _int(item.get("at"))
        action = item.get("action")
        if at not in marks:
            listed = ", ".join(str(m) for m in sorted(marks))
            errors["escalations"] = (
                f"Escalation {n}: 'at' must be a warning threshold or 100 (breach): {listed}."
            )
            return []
        if action not in EscalationAction.values:
            errors["escalations"] = (
                f"Escalation {n}: action must be one of {', '.join(EscalationAction.values)}."
            )
            return []
        extra = set(item) - {"at", "action", "to", "team"}
        if extra:
            errors["escalations"] = f"Escalation {n}: unknown keys {', '.join(sorted(extra))}."
            return []
        row: dict[str, Any] = {"at": at, "action": action}
        if action == EscalationAction.NOTIFY:
            to = item.get("to")
            if not isinstance(to, str) or not _notify_target_ok(to, organization_id):
                errors["escalations"] = (
                    f"Escalation {n}: notify 'to' must be one of {', '.join(NOTIFY_TARGETS)} "
                    "or user:<id> of a member of this organisation."
                )
                return []
            row["to"] = to
        elif action == EscalationAction.REASSIGN:
            team = _int(item.get("team"))
            if (
                team is None
                or not Team.objects.filter(pk=team, organization_id=organization_id).exists()
            ):
                errors["escalations"] = (
                    f"Escalation {n}: reassign needs 'team', a team of this organisation."
                )
                return []
            row["team"] = team
        out.append(row)
    return sorted(out, key=lambda r: r["at"])


def _notify_target_ok(to: str, organization_id: int) -> bool:
    if to in NOTIFY_TARGETS:
        return True
    prefix, _, rest = to.partition(":")
    user_id = _int(rest) if prefix == "user" else None
    return (
        user_id is not None
        and 0 < user_id < 2**63
        and User.objects.filter(pk=user_id, memberships__organization_id=organization_id).exists()
    )


def check(definition: Definition, services: list[ConfigurationItem] | None) -> None:
    """Validate and normalise `definition` in place; FieldError naming every bad field."""
    errors: dict[str, str] = {}
    org = definition.organization_id
    definition.name = (definition.name or "").strip()
    if not definition.name:
        errors["name"] = "A name is required."
    elif len(definition.name) > 150:
        errors["name"] = "At most 150 characters."
    elif (
        Definition.objects.filter(organization_id=org, name__iexact=definition.name)
        .exclude(pk=definition.pk)
        .exists()
    ):
        errors["name"] = "This organisation already has a definition of this name."
    if definition.kind not in Kind.values:
        errors["kind"] = f"One of: {', '.join(Kind.values)}."
    if definition.kind == Kind.OLA:
        if definition.team_id is None:
            errors["team"] = "An OLA names the team (assignment group) it binds."
        elif definition.team.organization_id != org:
            errors["team"] = "The team belongs to another organisation."
    elif definition.team_id is not None:
        errors["team"] = "Only an OLA names a team."
    if definition.kind == Kind.UC:
        if definition.vendor_id is None:
            errors["vendor"] = "A UC names the vendor (supplier) it binds."
        elif definition.vendor.organization_id != org:
            errors["vendor"] = "The vendor belongs to another organisation."
    elif definition.vendor_id is not None:
        errors["vendor"] = "Only a UC names a vendor."
    if definition.calendar_id is not None and definition.calendar.organization_id != org:
        errors["calendar"] = "The calendar belongs to another organisation."
    if services is not None:
        foreign = [s.name for s in services if s.organization_id != org]
        not_services = [s.name for s in services if not s.ci_class.is_service]
        if foreign:
            errors["services"] = f"Not of this organisation: {', '.join(foreign[:5])}."
        elif not_services:
            errors["services"] = (
                f"Not a business service or offering: {', '.join(not_services[:5])}."
            )
    prios = definition.priorities
    if prios in (None, ""):
        prios = []
    if not isinstance(prios, list) or any(_int(p) not in PRIORITIES for p in prios):
        errors["priorities"] = "Priorities are 1 (critical) to 5 (planning)."
    else:
        definition.priorities = sorted({_int(p) for p in prios})
    definition.response_minutes = _targets(definition.response_minutes, "response_minutes", errors)
    definition.resolution_minutes = _targets(
        definition.resolution_minutes, "resolution_minutes", errors
    )
    if (
        "response_minutes" not in errors
        and "resolution_minutes" not in errors
        and not definition.response_minutes
        and not definition.resolution_minutes
    ):
        errors["resolution_minutes"] = (
            "Set a response or a resolution target for at least one priority."
        )
    definition.conditions = _conditions(definition.conditions, errors)
    tokens = state_tokens()
    for name in TOKEN_FIELDS:
        setattr(definition, name, _tokens(getattr(definition, name), name, tokens, errors))
    definition.reset_when = _tokens(definition.reset_when, "reset_when", RESET_TOKENS, errors)
    definition.warning_thresholds = _thresholds(definition.warning_thresholds, errors)
    if "warning_thresholds" not in errors:
        definition.escalations = _escalations(
            definition.escalations, definition.warning_thresholds, org, errors
        )
    if not isinstance(definition.is_active, bool):
        errors["is_active"] = "True or false."
    if errors:
        raise FieldError(errors)


# --- actions -------------------------------------------------------------------------------


def _recompute(definition: Definition, what: str, actor: Any, obj: Any = None) -> None:
    from opsdesk.sla.recompute import recompute_open

    recompute_open(
        organization_id=definition.organization_id,
        reason=f"{definition.get_kind_display().split(' ')[0]} {definition.name!r} {what}",
        actor=actor,
        obj=obj,
    )


@transaction.atomic
def create_definition(
    *,
    acting_user: Any,
    organization: Organization,
    name: str,
    kind: str = Kind.SLA,
    services: Iterable[ConfigurationItem] = (),
    recompute: bool = True,
    **fields: Any,
) -> Definition:
    """Add an SLA, OLA or UC; the organisation's open tickets get its clocks at once.

    ``recompute=False`` (demo, imports) leaves the replay to the caller."""
    require(acting_user, Definition, Action.ADD, organization.pk)
    unknown = sorted(set(fields) - set(DEFINITION_FIELDS))
    if unknown:
        raise FieldError({n: "Unknown field." for n in unknown})
    services = list(dict.fromkeys(services))
    definition = Definition(organization=organization, name=name, kind=kind, **fields)
    check(definition, services)
    with acting_as(acting_user):
        save_validated(definition)
        if services:
            definition.services.set(services)
    if recompute:
        _recompute(definition, "added (version 1)", acting_user, definition)
    return definition


def _label(value: Any) -> Any:
    if hasattr(value, "_meta"):
        return (value._meta.label_lower, value.pk)
    return value


@transaction.atomic
def update_definition(
    *,
    acting_user: Any,
    definition: Definition,
    services: Iterable[ConfigurationItem] | None = None,
    recompute: bool = True,
    **changes: Any,
) -> Definition:
    """Change a definition; its version goes up and the open clocks are replayed. Returns
    the definition with ``changed_fields`` (the names that changed; none: nothing saved)."""
    require(acting_user, Definition, Action.CHANGE, definition.organization_id)
    unknown = sorted(set(changes) - set(DEFINITION_FIELDS))
    if unknown:
        raise FieldError({n: "This field cannot be changed." for n in unknown})
    fresh = Definition.objects.select_related("team", "vendor", "calendar").get(pk=definition.pk)
    before = {name: getattr(fresh, name) for name in DEFINITION_FIELDS}
    old_services = set(fresh.services.values_list("pk", flat=True))
    for name, value in changes.items():
        setattr(fresh, name, value)
    new_services = list(dict.fromkeys(services)) if services is not None else None
    check(fresh, new_services)
    changed = [n for n in DEFINITION_FIELDS if _label(getattr(fresh, n)) != _label(before[n])]
    if new_services is not None and {s.pk for s in new_services} != old_services:
        changed.append("services")
    if changed:
        fresh.version = (fresh.version or 1) + 1
        with acting_as(acting_user):
            save_validated(fresh)
            if new_services is not None and "services" in changed:
                fresh.services.set(new_services)
        if recompute:
            _recompute(
                fresh,
                f"changed: {', '.join(changed)} (version {fresh.version})",
                acting_user,
                fresh,
            )
    fresh.changed_fields = changed  # type: ignore[attr-defined]
    return fresh


@transaction.atomic
def deactivate_definition(
    *, acting_user: Any, definition: Definition, active: bool = False
) -> Definition:
    """Stop (or, with ``active=True``, resume) a definition starting clocks; open tickets
    lose (or get) its clocks; closed tickets keep theirs as history."""
    return update_definition(acting_user=acting_user, definition=definition, is_active=active)


@transaction.atomic
def delete_definition(*, acting_user: Any, definition: Definition) -> None:
    """Remove a definition and every clock it ran (deactivate it to keep the history)."""
    require(acting_user, Definition, Action.DELETE, definition.organization_id)
    name, org_id = definition.name, definition.organization_id
    kind = definition.get_kind_display().split(" ")[0]
    try:
        with acting_as(acting_user):
            definition.delete()
    except ProtectedError as exc:
        raise Conflict(f"{name} is still in use.", field="definition") from exc
    from opsdesk.sla.recompute import recompute_open

    recompute_open(organization_id=org_id, reason=f"{kind} {name!r} deleted", actor=acting_user)


# --- preview -------------------------------------------------------------------------------


@dataclass
class HypotheticalTicket:
    """A ticket that does not exist, for "when would it be due": the fields definitions
    match on; the rest are empty."""

    organization_id: int
    priority: int
    opened_at: datetime
    service: ConfigurationItem | None = None
    assignment_group: Team | None = None
    number: str = "(hypothetical)"
    pk: int | None = None
    channel: str = ""
    category: Any = None
    category_id: int | None = None
    impact: int | None = None
    urgency: int | None = None
    location: str = ""
    ci: Any = None
    ci_id: int | None = None
    is_major: bool = False
    requester_id: int | None = None

    @property
    def service_id(self) -> int | None:
        return self.service.pk if self.service is not None else None

    @property
    def assignment_group_id(self) -> int | None:
        return self.assignment_group.pk if self.assignment_group is not None else None


@dataclass
class MetricPreview:
    metric: str
    applies: bool
    reasons: list[str] = field(default_factory=list)
    target_minutes: float | None = None
    status: str = ""
    due_at: datetime | None = None
    breached_at: datetime | None = None
    elapsed_minutes: float = 0.0
    assumed: list[str] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Preview:
    definition: str
    ticket: str
    priority: int
    opened_at: datetime
    calendar_id: int | None
    calendar: str
    calendar_why: str
    applies: bool
    reasons: list[str]
    metrics: list[MetricPreview]


#: Segments shown per metric at most (a long clock walks many nights and weekends).
MAX_SEGMENTS = 120


def _why_not(
    definition: Definition, service_ids: frozenset[int], ticket: Any, priority: int
) -> list[str]:
    reasons: list[str] = []
    if not definition.is_active:
        reasons.append("the definition is inactive")
    if service_ids and ticket.service_id not in service_ids:
        name = ticket.service.name if getattr(ticket, "service", None) is not None else "none"
        reasons.append(f"its service ({name}) is not one the definition covers")
    prios = {int(p) for p in definition.priorities or []}
    if prios and priority not in prios:
        reasons.append(
            f"P{priority} is not among its priorities ({', '.join(f'P{p}' for p in sorted(prios))})"
        )
    for c in definition.conditions or []:
        if not condition_holds(c, ticket):
            reasons.append(
                f"condition {c.get('field')} {c.get('op')} {c.get('value')!r} does not hold"
            )
    return reasons


def _calendar_choice(
    calendars: OrgCalendars, definition: Definition, country: str
) -> tuple[BusinessCalendar | None, str]:
    stored = calendars.choose(definition.calendar_id, country)
    if definition.calendar_id is not None and stored is not None:
        return stored, "named by the definition"
    if stored is not None and country and calendars.by_country.get(country) is stored:
        return stored, f"the calendar of the ticket's country ({country})"
    if stored is not None:
        return stored, "the organisation's default calendar"
    return None, "no calendar applies: 24x7"


def _synthetic_changes(rules: Any, ticket: HypotheticalTicket) -> tuple[list[Change], list[str]]:
    """A new ticket's history, put where the clock counts (a UC's ticket with the vendor)."""
    at = ticket.opened_at
    group = ticket.assignment_group_id
    assumed: list[str] = []
    if rules.team is not None and group is None:
        group = rules.team
        assumed.append("assumed with the OLA's team from the start")
    changes = [Change(at, priority=ticket.priority, group=group)]
    wanted = [t for t in (rules.run_when or rules.start_when) if t != "responded"]
    if wanted and "new" not in (rules.run_when or rules.start_when):
        token = sorted(wanted)[0]
        state, _, reason = token.partition(":")
        changes.append(Change(at, state=state, hold_reason=reason))
        assumed.append(f"assumed {token.replace('_', ' ')} from the start")
    return changes, assumed


def _segments(result: Any, calendar: Any, now: datetime) -> list[dict[str, Any]]:
    out = [s.as_dict() for s in result.segments]
    if result.status == "running" and result.due_at is not None and result.due_at > now:
        done = result.elapsed_seconds
        for seg in calendar.segments(now, result.due_at):
            counted = seg.seconds if seg.kind == "working" else 0.0
            done += counted
            row = {
                "start": seg.start.isoformat(),
                "end": seg.end.isoformat(),
                "kind": "projected" if seg.kind == "working" else seg.kind,
                "label": "Would run" if seg.kind == "working" else seg.label,
                "counted_seconds": round(counted),
                "elapsed_after_seconds": round(done),
                "holder": None,
                "state": "",
            }
            out.append(row)
    return out[:MAX_SEGMENTS]


def preview(
    definition: Definition,
    *,
    service_ids: Iterable[int] | None = None,
    incident: Any = None,
    ticket: HypotheticalTicket | None = None,
    now: datetime | None = None,
) -> Preview:
    """What `definition` (stored or unsaved) would do to an incident or a hypothetical
    ticket: whether each metric applies (and why not), the calendar and the due time with
    the segments walked. ``service_ids`` stands for the (unsaved) services."""
    if (incident is None) == (ticket is None):
        raise FieldError({"incident_id": "Give an incident, or a hypothetical ticket."})
    if service_ids is None:
        service_ids = definition.services.values_list("pk", flat=True) if definition.pk else []
    services = frozenset(service_ids)
    subject = incident if incident is not None else ticket
    calendars = OrgCalendars.load(definition.organization_id)
    stored, why = _calendar_choice(calendars, definition, ticket_country(subject))
    cal = calendars.compiled(stored)
    team_name = definition.team.name if definition.team_id else ""
    loaded = LoadedDefinition(definition, services, team_name)
    if incident is not None:
        now = now or timezone.now()
        history = load_histories([incident])[incident.pk]
        opened_at = incident.opened_at
        priority = incident.priority
        label = incident.number
    else:
        opened_at = ticket.opened_at
        priority = ticket.priority
        label = "a hypothetical ticket"
        history = []
    reasons = _why_not(definition, services, subject, priority)
    metrics: list[MetricPreview] = []
    for metric in (Metric.RESPONSE, Metric.RESOLUTION):
        rules = rules_for(definition, metric, team_name)
        item = MetricPreview(metric=metric, applies=False)
        metrics.append(item)
        if rules is None:
            item.reasons.append("the definition sets no target for this metric")
            continue
        if rules.target_for(priority) is None:
            item.reasons.append(f"no {metric} target for P{priority}")
            continue
        item.target_minutes = rules.target_for(priority) / 60
        if reasons:
            item.reasons.extend(reasons)
            continue
        if incident is not None:
            result = compute(rules, cal, opened_at, history, now, explain=True)
            at_now = now
        else:
            changes, item.assumed = _synthetic_changes(rules, ticket)
            at_now = opened_at
            result = compute(rules, cal, opened_at, changes, opened_at)
            if result is not None and result.status == "running" and result.due_at is not None:
                walked = compute(rules, cal, opened_at, changes, result.due_at, explain=True)
                if walked is not None:
                    result.segments = walked.segments
        if result is None:
            item.reasons.append(f"no {metric} target for the ticket's priority")
            continue
        item.status = result.status
        if loaded.definition.kind != Kind.SLA and result.status == "not_started":
            item.reasons.append(
                "the ticket never reached the team"
                if definition.kind == Kind.OLA
                else "the ticket was never with the vendor"
            )
            continue
        item.applies = True
        item.due_at = result.due_at
        item.breached_at = result.breached_at
        item.elapsed_minutes = round(result.elapsed_seconds / 60, 1)
        if incident is not None:
            item.segments = _segments(result, cal, at_now)
        else:
            item.segments = [s.as_dict() for s in result.segments][:MAX_SEGMENTS]
    return Preview(
        definition=definition.name,
        ticket=label,
        priority=priority,
        opened_at=opened_at,
        calendar_id=stored.pk if stored is not None else None,
        calendar=stored.name if stored is not None else "24x7",
        calendar_why=why,
        applies=not reasons,
        reasons=reasons,
        metrics=metrics,
    )


def hypothetical(
    *,
    organization_id: int,
    priority: int,
    opened_at: datetime,
    service: ConfigurationItem | None = None,
    assignment_group: Team | None = None,
) -> HypotheticalTicket:
    if priority not in PRIORITIES:
        raise FieldError({"priority": "Priorities are 1 (critical) to 5 (planning)."})
    return HypotheticalTicket(
        organization_id=organization_id,
        priority=priority,
        opened_at=opened_at,
        service=service,
        assignment_group=assignment_group,
    )
