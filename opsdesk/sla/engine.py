"""Clocks computed from history: a pure function of a ticket's timeline, a clock's rules and
a calendar, so any clock can be replayed at any time and explained segment by segment.

The ticket's history is a list of `Change` (state, hold reason, assignment group, priority,
first response) in time order. It is turned into stretches of constant condition; each
stretch is, for a clock, one of:

- ``not_started`` — before the start condition held;
- ``running`` — counting business time on the calendar (its closed hours are shown as
  ``outside_hours`` / ``holiday`` / ``exception`` when explaining);
- ``paused`` — a pause condition held (e.g. on hold awaiting the requester);
- ``waiting`` — an OLA whose team did not hold the ticket, a UC whose supplier was not
  working on it;
- ``stopped`` — a stop condition held (resolved); a reopen resumes the clock unless the
  definition resets on reopen.

Conditions are tokens matched against the ticket's condition: a state (``on_hold``), a
state with its hold reason (``on_hold:awaiting_requester``), or ``responded``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opsdesk.core.calendars import Calendar

_UNSET: Any = object()

RESPONDED = "responded"


@dataclass(frozen=True)
class Change:
    """One point in a ticket's history; fields left unset did not change."""

    at: datetime
    state: str | None = None
    hold_reason: str | None = None
    group: Any = _UNSET  # team id (or name, for imported history); None = unassigned
    priority: int | None = None
    responded: bool = False
    transition: str = ""


_CONDITIONS: dict[tuple[Any, ...], int] = {}
_NUMBERS = itertools.count()


@dataclass(frozen=True)
class Condition:
    state: str
    hold_reason: str
    group: Any
    priority: int
    responded: bool
    #: Derived once (a ticket's stretches are shared by all its clocks): the tokens that
    #: conditions match, and the state key of ``by_state``.
    _tokens: frozenset[str] = field(init=False, repr=False, compare=False)
    _key: str = field(init=False, repr=False, compare=False)
    #: A number per distinct condition (never reused), a cheap key for classifications.
    _id: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ident = (self.state, self.hold_reason, self.group, self.priority, self.responded)
        number = _CONDITIONS.get(ident)
        if number is None:
            if len(_CONDITIONS) > 65536:
                _CONDITIONS.clear()  # numbers already given stay valid: the counter goes on
            number = _CONDITIONS[ident] = next(_NUMBERS)
        object.__setattr__(self, "_id", number)
        key = f"{self.state}:{self.hold_reason}" if self.hold_reason else self.state
        found = {self.state}
        if self.hold_reason:
            found.add(key)
        if self.responded:
            found.add(RESPONDED)
        object.__setattr__(self, "_tokens", frozenset(found))
        object.__setattr__(self, "_key", key)

    def tokens(self) -> frozenset[str]:
        return self._tokens


@dataclass(frozen=True)
class Stretch:
    start: datetime
    end: datetime | None  # None: still going at `now`
    condition: Condition
    transition: str = ""  # the transition that began it


def stretches(opened_at: datetime, changes: Iterable[Change], now: datetime) -> list[Stretch]:
    """The ticket's history as stretches of constant condition, up to `now`."""
    cond = Condition("new", "", None, 5, False)
    out: list[Stretch] = []
    start = opened_at
    transition = "create"
    for change in sorted(changes, key=lambda c: c.at):
        at = max(change.at, opened_at)
        if at > now:
            break
        new = Condition(
            state=change.state if change.state is not None else cond.state,
            hold_reason=(
                (change.hold_reason or "") if change.state is not None else cond.hold_reason
            ),
            group=cond.group if change.group is _UNSET else change.group,
            priority=change.priority if change.priority is not None else cond.priority,
            responded=cond.responded or change.responded,
        )
        if change.state is not None and change.state != "new" and cond.state == "new":
            new = Condition(new.state, new.hold_reason, new.group, new.priority, True)
        if new == cond and not change.transition:
            continue
        if at > start:
            out.append(Stretch(start, at, cond, transition))
            start = at
            transition = change.transition
        elif change.transition:
            transition = change.transition  # several changes at one instant
        cond = new
    out.append(Stretch(start, None, cond, transition))
    return out


