"""The clocks of many tickets at once, with numpy: the arithmetic of `opsdesk.sla.engine.compute`
over arrays, for the bulk recompute (`opsdesk.sla.bulk`).

A piece of incidents and their history is read with binary COPY as fixed-width rows (every
column an 8-byte integer, text turned into small codes in SQL), so numpy reads them without
Python touching a row. Then, with the same arithmetic in the same order as the per-ticket
path (so every float rounds the same way):

- the history becomes changes, and the changes stretches of constant condition (state,
  hold reason, group, priority, responded), as `engine.stretches` builds them;
- per definition and metric, each stretch is classified through a table of
  `engine._classify_condition` over the few distinct conditions; the clocks then walk their
  stretches position by position (all clocks at once): resets, start, stop, paused wall time,
  business time and threshold crossings;
- business time on a calendar is ``F(b) - F(a)`` and a crossing ``F^-1(F(a) + s)`` over the
  calendar's own index (working intervals and the working time before each), with
  ``np.searchsorted`` where the per-ticket path bisects.

What this does not cover goes back to the per-ticket arithmetic (`compute_for`): tickets
whose history holds values outside the codes (a group named instead of numbered, an
unknown state, a priority that is not a whole number) and definitions with conditions or
whose calendar depends on the ticket's country. `Vectorised.fallback_tickets` says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from opsdesk.core.calendars import Calendar
from opsdesk.sla.calendars import OrgCalendars
from opsdesk.sla.choices import Kind
from opsdesk.sla.clocks import LoadedDefinition
from opsdesk.sla.engine import ClockRules, Condition, _classify_condition

#: Microseconds between the Unix epoch and PostgreSQL's (2000-01-01), binary timestamps.
PG_EPOCH_US = 946_684_800_000_000
#: A null timestamp in the staging table (binary COPY rows must have a fixed width).
NULL_TS = np.iinfo(np.int64).min

STATES = ("new", "in_progress", "on_hold", "resolved", "closed", "cancelled")
HOLD_REASONS = ("awaiting_requester", "awaiting_vendor", "awaiting_change")
NEW, CANCELLED = 1, STATES.index("cancelled") + 1
#: Classification kinds, as codes.
KINDS = ("not_started", "running", "paused", "waiting", "stopped")
NOT_STARTED, RUNNING, PAUSED, WAITING, STOPPED = range(5)
STATUS_CODES = (*KINDS, "cancelled")
CANCELLED_STATUS = len(KINDS)
METRICS = ("response", "resolution")
CLOCK_KINDS = tuple(Kind.values)

# Activity kinds, in the order of the CASE below.
CREATED, STATE, ASSIGNED, FIELD, COMMENT = range(5)

_INT = "'^-?[0-9]+$'"
# Every column an int8 (never null): binary COPY rows of one fixed width.
INCIDENTS_SQL = """
SELECT i.id, i.organization_id, i.priority::int8, i.opened_at,
       COALESCE(i.requester_id, 0), COALESCE(i.service_id, 0),
       COALESCE(i.assignment_group_id, 0)
FROM servicedesk_incident i
WHERE i.id >= %(lo)s AND i.id < %(hi)s {org}
ORDER BY i.id
"""
# Codes: state and hold reason 0 = empty, -1 = outside the vocabulary (the ticket falls
# back); transition 0 = empty, 1 = reopen, 2 = another; a priority or group: kind 0 = none,
# 1 = a whole number, -1 = anything else (falls back).
HISTORY_SQL = f"""
SELECT a.subject_id, a.at, k.kind::int8,
       CASE WHEN k.kind <> 1 OR COALESCE(a.data->>'to', '') = '' THEN 0
            ELSE COALESCE(array_position(%(states)s::text[], a.data->>'to'), -1) END::int8,
       CASE WHEN k.kind <> 1 OR COALESCE(a.data->>'hold_reason', '') = '' THEN 0
            ELSE COALESCE(array_position(%(holds)s::text[], a.data->>'hold_reason'), -1)
       END::int8,
       CASE WHEN k.kind <> 1 OR COALESCE(a.data->>'transition', '') = '' THEN 0
            WHEN a.data->>'transition' = 'reopen' THEN 1 ELSE 2 END::int8,
       CASE WHEN p.text IS NULL THEN 0 WHEN p.text ~ {_INT} AND length(p.text) < 18 THEN 1
            ELSE -1 END::int8,
       CASE WHEN p.text ~ {_INT} AND length(p.text) < 18 THEN p.text::int8 ELSE 0 END,
       g.kind::int8, CASE WHEN g.kind = 1 THEN (a.data->>'group_id')::int8 ELSE 0 END,
       (k.kind = 2 AND ((COALESCE(a.data->'assignee_id', 'null'::jsonb) NOT IN {{falsy}})
        OR (COALESCE(a.data->'assignee', 'null'::jsonb) NOT IN {{falsy}})))::int::int8,
       (a.public AND a.actor_id IS NOT NULL)::int::int8, COALESCE(a.actor_id, 0)
