"""Every clock of every ticket, recomputed fast: the bulk path behind ``opsdesk sla_bulk
recompute`` (after an import, a restore or a change to every definition).

It writes exactly the rows `opsdesk.sla.clocks.recompute_incidents(..., live=False)` writes
but does not go through the ORM per ticket (see docs/architecture/sla-performance.md):

- the incident id range is cut into pieces, shared by ``workers`` processes (each with its
  own database connection);
- a piece reads its incidents and their history with binary COPY into numpy arrays and
  computes its clocks with them (`opsdesk.sla.bulk_vector`: the engine's arithmetic over
  arrays); what the arrays do not cover (a few histories, definitions with conditions or a
  calendar chosen by country) goes through `compute_for` and `clock_values` per ticket,
  from rows streamed through server-side cursors;
- each piece's clocks are COPYed into a staging table of its own; the parent moves each
  piece into the clock table as it is done, all in one transaction (`_Merger`): into an
  empty table with its secondary indexes and keys built again at the end, otherwise
  updating only the clocks whose values changed (``computed_at`` moves only for those, as
  in `recompute_incidents`), inserting new ones and deleting those no longer produced.

On SQLite it falls back to `recompute_incidents` in batches. Warnings and breaches already
recorded (`ClockEvent`) are not touched: like an import, a bulk replay schedules no
warnings for clocks that are no longer running (``live=False``).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.db import connection, connections, transaction
from django.utils import timezone

from opsdesk.sla import bulk_vector as bv
from opsdesk.sla.calendars import OrgCalendars
from opsdesk.sla.choices import Kind
from opsdesk.sla.clocks import (
    CLOCK_FIELDS,
    LoadedDefinition,
    _next_check,
    clock_values,
    compute_for,
    load_definitions,
)
from opsdesk.sla.engine import Change, ClockRules
from opsdesk.sla.models import Clock

#: Incident ids per piece of work (one transaction, one staging table).
PIECE = 10_000
#: Rows fetched per round trip from the server-side cursors.
FETCH = 20_000
#: Tickets per `recompute_incidents` call on SQLite.
SQLITE_BATCH = 500

Progress = Callable[[int, int], None]


@dataclass
class Stats:
    """What a bulk recompute did, and where its time went (seconds summed over workers)."""

    tickets: int = 0
    clocks: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    pieces: int = 0
    #: Tickets whose history the arrays do not cover: their clocks were computed per ticket
    #: (as were, for every ticket, those of definitions the arrays do not cover).
    fallback_tickets: int = 0
    workers: int = 1
    wall_seconds: float = 0.0
    read_seconds: float = 0.0
    compute_seconds: float = 0.0
    write_seconds: float = 0.0
    #: Of which: the parent's move of the staged clocks into the clock table.
    merge_seconds: float = 0.0
    #: CPU seconds (summed over processes): this code's, and the database server
    #: processes' that served it (0 when the server is not on this machine).
    python_cpu_seconds: float = 0.0
    database_cpu_seconds: float = 0.0
    #: Peak resident memory of the busiest process (the parent, or one worker), in MiB.
    peak_memory_mib: float = 0.0
    database: str = ""

    def add(self, other: Stats) -> None:
        for name in (
            "tickets",
            "clocks",
            "created",
            "updated",
            "unchanged",
            "deleted",
            "pieces",
            "fallback_tickets",
            "python_cpu_seconds",
            "database_cpu_seconds",
            "read_seconds",
            "compute_seconds",
            "write_seconds",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.peak_memory_mib = max(self.peak_memory_mib, other.peak_memory_mib)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in (
            "wall_seconds",
            "read_seconds",
            "compute_seconds",
            "write_seconds",
            "merge_seconds",
            "python_cpu_seconds",
            "database_cpu_seconds",
        ):
            out[name] = round(out[name], 2)
        out["peak_memory_mib"] = round(out["peak_memory_mib"], 1)
        return out


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu() -> tuple[float, float]:
    """CPU seconds used so far by this process and by its database server process."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        server = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        server = 0.0  # not on this machine
    return time.process_time(), server