@dataclass(frozen=True)
class ClockRules:
    """What a definition says about one metric's clock."""

    metric: str  # "response" | "resolution"
    targets: Mapping[int, int]  # priority -> business seconds
    start_when: frozenset[str] = frozenset()  # empty: from creation
    pause_when: frozenset[str] = frozenset({"on_hold:awaiting_requester"})
    stop_when: frozenset[str] = frozenset({"resolved", "closed", "cancelled"})
    run_when: frozenset[str] = frozenset()  # empty: every state not paused
    reset_when: frozenset[str] = frozenset()  # "reopen", "priority_change"
    team: Any = None  # OLA: counts only while this group holds the ticket (id or name)
    team_names: frozenset[Any] = frozenset()  # other keys naming the same team
    thresholds: tuple[int, ...] = (50, 75, 90)
    #: (condition, started) -> classification: a clock's rules meet the same few conditions
    #: over and over (a bulk replay of a million tickets), so each is classified once.
    _classified: dict[int, tuple[str, str, bool]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def target_for(self, priority: int) -> int | None:
        return self.targets.get(priority)

    def holds(self, group: Any) -> bool:
        return self.team is None or group == self.team or group in self.team_names


@dataclass(frozen=True)
class ClockSegment:
    start: datetime
    end: datetime
    kind: str  # running, paused, waiting, stopped, not_started, outside_hours, holiday, ...
    label: str
    counted: float  # business seconds counted
    elapsed_after: float  # business seconds counted up to the end of this segment
    holder: Any = None  # the assignment group holding the ticket
    state: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "kind": self.kind,
            "label": self.label,
            "counted_seconds": round(self.counted),
            "elapsed_after_seconds": round(self.elapsed_after),
            "holder": self.holder,
            "state": self.state,
        }


@dataclass
class ClockResult:
    status: str
    target_seconds: int
    elapsed_seconds: float = 0.0
    paused_seconds: float = 0.0
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    due_at: datetime | None = None
    breached_at: datetime | None = None
    priority: int = 5
    #: Threshold percent -> when it was crossed (past) or will be (future, running clocks).
    crossings: dict[int, datetime] = field(default_factory=dict)
    segments: list[ClockSegment] = field(default_factory=list)
    #: Business seconds counted while each group held the ticket (and per state).
    by_holder: dict[Any, float] = field(default_factory=dict)
    by_state: dict[str, float] = field(default_factory=dict)
    resets: list[datetime] = field(default_factory=list)

    @property
    def breached(self) -> bool:
        return self.breached_at is not None

    def next_check(self, now: datetime) -> datetime | None:
        """The earliest crossing still ahead of `now` (only while running)."""
        ahead = [at for at in self.crossings.values() if at > now]
        return min(ahead) if ahead and self.status == "running" else None


def _classify(rules: ClockRules, stretch: Stretch, started: bool) -> tuple[str, str, bool]:
    """(kind, label, now_started) of a stretch for these rules."""
    key = stretch.condition._id * 2 + started
    found = rules._classified.get(key)
    if found is None:
        found = _classify_condition(rules, stretch.condition, started)
        if len(rules._classified) > 4096:
            rules._classified.clear()
        rules._classified[key] = found
    return found


def _classify_condition(
    rules: ClockRules, condition: Condition, started: bool
) -> tuple[str, str, bool]:
    stretch = Stretch(datetime.min, None, condition)
    tokens = condition.tokens()
    if not started:
        if rules.start_when and not (tokens & rules.start_when):
            return "not_started", "Not started", False
        if rules.team is not None and not rules.holds(stretch.condition.group):
            return "not_started", "Not yet with the team", False
        if rules.run_when and not (tokens & rules.run_when):
            return "not_started", "Not yet with the supplier", False
    if tokens & rules.stop_when:
        return "stopped", f"Stopped ({stretch.condition.state.replace('_', ' ')})", True
    if tokens & rules.pause_when:
        return "paused", f"Paused ({_describe(stretch.condition)})", True
    if rules.team is not None and not rules.holds(stretch.condition.group):
        return "waiting", "With another team", True
    if rules.run_when and not (tokens & rules.run_when):
        return "waiting", "Not with the supplier", True
    return "running", "Running", True


