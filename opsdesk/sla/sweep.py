"""The warning and breach sweep: record each threshold a clock crosses once, and act on it.

Clocks are derived and recomputed at any time; a `ClockEvent` is a fact. `sweep(now)` finds
the clocks whose ``next_check_at`` has come (index ``clock_sweep``), replays each of their
tickets at `now` and, for every crossing at or before `now` not yet recorded, inserts the
event in its own savepoint: the unique constraint (clock, kind, threshold) lets exactly one
insert win, however many workers sweep at once (they also serialise per ticket on the
incident's row lock). For each event it inserted, and only those, it

1. writes an SLA entry on the ticket's timeline at the crossing time (not silenced: the
   notify app mails the assignee, or the team, and whoever a ``notify`` escalation names);
2. performs the definition's escalations for that threshold, while the clock is still live
   (`opsdesk.sla.escalations`), and stores what was done in ``ClockEvent.actions``.

Then it sets the clock's ``next_check_at`` to its next unrecorded crossing, or None. A ticket
resolved between two sweeps still gets its breach recorded once (its clock keeps a
``next_check_at`` for crossings before it stopped), with no escalation.

The periodic job (`opsdesk.sla.tasks`) runs it every minute; ``opsdesk sla sweep`` runs it
by hand.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.utils import timezone

from opsdesk.sla import escalations
from opsdesk.sla.calendars import OrgCalendars
from opsdesk.sla.choices import LIVE_STATUSES, ClockStatus, EscalationAction, EventKind
from opsdesk.sla.clocks import (
    _next_check,
    compute_for,
    incidents_for_recompute,
    load_definitions,
    load_histories,
    recompute_incidents,
)
from opsdesk.sla.engine import ClockResult
from opsdesk.sla.models import Clock, ClockEvent, Definition, Recompute

logger = logging.getLogger(__name__)

#: Due clocks read per query.
BATCH = 200


@dataclass
class SweepResult:
    now: datetime
    clocks: int = 0  # due clocks looked at
    tickets: int = 0
    warnings: int = 0
    breaches: int = 0
    escalations: int = 0  # escalation steps performed
    failed: int = 0  # tickets whose sweep failed (logged; looked at again next time)
    events: list[int] = field(default_factory=list)  # ids of the events recorded

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "clocks": self.clocks,
            "tickets": self.tickets,
            "warnings": self.warnings,
            "breaches": self.breaches,
            "escalations": self.escalations,
            "failed": self.failed,
        }


def event_kind(threshold: int) -> str:
    return EventKind.BREACH if threshold >= 100 else EventKind.WARNING


def due_clocks(now: datetime, organization_id: int | None = None) -> Any:
    """Clocks whose next warning or breach has come: read off the ``clock_sweep`` index."""
    qs = Clock.objects.filter(status__in=ClockStatus.values, next_check_at__lte=now)
    if organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    return qs


def sweep(
    now: datetime | None = None, *, organization_id: int | None = None, batch: int = BATCH
) -> SweepResult:
    """Record and act on every warning and breach due at `now` (default: the current time)."""
    now = now or timezone.now()
    result = SweepResult(now=now)
    last = 0
    seen: set[tuple[str, int]] = set()
    while True:
        rows = list(
            due_clocks(now, organization_id)
            .filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "subject_type", "subject_id")[:batch]
        )
        if not rows:
            break
        last = rows[-1][0]
        result.clocks += len(rows)
        for _, subject_type, subject_id in rows:
            if (subject_type, subject_id) in seen:
                continue
            seen.add((subject_type, subject_id))
            if subject_type != "incident":
                continue
            result.tickets += 1
            try:
                sweep_incident(subject_id, now, result)
            except Exception:  # one broken ticket must not stop the others
                logger.exception("SLA sweep of incident %s failed", subject_id)
                result.failed += 1
    if result.events or result.failed:
        logger.info("SLA sweep: %s", result.as_dict())
    return result


def _insert(clock: Clock, threshold: int, at: datetime) -> ClockEvent | None:
    """The event, if this call inserted it; None if it was recorded already (by anyone)."""
    try:
        with transaction.atomic():
            return ClockEvent.objects.create(
                organization_id=clock.organization_id,
                clock=clock,
                kind=event_kind(threshold),
                threshold=threshold,
                at=at,
            )
    except IntegrityError:
        return None


@transaction.atomic
def sweep_incident(incident_id: int, now: datetime, result: SweepResult | None = None) -> None:
    """Record the crossings of one incident's clocks up to `now` and act on the new ones."""
    from opsdesk.servicedesk.choices import OPEN_STATES
    from opsdesk.servicedesk.models import Incident

    result = result if result is not None else SweepResult(now=now)
    # One sweeper per ticket at a time (a no-op on SQLite, whose writers are serialised).
    if not list(Incident.objects.select_for_update().filter(pk=incident_id).values_list("pk")):
        Clock.objects.filter(subject_type="incident", subject_id=incident_id).update(
            next_check_at=None
        )
        return
    incident = (
        incidents_for_recompute(Incident.objects.filter(pk=incident_id))
        .select_related("organization", "assignment_group", "assignee")
        .get()
    )
    recompute_incidents([incident], now=now)
    clocks = {
        (c.definition_id, c.metric): c
        for c in Clock.objects.filter(subject_type="incident", subject_id=incident.pk)
    }
    recorded: dict[int, set[tuple[str, int]]] = defaultdict(set)
    for clock_id, kind, threshold in ClockEvent.objects.filter(
        clock_id__in=[c.pk for c in clocks.values()]
    ).values_list("clock_id", "kind", "threshold"):
        recorded[clock_id].add((kind, threshold))
    changes = load_histories([incident])[incident.pk]
    computed = compute_for(
        incident,
        changes,
        load_definitions(incident.organization_id),
        OrgCalendars.load(incident.organization_id),
        now,
    )
    changed_ticket = False
    for loaded, metric, clock_result, _ in computed:
        clock = clocks.get((loaded.definition.pk, metric))
        if clock is None:
            continue
        clock.definition = loaded.definition
        marks = recorded[clock.pk]
        new = sorted(
            (at, pct)
            for pct, at in clock_result.crossings.items()
            if at <= now and (event_kind(pct), pct) not in marks
        )
        live = clock_result.status in LIVE_STATUSES and incident.state in OPEN_STATES
        for index, (at, pct) in enumerate(new):
            marks.add((event_kind(pct), pct))
            event = _insert(clock, pct, at)
            if event is None:
                continue
            result.events.append(event.pk)
            if event.kind == EventKind.BREACH:
                result.breaches += 1
            else:
                result.warnings += 1
            done = act_on(
                incident,
                clock,
                clock_result,
                event,
                live=live,
                superseded=index < len(new) - 1,
                now=now,
            )
            result.escalations += sum(1 for d in done if d.get("done"))
            changed_ticket = changed_ticket or any(
                d.get("done") and d.get("action") != EscalationAction.NOTIFY for d in done
            )
        following = _next_check(clock_result, marks, True)
        if clock.next_check_at != following:
            Clock.objects.filter(pk=clock.pk).update(next_check_at=following)
    if changed_ticket:
        # A raised priority shortens the clocks; a new team starts its OLA: replay now.
        incident = incidents_for_recompute(Incident.objects.filter(pk=incident_id)).get()
        recompute_incidents([incident], now=now)