FROM servicedesk_activity a
CROSS JOIN LATERAL (
    SELECT CASE a.kind WHEN 'created' THEN 0 WHEN 'state' THEN 1 WHEN 'assigned' THEN 2
                       WHEN 'field' THEN 3 ELSE 4 END AS kind
) k
CROSS JOIN LATERAL (
    SELECT CASE k.kind WHEN 0 THEN a.data->>'priority'
           WHEN 3 THEN CASE WHEN jsonb_typeof(a.data->'changes'->'priority') = 'array'
                AND jsonb_array_length(a.data->'changes'->'priority') = 2
                THEN a.data->'changes'->'priority'->>1 END END AS text
) p
CROSS JOIN LATERAL (
    SELECT CASE WHEN k.kind <> 2 THEN 0
                WHEN jsonb_typeof(a.data->'group_id') = 'number' THEN
                     CASE WHEN a.data->>'group_id' ~ '^[1-9][0-9]{{0,16}}$' THEN 1 ELSE -1 END
                WHEN jsonb_typeof(a.data->'group_id') IN ('string', 'boolean') THEN -1
                WHEN jsonb_typeof(a.data->'group') IN ('number', 'string', 'boolean') THEN -1
                ELSE 0 END AS kind
) g
WHERE a.subject_type = 'incident' AND a.subject_id >= %(lo)s AND a.subject_id < %(hi)s {{org}}
  AND a.kind IN ('created', 'state', 'assigned', 'field', 'comment')