def _add_cpu(stats: Stats, before: tuple[float, float]) -> None:
    after = _cpu()
    stats.python_cpu_seconds += after[0] - before[0]
    stats.database_cpu_seconds += after[1] - before[1]


# --- the ticket as compute_for sees it ---------------------------------------------------------


class _Ref:
    """A related row reduced to what definitions look at (a CI's country, a category's name)."""

    __slots__ = ("country", "name")

    def __init__(self, country: str = "", name: str = "") -> None:
        self.country = country
        self.name = name


class _Ticket:
    """The columns of an incident that definitions, calendars and clock rows read."""

    __slots__ = (
        "assignment_group_id",
        "category",
        "category_id",
        "channel",
        "ci",
        "ci_id",
        "impact",
        "is_major",
        "location",
        "number",
        "opened_at",
        "organization_id",
        "pk",
        "priority",
        "requester_id",
        "service",
        "service_id",
        "urgency",
    )

    def __init__(self, row: tuple[Any, ...]) -> None:
        (
            self.pk,
            self.organization_id,
            self.number,
            self.priority,
            self.opened_at,
            self.requester_id,
            self.service_id,
            self.ci_id,
            self.assignment_group_id,
            self.channel,
            self.category_id,
            self.impact,
            self.urgency,
            self.location,
            self.is_major,
            ci_country,
            service_country,
            category_name,
        ) = row
        self.ci = _Ref(ci_country or "") if self.ci_id is not None else None
        self.service = _Ref(service_country or "") if self.service_id is not None else None
        self.category = _Ref(name=category_name or "") if self.category_id is not None else None


# --- SQL ------------------------------------------------------------------------------------

_INCIDENTS = """
SELECT i.id, i.organization_id, i.number, i.priority, i.opened_at, i.requester_id,
       i.service_id, i.ci_id, i.assignment_group_id, i.channel, i.category_id, i.impact,
       i.urgency, i.location, i.is_major, {ci_country}, {service_country}, {category_name}
FROM servicedesk_incident i {joins}
WHERE i.id >= %s AND i.id < %s {org} {ids}
ORDER BY i.id
"""

# A JSON value's truthiness as Python sees it (null, 0, "", false, [] and {} are false).
_TRUTHY = (
    "(COALESCE({v}, 'null'::jsonb) NOT IN "
    "('null'::jsonb, '0'::jsonb, '\"\"'::jsonb, 'false'::jsonb, '[]'::jsonb, '{{}}'::jsonb))"
)

# Constant text (the filter is chosen here); every value is a bound parameter.
_HISTORY = f"""
SELECT a.subject_id, a.kind, a.at, a.public, a.actor_id,
       a.data->>'to', a.data->>'hold_reason', a.data->>'transition',
       a.data->>'priority',
       jsonb_typeof(a.data->'group_id'), a.data->>'group_id',
       jsonb_typeof(a.data->'group'), a.data->>'group',
       {_TRUTHY.format(v="a.data->'assignee_id'")} OR {_TRUTHY.format(v="a.data->'assignee'")},
       CASE WHEN jsonb_typeof(a.data->'changes'->'priority') = 'array'
             AND jsonb_array_length(a.data->'changes'->'priority') = 2
            THEN a.data->'changes'->'priority'->>1 END
FROM servicedesk_activity a
WHERE a.subject_type = 'incident' AND a.subject_id >= %s AND a.subject_id < %s {{org}} {{ids}}
  AND a.kind IN ('created', 'state', 'assigned', 'field', 'comment')
ORDER BY a.subject_id, a.at, a.id
"""  # noqa: S608

#: The columns written, in COPY order.
COLUMNS = (
    "organization_id",
    "definition_id",
    "metric",
    "subject_type",
    "subject_id",
    *CLOCK_FIELDS,
    "computed_at",
    "breach_probability",
    "prediction",
    "predicted_at",
)
#: The columns an upsert compares and overwrites (as `recompute_incidents` does).
UPDATED = (*CLOCK_FIELDS, "computed_at")
COMPARED = CLOCK_FIELDS


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return int(float(text))
        except ValueError:
            return None