# --- the timeline entry and the escalations --------------------------------------------------


def _hours(seconds: float) -> str:
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"


def _local(at: datetime, reference: datetime, zone: ZoneInfo) -> str:
    """``14:00`` on the reference's day, else ``Mon 23 Nov 14:00`` (organisation time)."""
    here = at.astimezone(zone)
    if here.date() == reference.astimezone(zone).date():
        return f"{here:%H:%M}"
    return f"{here:%a %d %b %H:%M}"


def describe(
    definition: Definition, clock: Clock, result: ClockResult, event: ClockEvent, zone: ZoneInfo
) -> str:
    """The timeline text: ``SLA warning: 75 % of P2 resolution used, due 14:00 (Gold)``."""
    label = definition.kind.upper()
    metric = clock.metric
    due = result.crossings.get(100) or result.due_at
    if event.kind == EventKind.BREACH:
        return (
            f"{label} breached: the P{result.priority} {metric} target of "
            f"{_hours(result.target_seconds)} ran out at {_local(event.at, event.at, zone)} "
            f"({definition.name})"
        )
    when = f", due {_local(due, event.at, zone)}" if due is not None else ""
    return (
        f"{label} warning: {event.threshold} % of P{result.priority} {metric} used{when} "
        f"({definition.name})"
    )