ORDER BY a.subject_id, a.at, a.id
"""  # noqa: S608
FALSY = "('null'::jsonb, '0'::jsonb, '\"\"'::jsonb, 'false'::jsonb, '[]'::jsonb, '{}'::jsonb)"
HISTORY_SQL = HISTORY_SQL.replace("{falsy}", FALSY)


def binary_rows(buffer: bytes, columns: int) -> np.ndarray:
    """The rows of a binary COPY whose columns are all non-null int8 (or timestamps), as
    an (n, columns) int64 array."""
    header = 19  # signature (11), flags (4), header extension length (4, zero)
    body = memoryview(buffer)[header : len(buffer) - 2]  # trailer: -1 as int16
    width = 2 + columns * 12
    if len(body) % width:
        raise ValueError("binary COPY rows are not of the expected width")
    dtype = np.dtype(
        [("n", ">i2"), *[(f"c{i}", [("l", ">i4"), ("v", ">i8")]) for i in range(columns)]]
    )
    rows = np.frombuffer(body, dtype=dtype)
    return np.stack([rows[f"c{i}"]["v"].astype(np.int64) for i in range(columns)], axis=1)


def copy_out(cursor: Any, sql: str, params: Any, columns: int) -> np.ndarray:
    chunks = []
    with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT BINARY)", params) as copy:
        for chunk in copy:
            chunks.append(bytes(chunk))
    data = b"".join(chunks)
    if not data:
        return np.zeros((0, columns), dtype=np.int64)
    return binary_rows(data, columns)


# --- calendars over arrays ---------------------------------------------------------------------


def epoch(us: np.ndarray) -> np.ndarray:
    """Epoch seconds as `datetime.timestamp()` gives them (microseconds / 10**6)."""
    return us.astype(np.float64) / 1e6


def from_epoch(seconds: np.ndarray) -> np.ndarray:
    """Microseconds as `datetime.fromtimestamp(seconds, UTC)` rounds them (half to even)."""
    whole = np.trunc(seconds)
    fraction = np.rint((seconds - whole) * 1e6)
    carry = fraction >= 1e6
    fraction = np.where(carry, fraction - 1e6, fraction)
    whole = np.where(carry, whole + 1.0, whole)
    return whole.astype(np.int64) * 1_000_000 + fraction.astype(np.int64)


class CalendarArrays:
    """One compiled calendar's index as arrays: business time and due times for many
    instants at once, computed as `Calendar.business_seconds` and `Calendar.add` do."""

    def __init__(self, calendar: Calendar, first_us: int, last_us: int) -> None:
        self.always = calendar.spec.always_open
        self.calendar = calendar
        if self.always:
            return
        first = datetime.fromtimestamp(first_us / 1e6, UTC).year
        last = datetime.fromtimestamp(last_us / 1e6, UTC).year
        calendar._ensure(first - 1, last + 1)
        self._load()

    def _load(self) -> None:
        starts, ends, cum, cum_end = self.calendar._index
        self.starts = np.asarray(starts, dtype=np.float64)
        self.ends = np.asarray(ends, dtype=np.float64)
        self.cum = np.asarray(cum, dtype=np.float64)
        self.cum_end = np.asarray(cum_end, dtype=np.float64)

    def _cum_at(self, t: np.ndarray) -> np.ndarray:
        i = np.searchsorted(self.starts, t, side="right") - 1
        safe = np.maximum(i, 0)
        found = self.cum[safe] + np.minimum(t, self.ends[safe]) - self.starts[safe]
        return np.where(i < 0, 0.0, found)

    def business_seconds(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Working seconds in [a, b), epoch seconds, b >= a."""
        if self.always:
            return b - a
        return self._cum_at(b) - self._cum_at(a)

    def add(self, a: np.ndarray, seconds: np.ndarray) -> np.ndarray:
        """Epoch microseconds at which ``seconds`` (> 0) of working time from ``a`` run out."""
        if self.always:
            return from_epoch(a + seconds)
        target = self._cum_at(a) + seconds
        while len(target) and (not len(self.cum_end) or self.cum_end[-1] < target.max()):
            years = self.calendar._years
            assert years is not None
            self.calendar._ensure(years[0], years[1] + 1)  # as `Calendar.add` extends it
            self._load()
            target = self._cum_at(a) + seconds
        j = np.searchsorted(self.cum_end, target, side="left")
        return from_epoch(self.starts[j] + (target - self.cum[j]))


# --- history -> stretches ----------------------------------------------------------------------


@dataclass
class Stretches:
    """Every ticket's stretches, ticket by ticket in order (arrays of one length)."""

    ticket: np.ndarray  # index of the ticket in the piece
    position: np.ndarray  # 0, 1, ... within the ticket
    start: np.ndarray  # epoch microseconds
    end: np.ndarray  # epoch microseconds (now for the last, never before start)
    last: np.ndarray  # the ticket's last stretch (still going at now)
    state: np.ndarray
    hold: np.ndarray
    group: np.ndarray  # 0 = unassigned
    priority: np.ndarray
    responded: np.ndarray
    reopen: np.ndarray  # began with a reopen


