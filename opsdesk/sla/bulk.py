"""Every clock of every ticket, recomputed fast: the bulk path behind ``opsdesk sla_bulk
recompute`` (after an import, a restore or a change to every definition).

It writes exactly the rows `opsdesk.sla.clocks.recompute_incidents(..., live=False)` writes
(the same `compute_for` and `clock_values` decide every clock) but does not go through the
ORM per ticket:

- the incident id range is cut into pieces, shared by ``workers`` processes (each with its
  own database connection);
- a piece streams its incidents and their history through two server-side cursors ordered
  by id (only the columns a clock needs; the JSON fields of each timeline entry extracted in
  SQL: ``data->>'to'``, ``data->>'hold_reason'``, ``data->'group_id'``, ...) and merges them;
- each ticket's history is turned into stretches once, shared by all its clocks;
- the clocks go out with COPY into a temporary table, then one
  ``INSERT ... ON CONFLICT (definition, subject, metric) DO UPDATE`` that touches only rows
  whose values changed (``computed_at`` moves only for those, as in `recompute_incidents`),
  and one DELETE of the piece's clocks whose definition no longer applies.

On SQLite it falls back to `recompute_incidents` in batches. Warnings and breaches already
recorded (`ClockEvent`) are not touched: like an import, a bulk replay schedules no
warnings for clocks that are no longer running (``live=False``).
"""

from __future__ import annotations

import multiprocessing
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from django.db import connection, connections, transaction
from django.utils import timezone

from opsdesk.sla.calendars import OrgCalendars
from opsdesk.sla.clocks import (
    CLOCK_FIELDS,
    LoadedDefinition,
    _next_check,
    clock_values,
    compute_for,
    load_definitions,
)
from opsdesk.sla.engine import Change
from opsdesk.sla.models import Clock

#: Incident ids per piece of work (one transaction, one COPY, one upsert).
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
    workers: int = 1
    wall_seconds: float = 0.0
    read_seconds: float = 0.0
    compute_seconds: float = 0.0
    write_seconds: float = 0.0
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
            "read_seconds",
            "compute_seconds",
            "write_seconds",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.peak_memory_mib = max(self.peak_memory_mib, other.peak_memory_mib)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("wall_seconds", "read_seconds", "compute_seconds", "write_seconds"):
            out[name] = round(out[name], 2)
        out["peak_memory_mib"] = round(out["peak_memory_mib"], 1)
        return out


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


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
WHERE i.id >= %s AND i.id < %s {org}
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
WHERE a.subject_type = 'incident' AND a.subject_id >= %s AND a.subject_id < %s {{org}}
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
    _STATE.update(
        by_org=by_org,
        now=now,
        organization_id=organization_id,
        needs_country=needs_country,
        needs_category=needs_category,
    )


def _incident_sql() -> str:
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


def _tickets(lo: int, hi: int, timer: list[float]) -> Iterator[tuple[_Ticket, list[Change]]]:
    """Each incident of [lo, hi) with its history, merged from two server-side cursors.
    Time spent waiting for rows is added to ``timer[0]``."""
    org_params = [_STATE["organization_id"]] if _STATE["organization_id"] is not None else []
    raw = connection.connection
    incidents = raw.cursor(name=f"sla_bulk_incidents_{lo}")
    history = raw.cursor(name=f"sla_bulk_history_{lo}")
    org = "AND a.organization_id = %s" if org_params else ""
    try:
        started = time.perf_counter()
        incident_rows = _stream(incidents, _incident_sql(), [lo, hi, *org_params])
        activity_rows = _stream(history, _HISTORY.replace("{org}", org), [lo, hi, *org_params])
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