def act_on(
    incident: Any,
    clock: Clock,
    result: ClockResult,
    event: ClockEvent,
    *,
    live: bool,
    superseded: bool = False,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Timeline entry and escalations for one newly recorded event; returns its actions.

    ``superseded``: a later threshold of the same clock was recorded in the same sweep
    (the sweep was down for a while); the entry is written but mails nobody.
    """
    from opsdesk.servicedesk import timeline
    from opsdesk.servicedesk.choices import ActivityKind

    definition = clock.definition
    steps = escalations.escalations_for(definition, event.threshold) if live else []
    done: list[dict[str, Any]] = []
    notify_ids: list[int] = []
    for step in steps:
        if step.get("action") != EscalationAction.NOTIFY:
            continue
        ids, missing = escalations.notify_recipients(incident, step)
        notify_ids.extend(pk for pk in ids if pk not in notify_ids)
        done.append(
            {
                "action": EscalationAction.NOTIFY,
                "to": escalations._targets(step),
                "users": ids,
                "names": escalations.describe_users(ids),
                "done": bool(ids),
                **({"reason": "; ".join(missing)} if missing else {}),
            }
        )
    zone = ZoneInfo(incident.organization.time_zone or "UTC")
    due = result.crossings.get(100) or result.due_at
    timeline.record(
        incident,
        ActivityKind.SLA,
        actor_name=escalations.SYSTEM_NAME,
        body=describe(definition, clock, result, event, zone),
        data={
            "event": event.kind,
            "definition": definition.name,
            "definition_id": definition.pk,
            "kind": definition.kind,
            "metric": clock.metric,
            "threshold": event.threshold,
            "priority": result.priority,
            "due_at": due.isoformat() if due else None,
            "clock_id": clock.pk,
            "event_id": event.pk,
            "notify_user_ids": notify_ids,
            "escalations": [s.get("action") for s in steps],
            "superseded": superseded,
        },
        at=event.at,
    )
    done.extend(escalations.perform(incident, event, steps, now))
    if done:
        event.actions = done
        event.save(update_fields=["actions"])
    return done


# --- recomputing by hand -----------------------------------------------------------------------


def recompute(
    *,
    organization_id: int,
    scope: str = "open",
    reason: str = "",
    actor: Any = None,
    now: datetime | None = None,
    batch: int = 500,
    progress: Callable[[int, int], None] | None = None,
) -> Recompute:
    """Replay the clocks of an organisation's open tickets (``scope="open"``) or of all of
    them (``"all"``) and log it as a `Recompute`. Closed tickets are replayed with
    ``live=False``: no warnings are scheduled for tickets that are done."""
    from opsdesk.servicedesk.choices import OPEN_STATES
    from opsdesk.servicedesk.models import Incident

    now = now or timezone.now()
    base = Incident.objects.filter(organization_id=organization_id)
    if scope == "open":
        base = base.filter(state__in=OPEN_STATES)
    ids = list(base.order_by("pk").values_list("pk", flat=True))
    log = Recompute(
        organization_id=organization_id,
        at=now,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        reason=(reason or f"Recomputed by hand ({scope} tickets)")[:300],
    )
    details: list[dict[str, Any]] = []
    if progress:
        progress(0, len(ids))
    for start in range(0, len(ids), batch):
        chunk = list(
            incidents_for_recompute(Incident.objects.filter(pk__in=ids[start : start + batch]))
        )
        open_ones = [i for i in chunk if i.state in OPEN_STATES]
        done_ones = [i for i in chunk if i.state not in OPEN_STATES]
        for group, live in ((open_ones, True), (done_ones, False)):
            summary = recompute_incidents(group, now=now, live=live)
            log.tickets += summary.tickets
            log.clocks += summary.clocks
            log.changed += len(summary.moved)
            details.extend(m.as_dict() for m in summary.moved)
        if progress:
            progress(min(start + batch, len(ids)), len(ids))
    log.details = details[:1000]
    log.save()
    return log
