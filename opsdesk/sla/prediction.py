"""Breach prediction: how likely a live clock is to breach, from the history of similar tickets.

The model is a back-off estimate over closed clocks, pure Python, explainable in one line:

- *Similar* closed clocks are those of the same service, priority and team; when fewer than
  `MIN_SUPPORT` of them are still relevant, the model backs off to (priority, team), then
  (service, priority), then (priority), then every closed clock of the organisation.
- A clock that has run `e` (as a fraction of its target: 0.6 = 60 % of the target used) can
  only end like the similar clocks that ran *longer* than `e`, so::

      P(breach | still open at e) = #(similar with d > e that breached) / #(similar with d > e)

  where `d` is the similar clock's final elapsed fraction of its target.
- Each level's rate is shrunk toward the level above it (Bayesian smoothing with the
  parent's estimate as prior, weight `STRENGTH` pseudo-tickets), so a level with few
  tickets says little of its own.
- A clock already past its target has breached: probability 1.0.
- Queue adjustment (off: `QUEUE_BETA` = 0): the odds are multiplied by ``r ** beta`` with
  ``r = (open + 1) / (average open + 1)`` for the team. Measured on the ServiceNow sample it
  made the predictions worse (Brier score), so the live model leaves it out and only reports
  the factor (docs/architecture/sla-prediction.md, benchmarks/results/sla_prediction.md).
- Only recent history counts (`HISTORY_WINDOW`): breach rates drift.

This module has no database import at module level: `evaluation` uses the same estimator on
a CSV export. The database side (`score_clocks`) is at the end.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

#: Closed clocks a level needs (with d > e) before the model uses it.
MIN_SUPPORT = 30
#: Pseudo-tickets of prior: the weight of the parent level's estimate.
STRENGTH = 10.0
#: Exponent of the queue factor on the odds; 0 = no queue adjustment (see module docstring).
QUEUE_BETA = 0.0
#: Back-off levels, most specific first.
LEVELS: tuple[tuple[str, ...], ...] = (
    ("service", "priority", "team"),
    ("priority", "team"),
    ("service", "priority"),
    ("priority",),
    (),
)
#: Closed clocks read per organisation to build the model: those stopped in the last
#: `HISTORY_WINDOW` (service levels drift: on the ServiceNow sample a recent window predicts
#: far better than all history), but at least the `HISTORY_MINIMUM` most recent, at most
#: `HISTORY_LIMIT`.
HISTORY_WINDOW = timedelta(days=28)
HISTORY_MINIMUM = 1_000
HISTORY_LIMIT = 50_000
#: Window over which a team's average queue is measured.
QUEUE_WINDOW = timedelta(days=90)


def level_name(level: Sequence[str]) -> str:
    return "+".join(level) if level else "all"


@dataclass
class _Group:
    """Closed tickets of one key of one level: final elapsed values sorted, with the count of
    breaches at or after each position."""

    durations: list[float] = field(default_factory=list)
    breach_after: list[int] = field(default_factory=list)

    @classmethod
    def build(cls, points: list[tuple[float, bool]]) -> _Group:
        points.sort(key=lambda p: p[0])
        durations = [d for d, _ in points]
        breach_after = [0] * (len(points) + 1)
        for i in range(len(points) - 1, -1, -1):
            breach_after[i] = breach_after[i + 1] + (1 if points[i][1] else 0)
        return cls(durations, breach_after)

    def still_open(self, elapsed: float) -> tuple[int, int]:
        """(tickets that ran longer than `elapsed`, of which breached)."""
        i = bisect_right(self.durations, elapsed)
        return len(self.durations) - i, self.breach_after[i]


@dataclass(frozen=True)
class Estimate:
    probability: float
    level: str
    support: int
    base_rate: float
    queue_factor: float
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "support": self.support,
            "base_rate": round(self.base_rate, 4),
            "queue_factor": round(self.queue_factor, 3),
            "reason": self.reason,
        }


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def adjust_for_queue(probability: float, queue_ratio: float | None, beta: float) -> float:
    """Multiply the odds by ``queue_ratio ** beta``."""
    if not beta or not queue_ratio or queue_ratio <= 0:
        return probability
    return _expit(_logit(probability) + beta * math.log(queue_ratio))


def queue_ratio(open_now: float, average_open: float) -> float:
    """How busy a team is against its usual: (open + 1) / (average + 1)."""
    return (max(open_now, 0.0) + 1.0) / (max(average_open, 0.0) + 1.0)


@dataclass
class BreachModel:
    """Closed tickets grouped at every back-off level (see the module docstring)."""

    groups: dict[tuple[str, ...], dict[tuple[Any, ...], _Group]]
    min_support: int = MIN_SUPPORT
    strength: float = STRENGTH
    queue_beta: float = QUEUE_BETA
    total: int = 0

    @classmethod
    def fit(
        cls,
        samples: Iterable[tuple[Mapping[str, Any], float, bool]],
        *,
        min_support: int = MIN_SUPPORT,
        strength: float = STRENGTH,
        queue_beta: float = QUEUE_BETA,
    ) -> BreachModel:
        """`samples`: (features {service, priority, team}, final elapsed, breached)."""
        points: dict[tuple[str, ...], dict[tuple[Any, ...], list[tuple[float, bool]]]] = {
            level: defaultdict(list) for level in LEVELS
        }
        total = 0
        for features, elapsed, breached in samples:
            total += 1
            for level in LEVELS:
                key = tuple(features.get(name) for name in level)
                points[level][key].append((float(elapsed), bool(breached)))
        groups = {
            level: {key: _Group.build(pts) for key, pts in by_key.items()}
            for level, by_key in points.items()
        }
        return cls(groups, min_support, strength, queue_beta, total)

    def estimate(
        self,
        features: Mapping[str, Any],
        elapsed: float,
        *,
        target: float | None = None,
        queue: float | None = None,
    ) -> Estimate:
        """P(breach) of a clock with these features that has run `elapsed` (same unit as the
        history's durations; `target` in that unit too, if known). `queue` is the team's
        queue ratio (`queue_ratio`)."""
        queue_factor = queue if queue else 1.0
        if target is not None and elapsed >= target:
            return Estimate(1.0, "past_target", 0, 1.0, queue_factor, "Already past its target.")
        # From the most general level to the most specific, each shrunk toward the one above.
        estimate = 0.5
        used: tuple[str, ...] | None = None
        support = 0
        base_rate = 0.5
        for level in reversed(LEVELS):
            group = self.groups.get(level, {}).get(tuple(features.get(n) for n in level))
            if group is None:
                continue
            n, b = group.still_open(elapsed)
            if n < self.min_support and level:
                continue
            estimate = (b + self.strength * estimate) / (n + self.strength)
            used, support, base_rate = level, n, (b / n if n else estimate)
        probability = adjust_for_queue(estimate, queue, self.queue_beta)
        name = level_name(used) if used is not None else "none"
        if used is None:
            reason = "No closed tickets to learn from yet."
        else:
            reason = (
                f"{base_rate:.0%} of {support} similar closed tickets ({name}) "
                f"that ran this long breached"
            )
            if self.queue_beta and queue and abs(queue - 1.0) > 0.05:
                reason += f"; team queue {queue:.1f}x its usual"
            reason += "."
        return Estimate(probability, name, support, base_rate, queue_factor, reason)

    def summary(self) -> list[dict[str, Any]]:
        """Every level with its groups and their support (for transparency)."""
        out = []
        for level in LEVELS:
            by_key = self.groups.get(level, {})
            sizes = [len(g.durations) for g in by_key.values()]
            usable = [s for s in sizes if s >= self.min_support]
            breaches = sum(g.breach_after[0] for g in by_key.values())
            out.append(
                {
                    "level": level_name(level),
                    "groups": len(sizes),
                    "groups_with_support": len(usable) if level else len(sizes),
                    "tickets": sum(sizes),
                    "breach_rate": round(breaches / sum(sizes), 4) if sizes else None,
                }
            )
        return out


# --- the database side ---------------------------------------------------------------------


def features_of(clock: Any) -> dict[str, Any]:
    return {"service": clock.service_id, "priority": clock.priority, "team": clock.team_id}


def elapsed_now(clock: Any, now: datetime, calendar: Any) -> float:
    """Business seconds a clock has counted as of `now`."""
    elapsed = float(clock.elapsed_seconds)
    if clock.status == "running" and clock.computed_at is not None and now > clock.computed_at:
        elapsed += calendar.business_seconds(clock.computed_at, now)
    return elapsed


def load_models(organization_id: int, *, now: datetime | None = None) -> dict[tuple[str, str], Any]:
    """One `BreachModel` per (kind, metric) from the organisation's recently stopped clocks,
    the progress of each being its final elapsed time as a fraction of its target."""
    from django.utils import timezone

    from opsdesk.sla.choices import ClockStatus
    from opsdesk.sla.models import Clock

    now = now or timezone.now()
    since = now - HISTORY_WINDOW

    samples: dict[tuple[str, str], list[tuple[dict[str, Any], float, bool]]] = defaultdict(list)
    rows = (
        Clock.objects.filter(
            organization_id=organization_id,
            status=ClockStatus.STOPPED,
            target_seconds__gt=0,
            stopped_at__lte=now,
        )
        .order_by("-stopped_at")
        .values_list(
            "kind",
            "metric",
            "service_id",
            "priority",
            "team_id",
            "elapsed_seconds",
            "target_seconds",
            "breached",
            "stopped_at",
        )[:HISTORY_LIMIT]
    )
    for i, (kind, metric, service, priority, team, elapsed, target, breached, stopped) in enumerate(
        rows
    ):
        if i >= HISTORY_MINIMUM and stopped is not None and stopped < since:
            break
        samples[(kind, metric)].append(
            (
                {"service": service, "priority": priority, "team": team},
                elapsed / target,
                bool(breached or elapsed > target),
            )
        )
    return {key: BreachModel.fit(points) for key, points in samples.items()}


def team_queues(organization_id: int, now: datetime) -> dict[int | None, float]:
    """Each team's queue ratio: tickets with a live resolution clock now against the average
    over the last `QUEUE_WINDOW` (Little's law: the open time of its tickets in the window
    divided by the window)."""
    from django.db.models import Q

    from opsdesk.sla.choices import LIVE_STATUSES, Metric
    from opsdesk.sla.models import Clock

    start = now - QUEUE_WINDOW
    open_now: dict[int | None, set[int]] = defaultdict(set)
    open_time: dict[int | None, float] = defaultdict(float)
    rows = Clock.objects.filter(
        organization_id=organization_id,
        metric=Metric.RESOLUTION,
        started_at__isnull=False,
        started_at__lt=now,
    ).filter(Q(stopped_at__isnull=True) | Q(stopped_at__gt=start))
    seen: set[tuple[int | None, int]] = set()
    for team, subject, status, started, stopped in rows.values_list(
        "team_id", "subject_id", "status", "started_at", "stopped_at"
    ):
        if (team, subject) in seen:
            continue  # one ticket counts once per team, whatever its definitions
        seen.add((team, subject))
        live = status in LIVE_STATUSES
        if live:
            open_now[team].add(subject)
        end = now if live or stopped is None else min(stopped, now)
        begin = max(started, start)
        if end > begin:
            open_time[team] += (end - begin).total_seconds()
    window = QUEUE_WINDOW.total_seconds()
    teams = set(open_now) | set(open_time)
    return {t: queue_ratio(len(open_now.get(t, ())), open_time.get(t, 0.0) / window) for t in teams}


def score_clocks(
    clocks: Iterable[Any],
    now: datetime,
    *,
    models: dict[int, dict[tuple[str, str], BreachModel]] | None = None,
    save: bool = True,
) -> list[Any]:
    """Set `breach_probability`, `prediction` and `predicted_at` on `clocks` (live ones; a
    stopped clock gets 1.0 or 0.0 by its outcome) and save those three fields in bulk.
    Returns the clocks. `models` (org id -> `load_models`) may be passed to reuse them."""
    from opsdesk.sla.calendars import compiled_by_id
    from opsdesk.sla.choices import LIVE_STATUSES
    from opsdesk.sla.models import Clock

    clocks = list(clocks)
    models = {} if models is None else models
    queues: dict[int, dict[int | None, float]] = {}
    calendars: dict[int | None, Any] = {}
    for clock in clocks:
        org = clock.organization_id
        if org not in models:
            models[org] = load_models(org, now=now)
        if org not in queues:
            queues[org] = team_queues(org, now)
        if clock.status not in LIVE_STATUSES:
            outcome = 1.0 if clock.breached else 0.0
            clock.breach_probability = outcome
            clock.prediction = {
                "level": "outcome",
                "support": 0,
                "base_rate": outcome,
                "queue_factor": 1.0,
                "reason": "Stopped: breached." if clock.breached else "Stopped within target.",
            }
            clock.predicted_at = now
            continue
        if clock.calendar_id not in calendars:
            calendars[clock.calendar_id] = compiled_by_id(clock.calendar_id)
        elapsed = elapsed_now(clock, now, calendars[clock.calendar_id])
        model = models[org].get((clock.kind, clock.metric)) or BreachModel.fit([])
        target = float(clock.target_seconds or 0)
        if clock.breached or (target and elapsed >= target):
            estimate = model.estimate(features_of(clock), 1.0, target=1.0)
        elif not target:
            estimate = Estimate(0.0, "no_target", 0, 0.0, 1.0, "The clock has no target.")
        else:
            estimate = model.estimate(
                features_of(clock),
                elapsed / target,
                target=1.0,
                queue=queues[org].get(clock.team_id),
            )
        clock.breach_probability = round(estimate.probability, 4)
        clock.prediction = estimate.as_json()
        clock.predicted_at = now
    if save and clocks:
        _save_scores(Clock, clocks, now)
    return clocks


def _save_scores(model: Any, clocks: list[Any], now: datetime) -> None:
    """One UPDATE per distinct (probability, prediction): clocks of the same group at the
    same stage share them, so this is far fewer statements than clocks (and much faster than
    `bulk_update`'s CASE expressions on SQLite)."""
    import json

    from django.db import transaction

    same: dict[str, list[int]] = defaultdict(list)
    values: dict[str, tuple[float | None, dict[str, Any]]] = {}
    for clock in clocks:
        key = json.dumps([clock.breach_probability, clock.prediction], sort_keys=True)
        same[key].append(clock.pk)
        values[key] = (clock.breach_probability, clock.prediction)
    with transaction.atomic():
        for key, ids in same.items():
            probability, prediction = values[key]
            for start in range(0, len(ids), 500):
                model.objects.filter(pk__in=ids[start : start + 500]).update(
                    breach_probability=probability, prediction=prediction, predicted_at=now
                )


def score_open_clocks(
    now: datetime | None = None, *, organization_id: int | None = None
) -> dict[str, int]:
    """Score every live clock (all organisations, or one), in batches."""
    from django.utils import timezone

    from opsdesk.sla.choices import LIVE_STATUSES
    from opsdesk.sla.models import Clock

    now = now or timezone.now()
    qs = Clock.objects.filter(status__in=LIVE_STATUSES)
    if organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    models: dict[int, dict[tuple[str, str], BreachModel]] = {}
    scored = 0
    ids = list(qs.order_by("organization_id", "pk").values_list("pk", flat=True))
    for start in range(0, len(ids), 1000):
        batch = list(Clock.objects.filter(pk__in=ids[start : start + 1000]))
        score_clocks(batch, now, models=models)
        scored += len(batch)
    return {"scored": scored, "organizations": len(models)}