def _ffill(
    mask: np.ndarray, values: np.ndarray, block_start: np.ndarray, initial: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Within each ticket's block of rows, the value of the last row where ``mask`` holds
    (``initial`` before any)."""
    index = np.where(mask, np.arange(len(mask)), -1)
    np.maximum.accumulate(index, out=index)
    valid = index >= block_start
    return np.where(valid, values[np.maximum(index, 0)], initial), valid


def stretches(
    incidents: np.ndarray, history: np.ndarray, now_us: int
) -> tuple[Stretches, np.ndarray]:
    """The stretches of every ticket whose history has codes only, and a mask of the tickets
    that must fall back (values outside the codes)."""
    n = len(incidents)
    ids, opened, requester, priority = (
        incidents[:, 0], incidents[:, 3] + PG_EPOCH_US, incidents[:, 4], incidents[:, 2],
    )  # fmt: skip
    sid = history[:, 0]
    ticket = np.searchsorted(ids, sid)
    ticket_ok = (ticket < n) & (ids[np.minimum(ticket, n - 1)] == sid) if n else ticket < 0
    h = history[ticket_ok]
    ticket = ticket[ticket_ok]
    at = h[:, 1] + PG_EPOCH_US
    kind, state, hold, transition = h[:, 2], h[:, 3], h[:, 4], h[:, 5]
    prio_kind, prio_value, group_kind, group_value = h[:, 6], h[:, 7], h[:, 8], h[:, 9]
    person, public_actor, actor = h[:, 10], h[:, 11], h[:, 12]
    odd_row = (
        ((kind == STATE) & ((state < 0) | (hold < 0)))
        | (((kind == CREATED) | (kind == FIELD)) & (prio_kind < 0))
        | ((kind == ASSIGNED) & (group_kind < 0))
    )
    fallback = np.zeros(n, dtype=bool)
    fallback[ticket[odd_row]] = True
    # The changes the history makes (`bulk._changes`).
    is_change = (
        ((kind == STATE) & (state > 0))
        | (kind == ASSIGNED)
        | (((kind == CREATED) | (kind == FIELD)) & (prio_kind == 1))
        | ((kind == COMMENT) & (public_actor == 1) & (actor != requester[ticket]))
    )
    keep = is_change & ~fallback[ticket]
    initial = np.zeros(n, dtype=bool)
    initial[ticket[keep & (kind == CREATED)]] = True
    ticket, at, kind = ticket[keep], at[keep], kind[keep]
    state, hold, transition = state[keep], hold[keep], transition[keep]
    prio_kind, prio_value, group_value = prio_kind[keep], prio_value[keep], group_value[keep]
    person = person[keep]
    # Per ticket: an origin row (the first stretch's start), the opening priority when the
    # history has none, then the changes; stable by time (`sorted(changes, key=at)`).
    good = np.flatnonzero(~fallback)
    synth = good[~initial[good]]
    rows_ticket = np.concatenate([good, synth, ticket])
    rows_at = np.concatenate([opened[good], opened[synth], at])
    order_key = np.concatenate(
        [np.full(len(good), -2), np.full(len(synth), -1), np.arange(len(at))]
    )
    origin_key = np.concatenate([np.zeros(len(good)), np.ones(len(synth) + len(at))])
    order = np.lexsort((order_key, rows_at, origin_key, rows_ticket))
    zeros = np.zeros(len(good) + len(synth), dtype=np.int64)
    r_ticket = rows_ticket[order]
    r_at = np.maximum(rows_at[order], opened[r_ticket])
    r_origin = np.concatenate([np.ones(len(good), bool), np.zeros(len(synth) + len(at), bool)])[
        order
    ]
    r_kind = np.concatenate([np.full(len(good), -1), np.full(len(synth), CREATED), kind])[order]
    r_state = np.concatenate([zeros, state])[order]
    r_hold = np.concatenate([zeros, hold])[order]
    r_transition = np.concatenate([zeros, transition])[order]
    r_prio_set = np.concatenate(
        [np.zeros(len(good), bool), np.ones(len(synth), bool), prio_kind == 1]
    )[order]
    r_prio = np.concatenate([np.zeros(len(good), np.int64), priority[synth], prio_value])[order]
    r_group_set = np.concatenate([np.zeros(len(good) + len(synth), bool), kind == ASSIGNED])[order]
    r_group = np.concatenate([zeros, group_value])[order]
    r_person = np.concatenate([zeros, np.where(kind == COMMENT, 1, person)])[order]
    r_person = np.where((r_kind == ASSIGNED) | (r_kind == COMMENT), r_person, 0)
    # Changes after now are not replayed (they stop the walk).
    live = ~(r_at > now_us) | r_origin
    r = np.flatnonzero(live)
    r_ticket, r_at, r_origin, r_kind = r_ticket[r], r_at[r], r_origin[r], r_kind[r]
    r_state, r_hold, r_transition = r_state[r], r_hold[r], r_transition[r]
    r_prio_set, r_prio, r_group_set, r_group, r_person = (
        r_prio_set[r], r_prio[r], r_group_set[r], r_group[r], r_person[r],
    )  # fmt: skip
    count = len(r_ticket)
    block = np.zeros(count, dtype=np.int64)
    if count:
        starts_at = np.flatnonzero(r_origin)
        block = starts_at[np.cumsum(r_origin) - 1]
    # The condition after each row.
    state_set = r_state > 0
    c_state, _ = _ffill(state_set, r_state, block, NEW)
    c_hold, _ = _ffill(state_set, r_hold, block, 0)
    c_group, _ = _ffill(r_group_set, r_group, block, 0)
    c_prio, _ = _ffill(r_prio_set, r_prio, block, 5)
    prev_state = np.empty_like(c_state)
    if count:
        prev_state[1:] = c_state[:-1]
        prev_state[r_origin] = NEW
    began = state_set & (r_state != NEW) & (prev_state == NEW)
    flag = (r_person > 0) | began
    c_resp, _ = _ffill(flag, np.ones(count, dtype=bool), block, False)
    # Effective rows: the condition changed, or a transition was named.
    changed = np.zeros(count, dtype=bool)
    if count:
        changed[1:] = (
            (c_state[1:] != c_state[:-1]) | (c_hold[1:] != c_hold[:-1])
            | (c_group[1:] != c_group[:-1]) | (c_prio[1:] != c_prio[:-1])
            | (c_resp[1:] != c_resp[:-1])
        )  # fmt: skip
    effective = (changed | (r_transition > 0)) & ~r_origin
    # A stretch begins at the origin and at each effective row later than the last.
    anchor = effective | r_origin
    prev_at, _ = _ffill(anchor, r_at, block, 0)
    previous = np.empty_like(prev_at)
    if count:
        previous[1:] = prev_at[:-1]
        previous[r_origin] = r_at[r_origin]
    boundary = r_origin | (effective & (r_at > previous))
    s_rows = np.flatnonzero(boundary)
    # A stretch's condition: after the last row before the next stretch.
    s_next = np.empty_like(s_rows)
    if len(s_rows):
        s_next[:-1] = s_rows[1:]
        s_next[-1] = count
    s_end_row = s_next - 1
    s_ticket = r_ticket[s_rows]
    is_last = np.ones(len(s_rows), dtype=bool)
    if len(s_rows):
        is_last[:-1] = s_ticket[1:] != s_ticket[:-1]
    # Its transition: the last named in its rows (else the first row's, "create" at origin).
    named = r_transition > 0
    last_named, named_ok = _ffill(named, r_transition, np.repeat(s_rows, s_next - s_rows), 0)
    reopen = (last_named[s_end_row] == 1) & named_ok[s_end_row]
    start = r_at[s_rows]
    end = np.where(is_last, now_us, np.append(start[1:], 0) if len(start) else start)
    end = np.maximum(end, start)
    firsts = np.flatnonzero(r_origin[s_rows])
    position = np.arange(len(s_rows)) - np.repeat(firsts, np.diff(np.append(firsts, len(s_rows))))
    out = Stretches(
        ticket=s_ticket,
        position=position,
        start=start,
        end=end,
        last=is_last,
        state=c_state[s_end_row],
        hold=c_hold[s_end_row],
        group=c_group[s_end_row],
        priority=c_prio[s_end_row],
        responded=c_resp[s_end_row],
        reopen=reopen,
    )
    return out, fallback


# --- clocks ------------------------------------------------------------------------------------


@dataclass
class Clocks:
    """The clocks of one definition and metric over some tickets (arrays of one length)."""

    ticket: np.ndarray
    status: np.ndarray  # STATUS_CODES
    priority: np.ndarray
    target: np.ndarray
    elapsed: np.ndarray  # rounded
    paused: np.ndarray  # rounded
    started_at: np.ndarray  # µs or NULL_TS, likewise below
    stopped_at: np.ndarray
    due_at: np.ndarray
    breached_at: np.ndarray
    next_check_at: np.ndarray


def condition_codes(s: Stretches) -> tuple[np.ndarray, list[tuple[int, int, bool]]]:
    key = (s.state * 64 + s.hold) * 2 + s.responded.astype(np.int64)
    unique, codes = np.unique(key, return_inverse=True)
    combos = [(int(k) // 128, (int(k) // 2) % 64, bool(k % 2)) for k in unique]
    return codes.reshape(-1), combos


def _condition(state: int, hold: int, responded: bool, group: Any = None) -> Condition:
    hold_reason = HOLD_REASONS[hold - 1] if hold else ""
    return Condition(STATES[state - 1], hold_reason, group, 5, responded)


def _classified(
    rules: ClockRules, combos: list[tuple[int, int, bool]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tables [condition code, holds] -> kind before the start, whether it starts, kind once
    started; from `engine._classify_condition` itself."""
    other = "\0another team"
    shape = (len(combos), 2)
    kind_new, starts, kind_started = (np.zeros(shape, np.int64), np.zeros(shape, bool),
                                      np.zeros(shape, np.int64))  # fmt: skip
    for code, (state, hold, responded) in enumerate(combos):
        for holds in (0, 1):
            group = (rules.team if holds else other) if rules.team is not None else None
            condition = _condition(state, hold, responded, group)
            kind, _, started = _classify_condition(rules, condition, False)
            kind_new[code, holds], starts[code, holds] = KINDS.index(kind), started
            kind_started[code, holds] = KINDS.index(_classify_condition(rules, condition, True)[0])
    return kind_new, starts, kind_started


def _lookup(mapping: dict[int, int], values: np.ndarray, missing: int) -> np.ndarray:
    keys = np.array(sorted(mapping), dtype=np.int64)
    if not len(keys):
        return np.full(len(values), missing, dtype=np.int64)
    table = np.array([mapping[k] for k in keys.tolist()], dtype=np.int64)
    i = np.minimum(np.searchsorted(keys, values), len(keys) - 1)
    return np.where(keys[i] == values, table[i], missing)


def clocks(
    rules: ClockRules,
    calendar: CalendarArrays,
    s: Stretches,
    tickets: np.ndarray,
    codes: np.ndarray,
    combos: list[tuple[int, int, bool]],
    holds: np.ndarray,
    now_us: int,
    n_tickets: int,
) -> Clocks:
    """`engine.compute` for the tickets in ``tickets`` (a mask over the piece's tickets)."""
    chosen = tickets[s.ticket]
    idx = np.flatnonzero(chosen)
    last = idx[s.last[idx]]
    final_priority = np.full(n_tickets, -1, dtype=np.int64)
    final_priority[s.ticket[last]] = s.priority[last]
    final_target = _lookup(dict(rules.targets), final_priority, -1)
    has_target = np.zeros(n_tickets, dtype=bool)
    has_target[s.ticket[last]] = final_target[s.ticket[last]] >= 0
    idx = idx[has_target[s.ticket[idx]]]
    # Per stretch: its target (`targets.get(prio) or final_target`) and kinds.
    span_target = _lookup(dict(rules.targets), s.priority[idx], 0)
    span_target = np.where(span_target == 0, final_target[s.ticket[idx]], span_target)
    kind_new, starts, kind_started = _classified(rules, combos)
    c, hold = codes[idx], holds[idx].astype(np.int64)
    k_new, k_starts, k_started = kind_new[c, hold], starts[c, hold], kind_started[c, hold]
    marks = sorted({*rules.thresholds, 100})
    reset_reopen = "reopen" in rules.reset_when
    reset_priority = "priority_change" in rules.reset_when
    started = np.zeros(n_tickets, dtype=bool)
    elapsed = np.zeros(n_tickets)
    paused = np.zeros(n_tickets)
    crossing = np.full((n_tickets, len(marks)), NULL_TS, dtype=np.int64)
    started_at = np.full(n_tickets, NULL_TS, dtype=np.int64)
    stopped_at = np.full(n_tickets, NULL_TS, dtype=np.int64)
    previous_kind = np.full(n_tickets, -1, dtype=np.int64)
    previous_priority = np.full(n_tickets, -1, dtype=np.int64)
    status = np.zeros(n_tickets, dtype=np.int64)
    position = s.position[idx]
    for k in range(int(position.max()) + 1 if len(position) else 0):
        here = position == k
        sx = idx[here]
        t = s.ticket[sx]
        prio = s.priority[sx]
        was_started = started[t]
        if reset_reopen or reset_priority:
            reset = np.zeros(len(sx), dtype=bool)
            if reset_reopen:
                reset |= s.reopen[sx]
            if reset_priority:
                reset |= (previous_priority[t] >= 0) & (prio != previous_priority[t])
            reset &= was_started
            elapsed[t[reset]] = 0.0
            crossing[t[reset]] = NULL_TS
        previous_priority[t] = prio
        kind = np.where(was_started, k_started[here], k_new[here])
        newly = ~was_started & k_starts[here]
        started[t[newly]] = True
        started_at[t[newly]] = s.start[sx[newly]]
        edge = (kind == STOPPED) & (previous_kind[t] != STOPPED)
        stopped_at[t[edge]] = s.start[sx[edge]]
        previous_kind[t] = kind
        status[t] = kind
        pause = kind == PAUSED
        if pause.any():
            p = sx[pause]
            paused[t[pause]] += (s.end[p] - s.start[p]) / 1e6
        run = kind == RUNNING
        if not run.any():
            continue
        r, tr = sx[run], t[run]
        a, b = epoch(s.start[r]), epoch(s.end[r])
        counted = np.where(s.end[r] > s.start[r], calendar.business_seconds(a, b), 0.0)
        before = elapsed[tr]
        target = span_target[here][run]
        live = s.last[r]
        for j, pct in enumerate(marks):
            open_ = crossing[tr, j] == NULL_TS
            mark = (target * pct) / 100.0
            spent = open_ & (before >= mark)
            crossing[tr[spent], j] = s.start[r[spent]]
            reach = open_ & ~spent & ((before + counted >= mark) | live)
            if reach.any():
                crossing[tr[reach], j] = calendar.add(a[reach], mark[reach] - before[reach])
        elapsed[tr] = before + counted
    chosen_tickets = np.flatnonzero(has_target & tickets)
    t = chosen_tickets
    st = status[t]
    cross = crossing[t]
    hundred = marks.index(100)
    due = np.where(st == RUNNING, cross[:, hundred], NULL_TS)
    limit = np.where(st == STOPPED, stopped_at[t], now_us)
    keep = (st == RUNNING)[:, None] | (cross <= limit[:, None])
    cross = np.where(keep & (cross != NULL_TS), cross, NULL_TS)
    stop = np.where(st == STOPPED, stopped_at[t], NULL_TS)
    final_state = np.zeros(n_tickets, dtype=np.int64)
    final_state[s.ticket[s.last]] = s.state[s.last]
    st = np.where((st == STOPPED) & (final_state[t] == CANCELLED), CANCELLED_STATUS, st)
    breach = cross[:, hundred]
    breach = np.where((breach != NULL_TS) & (breach <= now_us), breach, NULL_TS)
    pending = np.where(cross == NULL_TS, np.iinfo(np.int64).max, cross).min(axis=1)
    next_check = np.where((st == RUNNING) & (pending != np.iinfo(np.int64).max), pending, NULL_TS)
    return Clocks(
        ticket=t,
        status=st,
        priority=final_priority[t],
        target=final_target[t],
        elapsed=np.rint(elapsed[t]).astype(np.int64),
        paused=np.rint(paused[t]).astype(np.int64),
        started_at=started_at[t],
        stopped_at=stop,
        due_at=due,
        breached_at=breach,
        next_check_at=next_check,
    )


def binary_copy(columns: list[np.ndarray]) -> bytes:
    """A binary COPY of rows whose columns are all non-null int8 (or timestamps given as
    PostgreSQL microseconds): the inverse of `binary_rows`."""
    n = len(columns[0]) if columns else 0
    dtype = np.dtype(
        [("n", ">i2"), *[(f"c{i}", [("l", ">i4"), ("v", ">i8")]) for i in range(len(columns))]]
    )
    rows = np.empty(n, dtype=dtype)
    rows["n"] = len(columns)
    for i, values in enumerate(columns):
        rows[f"c{i}"]["l"] = 8
        rows[f"c{i}"]["v"] = values
    return b"PGCOPY\n\xff\r\n\x00" + bytes(8) + rows.tobytes() + b"\xff\xff"


def pg_timestamp(us: np.ndarray) -> np.ndarray:
    """Epoch microseconds as binary timestamptz values (NULL_TS, -infinity, stays)."""
    return np.where(us == NULL_TS, NULL_TS, us - PG_EPOCH_US)


def vectorisable(loaded: LoadedDefinition, calendars: OrgCalendars) -> bool:
    """Whether the arrays cover this definition (else its clocks are computed per ticket):
    no conditions, and a calendar that does not depend on the ticket's country."""
    d = loaded.definition
    return not d.conditions and (d.calendar_id in calendars.by_id or not calendars.by_country)


def tokens(state: int, hold: int, responded: bool) -> frozenset[str]:
    """The tokens of a condition code (what start, pause, stop and run conditions match)."""
    return _condition(state, hold, responded).tokens()


#: The staging table of the arrays' clocks: every column an int8 or a timestamp (never
#: null: 0 stands for no id, -infinity for no time), codes for text.
RAW_COLUMNS = (
    "organization_id", "definition_id", "metric", "subject_id", "kind", "service_id",
    "team_id", "vendor_id", "priority", "calendar_id", "status", "target_seconds",
    "elapsed_seconds", "paused_seconds", "started_at", "stopped_at", "due_at", "breached",
    "breached_at", "next_check_at", "definition_version",
)  # fmt: skip
TIMES = {"started_at", "stopped_at", "due_at", "breached_at", "next_check_at"}


def staging_table(name: str) -> str:
    """The statement creating the staging table (unlogged: written by several processes,
    dropped when the run ends)."""
    columns = ", ".join(f"{c} {'timestamptz' if c in TIMES else 'int8'}" for c in RAW_COLUMNS)
    return f"CREATE UNLOGGED TABLE {name} ({columns})"


def _text(codes: tuple[str, ...], column: str) -> str:
    return f"(ARRAY[{', '.join(repr(c) for c in codes)}]::varchar[])[r.{column} + 1]"


#: From the staging table to the clock table's columns (`opsdesk.sla.bulk.COLUMNS`).
_SELECT = f"""
SELECT r.organization_id, r.definition_id, {_text(METRICS, "metric")} AS metric,
       'incident'::varchar AS subject_type, r.subject_id, {_text(CLOCK_KINDS, "kind")} AS kind,
       i.number, NULLIF(r.service_id, 0) AS service_id, NULLIF(r.team_id, 0) AS team_id,
       NULLIF(r.vendor_id, 0) AS vendor_id, r.priority::int2 AS priority,
       NULLIF(r.calendar_id, 0) AS calendar_id, {_text(STATUS_CODES, "status")} AS status,
       r.target_seconds::int4 AS target_seconds, r.elapsed_seconds::int4 AS elapsed_seconds,
       r.paused_seconds::int4 AS paused_seconds,
       NULLIF(r.started_at, '-infinity') AS started_at,
       NULLIF(r.stopped_at, '-infinity') AS stopped_at, NULLIF(r.due_at, '-infinity') AS due_at,
       r.breached <> 0 AS breached, NULLIF(r.breached_at, '-infinity') AS breached_at,
       NULLIF(r.next_check_at, '-infinity') AS next_check_at,
       r.definition_version::int4 AS definition_version, %(now)s::timestamptz AS computed_at,
       NULL::float8 AS breach_probability, '{{}}'::jsonb AS prediction,
       NULL::timestamptz AS predicted_at
FROM {{staging}} r JOIN servicedesk_incident i ON i.id = r.subject_id
WHERE i.id >= %(lo)s AND i.id < %(hi)s
"""  # noqa: S608


def staged_clocks(staging: str) -> str:
    """The staged clocks of a piece as the clock table's columns (``%(now)s`` is
    ``computed_at``; ``%(lo)s`` and ``%(hi)s`` bound the piece's incident ids)."""
    return _SELECT.replace("{staging}", staging)