def _describe(cond: Condition) -> str:
    text = cond.state.replace("_", " ")
    if cond.hold_reason:
        text += " - " + cond.hold_reason.replace("_", " ")
    return text


def compute(
    rules: ClockRules,
    calendar: Calendar,
    opened_at: datetime,
    changes: Iterable[Change],
    now: datetime,
    *,
    explain: bool = False,
    history: list[Stretch] | None = None,
) -> ClockResult | None:
    """Replay one clock over the ticket's history up to `now`.

    Returns None when no target applies to the ticket's (latest) priority. The target is
    the one of the priority in force during each stretch: raising the priority shortens the
    clock from then on. With ``explain=True`` the result carries segments, running time
    split into working and closed calendar time.
    """
    spans = history if history is not None else stretches(opened_at, changes, now)
    final_priority = spans[-1].condition.priority
    final_target = rules.target_for(final_priority)
    if final_target is None:
        return None
    result = ClockResult(status="not_started", target_seconds=final_target)
    result.priority = final_priority
    elapsed = 0.0
    started = False
    previous_priority: int | None = None
    previous_kind = ""
    marks = sorted({*rules.thresholds, 100})
    targets = rules.targets
    reset_on_reopen = "reopen" in rules.reset_when
    reset_on_priority = "priority_change" in rules.reset_when
    by_holder, by_state = result.by_holder, result.by_state
    last = len(spans) - 1
    for index, span in enumerate(spans):
        condition = span.condition
        live = index == last and span.end is None
        end = span.end or now
        if end < span.start:
            end = span.start
        prio = condition.priority
        target = targets.get(prio) or final_target
        if started and (
            (reset_on_reopen and span.transition == "reopen")
            or (reset_on_priority and previous_priority is not None and prio != previous_priority)
        ):
            elapsed = 0.0
            result.crossings = {}
            result.resets.append(span.start)
        previous_priority = prio
        kind, label, started_now = _classify(rules, span, started)
        if started_now and not started:
            started = True
            result.started_at = span.start
        if kind == "stopped" and previous_kind != "stopped":
            result.stopped_at = span.start
        previous_kind = kind
        result.target_seconds = target
        if kind == "running":
            counted = calendar.business_seconds(span.start, end) if end > span.start else 0.0
            before = elapsed
            crossings = result.crossings
            for pct in marks:
                if pct in crossings:
                    continue
                mark = target * pct / 100.0
                if before >= mark:
                    crossings[pct] = span.start  # a shorter target already spent
                elif before + counted >= mark or live:
                    crossings[pct] = calendar.add(span.start, mark - before)
            elapsed += counted
            holder = condition.group
            by_holder[holder] = by_holder.get(holder, 0.0) + counted
            key = condition._key
            by_state[key] = by_state.get(key, 0.0) + counted
            if explain:
                running = before
                for seg in calendar.segments(span.start, end):
                    working = seg.kind == "working"
                    counted_here = seg.seconds if working else 0.0
                    running += counted_here
                    result.segments.append(
                        ClockSegment(
                            seg.start,
                            seg.end,
                            "running" if working else seg.kind,
                            "Running" if working else seg.label,
                            counted_here,
                            running,
                            holder,
                            span.condition.state,
                        )
                    )
            if live:
                result.due_at = result.crossings.get(100)
        else:
            if kind == "paused":
                result.paused_seconds += (end - span.start).total_seconds()
            if explain and end > span.start:
                result.segments.append(
                    ClockSegment(
                        span.start,
                        end,
                        kind,
                        label,
                        0.0,
                        elapsed,
                        span.condition.group,
                        span.condition.state,
                    )
                )
        if index == last:
            result.status = kind
    if result.status != "running":
        # Only what happened counts: no projections for a clock that is not running.
        limit = now if result.status != "stopped" else result.stopped_at
        result.crossings = {p: at for p, at in result.crossings.items() if at <= limit}
    else:
        result.stopped_at = None
    if result.status == "stopped" and spans[-1].condition.state == "cancelled":
        result.status = "cancelled"
    if result.status not in ("stopped", "cancelled"):
        result.stopped_at = None
    result.elapsed_seconds = elapsed
    breach = result.crossings.get(100)
    result.breached_at = breach if breach is not None and breach <= now else None
    return result