def _scalar(kind: str | None, text: str | None) -> Any:
    """A JSON scalar from ``jsonb_typeof`` and ``->>`` (Django reads jsonb as text)."""
    if kind == "number":
        number = float(text)  # type: ignore[arg-type]
        return int(number) if number.is_integer() and "." not in text else number  # type: ignore[operator]
    if kind == "string":
        return text
    if kind == "boolean":
        return text == "true"
    return None  # null, absent (arrays and objects never name a group)


def _changes(rows: list[tuple[Any, ...]], requester_id: int | None) -> tuple[list[Change], bool]:
    """`opsdesk.sla.clocks.changes_from_activities` over the columns extracted in SQL."""
    changes: list[Change] = []
    initial = False
    append = changes.append
    for (
        _sid,
        kind,
        at,
        public,
        actor_id,
        to,
        hold_reason,
        transition,
        priority,
        group_id_type,
        group_id,
        group_type,
        group,
        person,
        new_priority,
    ) in rows:
        if kind == "state":
            if to:
                append(
                    Change(at, state=to, hold_reason=hold_reason or "", transition=transition or "")
                )
        elif kind == "assigned":
            value = _scalar(group_id_type, group_id)
            if value is None:
                value = _scalar(group_type, group)  # imported history names the group
            append(Change(at, group=value, responded=person))
        elif kind == "created":
            if priority is not None:
                value = _int(priority)
                if value is not None:
                    initial = True
                    append(Change(at, priority=value))
        elif kind == "field":
            value = _int(new_priority)
            if value is not None:
                append(Change(at, priority=value))
        elif public and actor_id is not None and actor_id != requester_id:  # a comment
            append(Change(at, responded=True))
    return changes, initial


# --- one piece of work ------------------------------------------------------------------------

_STATE: dict[str, Any] = {}


def _prepare(organization_id: int | None, now: datetime) -> None:
    """Definitions and calendars of every organisation concerned, shared by the workers."""
    from opsdesk.core.models import Organization

    orgs = (
        [organization_id]
        if organization_id is not None
        else list(Organization.objects.order_by("pk").values_list("pk", flat=True))
    )
    by_org: dict[int, tuple[list[LoadedDefinition], OrgCalendars]] = {}
    needs_country = needs_category = False
    for org in orgs:
        definitions = load_definitions(org)
        by_org[org] = (definitions, OrgCalendars.load(org))
        for loaded in definitions:
            if not loaded.definition.calendar_id:
                needs_country = True
            for condition in loaded.definition.conditions or []:
                name = condition.get("field") if isinstance(condition, dict) else None
                needs_country = needs_country or name == "country"
                needs_category = needs_category or name == "category"
    vector: dict[int, list[tuple[LoadedDefinition, bv.CalendarArrays, int | None]]] = {}
    python: dict[int, list[LoadedDefinition]] = {}
    now_us = round(now.timestamp() * 1_000_000)
    first_us = _first_opened_us(organization_id) or now_us
    for org, (definitions, calendars) in by_org.items():
        vector[org], python[org] = [], []
        for loaded in definitions:
            if bv.vectorisable(loaded, calendars):
                stored = calendars.choose(loaded.definition.calendar_id)
                arrays = bv.CalendarArrays(calendars.compiled(stored), first_us, now_us)
                vector[org].append((loaded, arrays, stored.pk if stored else None))
            else:
                python[org].append(loaded)
    _STATE.update(
        vector=vector,
        python=python,
        now_us=now_us,
        by_org=by_org,
        now=now,
        organization_id=organization_id,
        needs_country=needs_country,
        needs_category=needs_category,
    )


def _first_opened_us(organization_id: int | None) -> int:
    """When the earliest incident concerned opened (epoch microseconds): calendars are
    indexed from its year on, once, before the workers start."""
    from django.db.models import Min

    from opsdesk.servicedesk.models import Incident

    qs = Incident.objects.all()
    if organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    first = qs.aggregate(first=Min("opened_at"))["first"]
    return round(first.timestamp() * 1_000_000) if first is not None else 0