def _run_piece(bounds: tuple[int, int]) -> Stats:
    """Recompute and write the clocks of incidents with ids in [lo, hi)."""
    lo, hi = bounds
    stats = Stats(pieces=1, database=connection.vendor)
    now: datetime = _STATE["now"]
    by_org = _STATE["by_org"]
    timer = [0.0]
    compute_seconds = 0.0
    out: list[tuple[Any, ...]] = []
    ids: list[int] = []
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '64MB'")  # the history sorts in memory
        for ticket, changes in _tickets(lo, hi, timer):
            started = time.perf_counter()
            ids.append(ticket.pk)
            stats.tickets += 1
            definitions, calendars = by_org.get(ticket.organization_id, ((), None))
            if definitions:
                for loaded, metric, result, calendar_id in compute_for(
                    ticket, changes, definitions, calendars, now
                ):
                    definition = loaded.definition
                    values = clock_values(
                        result, definition, ticket, calendar_id, _next_check(result, set(), False)
                    )
                    out.append(
                        (
                            ticket.organization_id,
                            definition.pk,
                            metric,
                            "incident",
                            ticket.pk,
                            *[values[name] for name in CLOCK_FIELDS],
                            now,
                            None,
                            "{}",
                            None,
                        )
                    )
            compute_seconds += time.perf_counter() - started
        stats.clocks = len(out)
        stats.read_seconds = timer[0]
        stats.compute_seconds = compute_seconds
        started = time.perf_counter()
        if ids:
            created, updated, deleted = _write(out, ids)
            stats.created, stats.updated, stats.deleted = created, updated, deleted
            stats.unchanged = stats.clocks - created - updated
        stats.write_seconds = time.perf_counter() - started
    stats.peak_memory_mib = _peak_mib()
    return stats


def _write(rows: list[tuple[Any, ...]], ids: list[int]) -> tuple[int, int, int]:
    """COPY into a temporary table, upsert what changed, delete clocks no longer produced."""
    from psycopg import sql

    table = Clock._meta.db_table
    columns = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor
        cursor.execute(
            sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS sla_bulk_clock ON COMMIT DELETE ROWS AS "
                "SELECT {} FROM {} WITH NO DATA"
            ).format(columns, sql.Identifier(table))
        )
        cursor.execute("TRUNCATE sla_bulk_clock")  # rows left inside an outer transaction
        with cursor.copy(sql.SQL("COPY sla_bulk_clock ({}) FROM STDIN").format(columns)) as copy:
            for row in rows:
                copy.write_row(row)
        changed = sql.SQL(" OR ").join(
            sql.SQL("{t}.{c} IS DISTINCT FROM EXCLUDED.{c}").format(
                t=sql.Identifier(table), c=sql.Identifier(name)
            )
            for name in COMPARED
        )
        cursor.execute(
            sql.SQL(
                "WITH up AS (INSERT INTO {t} ({cols}) SELECT {cols} FROM sla_bulk_clock "
                "ON CONFLICT (definition_id, subject_type, subject_id, metric) DO UPDATE SET {set} "
                "WHERE {changed} RETURNING (xmax = 0) AS inserted) "
                "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) "
                "FROM up"
            ).format(
                t=sql.Identifier(table),
                cols=columns,
                set=sql.SQL(", ").join(
                    sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(name)) for name in UPDATED
                ),
                changed=changed,
            )
        )
        created, updated = cursor.fetchone()
        cursor.execute(
            sql.SQL(
                "DELETE FROM {t} c WHERE c.subject_type = 'incident' AND c.subject_id = ANY(%s) "
                "AND NOT EXISTS (SELECT 1 FROM sla_bulk_clock b WHERE "
                "b.definition_id = c.definition_id AND b.subject_id = c.subject_id "
                "AND b.metric = c.metric)"
            ).format(t=sql.Identifier(table)),
            [ids],
        )
        deleted = cursor.rowcount
    return created, updated, deleted


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


def _recompute_postgres(
    organization_id: int | None, now: datetime, workers: int, progress: Progress | None
) -> Stats:
    _prepare(organization_id, now)
    pieces = _pieces(organization_id)
    stats = Stats(workers=workers)
    if progress is not None:
        progress(0, len(pieces))
    if workers == 1 or len(pieces) <= 1 or connection.in_atomic_block:
        # In-process (also inside a transaction, whose rows other connections cannot see).
        for done, piece in enumerate(pieces, 1):
            stats.add(_run_piece(piece))
            if progress is not None:
                progress(done, len(pieces))
        stats.workers = 1
        return stats
    connections.close_all()  # each worker opens its own
    context = multiprocessing.get_context("fork")
    with context.Pool(workers) as pool:
        for done, piece_stats in enumerate(pool.imap_unordered(_run_piece, pieces), 1):
            stats.add(piece_stats)
            if progress is not None:
                progress(done, len(pieces))
    return stats


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