def _incident_sql(only: bool) -> str:
    joins = []
    ci_country = service_country = category_name = "NULL"
    if _STATE["needs_country"]:
        joins.append("LEFT JOIN cmdb_configurationitem ci ON ci.id = i.ci_id")
        joins.append("LEFT JOIN cmdb_configurationitem sv ON sv.id = i.service_id")
        ci_country, service_country = "ci.country", "sv.country"
    if _STATE["needs_category"]:
        joins.append("LEFT JOIN servicedesk_category cat ON cat.id = i.category_id")
        category_name = "cat.name"
    org = "AND i.organization_id = %s" if _STATE["organization_id"] is not None else ""
    return _INCIDENTS.format(
        ids="AND i.id = ANY(%s)" if only else "",
        ci_country=ci_country,
        service_country=service_country,
        category_name=category_name,
        joins=" ".join(joins),
        org=org,
    )


def _stream(cursor: Any, sql: str, params: list[Any]) -> Iterator[tuple[Any, ...]]:
    cursor.execute(sql, params)
    while True:
        rows = cursor.fetchmany(FETCH)
        if not rows:
            return
        yield from rows


def _tickets(
    lo: int, hi: int, timer: list[float], only: list[int] | None = None
) -> Iterator[tuple[_Ticket, list[Change]]]:
    """Each incident of [lo, hi) (only those in ``only`` if given) with its history, merged
    from two server-side cursors. Time spent waiting for rows is added to ``timer[0]``."""
    org_params = [_STATE["organization_id"]] if _STATE["organization_id"] is not None else []
    if only is not None:
        org_params.append(only)
    raw = connection.connection
    incidents = raw.cursor(name=f"sla_bulk_incidents_{lo}")
    history = raw.cursor(name=f"sla_bulk_history_{lo}")
    org = "AND a.organization_id = %s" if org_params else ""
    try:
        started = time.perf_counter()
        ids = "AND a.subject_id = ANY(%s)" if only is not None else ""
        incident_rows = _stream(incidents, _incident_sql(only is not None), [lo, hi, *org_params])
        activity_rows = _stream(
            history, _HISTORY.replace("{org}", org).replace("{ids}", ids), [lo, hi, *org_params]
        )
        pending = next(activity_rows, None)
        timer[0] += time.perf_counter() - started
        while True:
            started = time.perf_counter()
            row = next(incident_rows, None)
            if row is None:
                timer[0] += time.perf_counter() - started
                return
            ticket = _Ticket(row)
            rows = []
            while pending is not None and pending[0] < ticket.pk:
                pending = next(activity_rows, None)  # an incident of another organisation
            while pending is not None and pending[0] == ticket.pk:
                rows.append(pending)
                pending = next(activity_rows, None)
            changes, initial = _changes(rows, ticket.requester_id)
            if not initial:
                changes.insert(0, Change(ticket.opened_at, priority=ticket.priority))
            timer[0] += time.perf_counter() - started
            yield ticket, changes
    finally:
        incidents.close()
        history.close()


_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _pg_time(value: datetime | None) -> int:
    """A time as a binary timestamptz (microseconds since 2000), NULL as -infinity."""
    return int(bv.NULL_TS) if value is None else (value - _PG_EPOCH) // timedelta(microseconds=1)


def _fallback_rows(
    lo: int, hi: int, only: list[int] | None, everything: set[int], timer: list[float]
) -> list[tuple[Any, ...]]:
    """The per-ticket arithmetic (`compute_for`) for what the arrays do not cover: every
    definition of the tickets in ``everything``, the others' definitions listed in
    ``_STATE["python"]``; rows as the staging table's (`bv.RAW_COLUMNS`)."""
    now: datetime = _STATE["now"]
    by_org, python = _STATE["by_org"], _STATE["python"]
    out: list[tuple[Any, ...]] = []
    for ticket, changes in _tickets(lo, hi, timer, only):
        definitions, calendars = by_org.get(ticket.organization_id, ((), None))
        if ticket.pk not in everything:
            definitions = python.get(ticket.organization_id, ())
        if not definitions:
            continue
        for loaded, metric, result, calendar_id in compute_for(
            ticket, changes, definitions, calendars, now
        ):
            definition = loaded.definition
            v = clock_values(
                result, definition, ticket, calendar_id, _next_check(result, set(), False)
            )
            out.append(
                (
                    ticket.organization_id,
                    definition.pk,
                    bv.METRICS.index(metric),
                    ticket.pk,
                    bv.CLOCK_KINDS.index(v["kind"]),
                    v["service_id"] or 0,
                    v["team_id"] or 0,
                    v["vendor_id"] or 0,
                    v["priority"],
                    v["calendar_id"] or 0,
                    bv.STATUS_CODES.index(v["status"]),
                    v["target_seconds"],
                    v["elapsed_seconds"],
                    v["paused_seconds"],
                    *map(_pg_time, (v["started_at"], v["stopped_at"], v["due_at"])),
                    int(v["breached"]),
                    *map(_pg_time, (v["breached_at"], v["next_check_at"])),
                    v["definition_version"],
                )
            )
    return out


def _vector_rows(incidents: np.ndarray, history: np.ndarray) -> tuple[list[np.ndarray], set[int]]:
    """The clocks the arrays compute, as the columns of `bv.RAW_COLUMNS`, and the ids of
    the tickets that must fall back to the per-ticket arithmetic."""
    now_us: int = _STATE["now_us"]
    s, fallback = bv.stretches(incidents, history, now_us)
    n = len(incidents)
    codes, combos = bv.condition_codes(s)
    org_of, priority, service, group = (
        incidents[:, 1],
        incidents[:, 2],
        incidents[:, 5],
        incidents[:, 6],
    )
    parts: list[list[np.ndarray]] = []
    for org, plans in _STATE["vector"].items():
        in_org = (org_of == org) & ~fallback
        if not plans or not in_org.any():
            continue
        for loaded, calendar, calendar_id in plans:
            d = loaded.definition
            eligible = in_org.copy()
            if loaded.service_ids:
                eligible &= np.isin(service, list(loaded.service_ids))
            if d.priorities:
                eligible &= np.isin(priority, [int(p) for p in d.priorities])
            rules_all = list(loaded.rules.values())
            if d.kind == Kind.OLA:
                held = np.zeros(len(s.ticket), dtype=bool)
                for rules in rules_all:
                    held |= _holds(rules, s.group)
                eligible &= np.bincount(s.ticket[held], minlength=n) > 0
            if d.kind == Kind.UC:
                run = [r.run_when for r in rules_all if r.run_when]
                with_supplier = np.array(
                    [any(bv.tokens(*combo) & when for when in run) for combo in combos], dtype=bool
                )
                touched = with_supplier[codes] if len(codes) else np.zeros(0, bool)
                eligible &= np.bincount(s.ticket[touched], minlength=n) > 0
            if not eligible.any():
                continue
            for metric, rules in loaded.rules.items():
                c = bv.clocks(
                    rules, calendar, s, eligible, codes, combos, _holds(rules, s.group), now_us, n
                )
                keep = np.ones(len(c.ticket), dtype=bool)
                if d.kind != Kind.SLA:
                    keep = c.status != bv.NOT_STARTED
                t = c.ticket[keep]
                count = len(t)

                def const(value: int, count: int = count) -> np.ndarray:
                    return np.full(count, value, dtype=np.int64)

                parts.append(
                    [
                        const(org),
                        const(d.pk),
                        const(bv.METRICS.index(metric)),
                        incidents[t, 0],
                        const(bv.CLOCK_KINDS.index(d.kind)),
                        service[t],
                        const(d.team_id or 0) if d.kind == Kind.OLA else group[t],
                        const(d.vendor_id or 0),
                        c.priority[keep],
                        const(calendar_id or 0),
                        c.status[keep],
                        c.target[keep],
                        c.elapsed[keep],
                        c.paused[keep],
                        bv.pg_timestamp(c.started_at[keep]),
                        bv.pg_timestamp(c.stopped_at[keep]),
                        bv.pg_timestamp(c.due_at[keep]),
                        (c.breached_at[keep] != bv.NULL_TS).astype(np.int64),
                        bv.pg_timestamp(c.breached_at[keep]),
                        bv.pg_timestamp(c.next_check_at[keep]),
                        const(d.version),
                    ]
                )
    columns = (
        [np.concatenate(col) for col in zip(*parts, strict=True)]
        if parts
        else [np.zeros(0, np.int64) for _ in bv.RAW_COLUMNS]
    )
    return columns, set(incidents[fallback, 0].tolist())


def _holds(rules: ClockRules, group: np.ndarray) -> np.ndarray:
    """`ClockRules.holds` per stretch (groups are numbered; 0 is unassigned)."""
    if rules.team is None:
        return np.ones(len(group), dtype=bool)
    return group == rules.team if isinstance(rules.team, int) else np.zeros(len(group), bool)


def _run_piece(bounds: tuple[int, int]) -> Stats:
    """Recompute and write the clocks of incidents with ids in [lo, hi)."""
    lo, hi = bounds
    stats = Stats(pieces=1, database=connection.vendor)
    org_id = _STATE["organization_id"]
    params = {
        "lo": lo,
        "hi": hi,
        "org": org_id,
        "states": list(bv.STATES),
        "holds": list(bv.HOLD_REASONS),
    }
    org = "AND {}.organization_id = %(org)s" if org_id is not None else ""
    cpu = _cpu()
    with transaction.atomic():
        cursor = connection.cursor().cursor
        cursor.execute("SET LOCAL work_mem = '64MB'")  # the history sorts in memory
        started = time.perf_counter()
        incidents = bv.copy_out(
            cursor, bv.INCIDENTS_SQL.replace("{org}", org.format("i")), params, 7
        )
        history = bv.copy_out(cursor, bv.HISTORY_SQL.replace("{org}", org.format("a")), params, 13)
        stats.read_seconds = time.perf_counter() - started
        started = time.perf_counter()
        columns, fallback = _vector_rows(incidents, history)
        stats.compute_seconds = time.perf_counter() - started
        timer = [0.0]
        rows: list[tuple[Any, ...]] = []
        if fallback or any(_STATE["python"].values()):
            started = time.perf_counter()
            only = None if any(_STATE["python"].values()) else sorted(fallback)
            rows = _fallback_rows(lo, hi, only, fallback, timer)
            stats.compute_seconds += time.perf_counter() - started - timer[0]
            stats.read_seconds += timer[0]
        stats.tickets, stats.fallback_tickets = len(incidents), len(fallback)
        if rows:
            extra = np.array(rows, dtype=np.int64).T
            columns = [np.concatenate([c, e]) for c, e in zip(columns, extra, strict=True)]
        stats.clocks = len(columns[0])
        started = time.perf_counter()
        staging = _staging(lo)
        cursor.execute(bv.staging_table(staging))
        if stats.clocks:
            with cursor.copy(f"COPY {staging} FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(bv.binary_copy(columns))
        stats.write_seconds = time.perf_counter() - started
    _add_cpu(stats, cpu)
    stats.peak_memory_mib = _peak_mib()
    return stats


def _staging(lo: int) -> str:
    """The staging table of the piece starting at ``lo`` (unlogged; dropped once merged)."""
    return f"sla_bulk_{_STATE['run']}_{lo}"


class _Merger:
    """Moves each piece's staged clocks into the clock table as the piece is done, all in one
    transaction (while the workers compute the next pieces).

    Into an empty table (a rebuild): INSERTs, with its secondary indexes, unique and foreign
    keys dropped at the start and built again at the end (as a restore does: one sort per
    index, one join per key). Otherwise, per piece: update the clocks whose values changed
    (``computed_at`` moves only for those, as in `recompute_incidents`), insert the new ones,
    delete those of the piece's tickets that are no longer produced."""

    def __init__(self, organization_id: int | None, now: datetime, stats: Stats) -> None:
        self.organization_id, self.now, self.stats = organization_id, now, stats
        self.table = Clock._meta.db_table
        self.names = ", ".join(COLUMNS)
        self.indexes: list[tuple[str, str]] = []
        self.keys: list[tuple[str, str]] = []
        self.rebuild = False

    def __enter__(self) -> _Merger:
        # Not inside a caller's transaction: its pending foreign-key checks forbid a rebuild.
        nested = connection.in_atomic_block
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.cpu = _cpu()
        started = time.perf_counter()
        self.cursor = connection.cursor().cursor
        self.cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        self.cursor.execute(f"LOCK TABLE {self.table} IN SHARE ROW EXCLUSIVE MODE")
        self.cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {self.table})")  # noqa: S608
        self.rebuild = not self.cursor.fetchone()[0] and not nested
        if self.rebuild:
            self.cursor.execute(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
                "FROM pg_index i WHERE i.indrelid = %s::regclass AND NOT EXISTS "
                "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
                [self.table],
            )
            self.indexes = self.cursor.fetchall()
            self.cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype IN ('f', 'u') ORDER BY contype DESC",
                [self.table],
            )
            self.keys = self.cursor.fetchall()
            for name, _ in self.indexes:
                self.cursor.execute(f'DROP INDEX "{name}"')
            for name, _ in self.keys:
                self.cursor.execute(f'ALTER TABLE {self.table} DROP CONSTRAINT "{name}"')
        self.stats.merge_seconds += time.perf_counter() - started
        return self

    def piece(self, lo: int, hi: int) -> None:
        started = time.perf_counter()
        cursor, table, names, staging = self.cursor, self.table, self.names, _staging(lo)
        select = bv.staged_clocks(staging)
        params = {"now": self.now, "lo": lo, "hi": hi, "org": self.organization_id}
        if self.rebuild:
            cursor.execute(f"INSERT INTO {table} ({names}) {select}", params)
            self.stats.created += cursor.rowcount
        else:
            cursor.execute(f"CREATE TEMP TABLE sla_bulk_new AS {select}", params)
            cursor.execute("ANALYZE sla_bulk_new")
            # The piece's clocks only (through `clock_subject`), not the whole table.
            key = (
                "c.definition_id = n.definition_id AND c.subject_type = n.subject_type "
                "AND c.subject_id = n.subject_id AND c.metric = n.metric "
                "AND c.subject_type = 'incident' AND c.subject_id >= %(lo)s "
                "AND c.subject_id < %(hi)s"
            )
            changed = " OR ".join(f"c.{c} IS DISTINCT FROM n.{c}" for c in COMPARED)
            cursor.execute(
                f"UPDATE {table} c SET {', '.join(f'{c} = n.{c}' for c in UPDATED)} "  # noqa: S608
                f"FROM sla_bulk_new n WHERE {key} AND ({changed})",
                params,
            )
            self.stats.updated += cursor.rowcount
            cursor.execute(
                f"INSERT INTO {table} ({names}) SELECT {names} FROM sla_bulk_new n "  # noqa: S608
                f"WHERE NOT EXISTS (SELECT 1 FROM {table} c WHERE {key})",
                params,
            )
            self.stats.created += cursor.rowcount
            org = "AND i.organization_id = %(org)s" if self.organization_id is not None else ""
            cursor.execute(
                f"DELETE FROM {table} c WHERE c.subject_type = 'incident' "  # noqa: S608
                f"AND c.subject_id >= %(lo)s AND c.subject_id < %(hi)s AND c.subject_id IN "
                f"(SELECT i.id FROM servicedesk_incident i WHERE i.id >= %(lo)s "
                f"AND i.id < %(hi)s {org}) "
                f"AND NOT EXISTS (SELECT 1 FROM sla_bulk_new n WHERE {key})",
                params,
            )
            self.stats.deleted += cursor.rowcount
            cursor.execute("DROP TABLE sla_bulk_new")
        cursor.execute(f"DROP TABLE {staging}")
        self.stats.merge_seconds += time.perf_counter() - started

    def __exit__(self, *exc: Any) -> None:
        started = time.perf_counter()
        try:
            if exc[0] is None:
                for _, definition in self.indexes:
                    self.cursor.execute(definition)
                for name, definition in self.keys:
                    self.cursor.execute(
                        f'ALTER TABLE {self.table} ADD CONSTRAINT "{name}" {definition}'
                    )
                _add_cpu(self.stats, self.cpu)
        finally:
            self.atomic.__exit__(*exc)
        self.stats.merge_seconds += time.perf_counter() - started


# --- the whole run ----------------------------------------------------------------------------


def _pieces(organization_id: int | None) -> list[tuple[int, int]]:
    from opsdesk.servicedesk.models import Incident

    qs = Incident.objects.all()
    if organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    ids = qs.order_by().values_list("pk", flat=True)
    lo, hi = ids.order_by("pk").first(), ids.order_by("-pk").first()
    if lo is None:
        return []
    return [(start, min(start + PIECE, hi + 1)) for start in range(lo, hi + 1, PIECE)]


def recompute_all(
    organization_id: int | None = None,
    *,
    workers: int = 2,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> Stats:
    """Recompute every incident clock (of one organisation, or all) and store it; returns
    what was done. ``progress(pieces_done, pieces)`` is called as pieces of the id range
    finish. ``workers`` processes share the pieces on PostgreSQL (in-process when 1, or
    when called inside a transaction whose rows other connections could not see)."""
    now = now or timezone.now()
    started = time.perf_counter()
    if connection.vendor != "postgresql":
        stats = _recompute_sqlite(organization_id, now, progress)
    else:
        stats = _recompute_postgres(organization_id, now, max(1, workers), progress)
    stats.wall_seconds = time.perf_counter() - started
    stats.peak_memory_mib = max(stats.peak_memory_mib, _peak_mib())
    stats.database = connection.vendor
    return stats


def _run(bounds: tuple[int, int]) -> tuple[tuple[int, int], Stats]:
    return bounds, _run_piece(bounds)


def _recompute_postgres(
    organization_id: int | None, now: datetime, workers: int, progress: Progress | None
) -> Stats:
    _prepare(organization_id, now)
    pieces = _pieces(organization_id)
    stats = Stats(workers=workers)
    if progress is not None:
        progress(0, len(pieces))
    _STATE["run"] = os.getpid()
    try:
        if workers == 1 or len(pieces) <= 1 or connection.in_atomic_block:
            # In-process (also inside a transaction, whose rows other connections cannot see).
            with _Merger(organization_id, now, stats) as merger:
                for done, piece in enumerate(pieces, 1):
                    stats.add(_run_piece(piece))
                    merger.piece(*piece)
                    if progress is not None:
                        progress(done, len(pieces))
            stats.workers = 1
        else:
            connections.close_all()  # each worker opens its own
            context = multiprocessing.get_context("fork")
            with context.Pool(workers) as pool, _Merger(organization_id, now, stats) as merger:
                for done, (piece, piece_stats) in enumerate(pool.imap_unordered(_run, pieces), 1):
                    stats.add(piece_stats)
                    merger.piece(*piece)
                    if progress is not None:
                        progress(done, len(pieces))
    finally:
        _drop_staging()
    stats.write_seconds += stats.merge_seconds
    stats.unchanged = stats.clocks - stats.created - stats.updated
    return stats


def _drop_staging() -> None:
    """Staging tables a failed run left behind."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE %s",
            [f"sla\\_bulk\\_{_STATE['run']}\\_%"],
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP TABLE IF EXISTS "{name}"')


def _recompute_sqlite(
    organization_id: int | None, now: datetime, progress: Progress | None
) -> Stats:
    from opsdesk.servicedesk.models import Incident
    from opsdesk.sla.clocks import incidents_for_recompute, recompute_incidents

    qs = Incident.objects.all()
    if organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    total = qs.count()
    pieces = (total + SQLITE_BATCH - 1) // SQLITE_BATCH
    stats = Stats(workers=1)
    if progress is not None:
        progress(0, pieces)
    last = 0
    done = 0
    while True:
        started = time.perf_counter()
        batch = list(incidents_for_recompute(qs.filter(pk__gt=last).order_by("pk"))[:SQLITE_BATCH])
        if not batch:
            break
        last = batch[-1].pk
        stats.read_seconds += time.perf_counter() - started
        started = time.perf_counter()
        summary = recompute_incidents(batch, now=now, live=False)
        stats.compute_seconds += time.perf_counter() - started
        stats.tickets += summary.tickets
        stats.clocks += summary.clocks
        stats.created += summary.created
        stats.updated += summary.updated
        stats.deleted += summary.deleted
        stats.unchanged += summary.clocks - summary.created - summary.updated
        stats.pieces += 1
        done += 1
        if progress is not None:
            progress(min(done, pieces), pieces)
    return stats
