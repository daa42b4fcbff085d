"""Measure the breach-prediction model on history: a ServiceNow incident event log.

The export (``incident_event_log.csv``, or a ``.zip`` holding it) has one row per update of an
incident; ``sys_mod_count`` orders an incident's rows, ``?`` means empty and dates are
day-first (``29/2/2016 01:16``). This module parses it itself (no database): each incident
becomes an `Incident` with its opening time, the time it was resolved, its final ``made_sla``
and the (time, priority, category, assignment group) of each update.

The ServiceNow SLA definitions are unknown, so a *breach* is ``made_sla == false`` at the
incident's last row, and elapsed time is wall-clock hours since opening (no calendar).
ServiceNow's category stands in for our service.

Split by time: incidents opened in the first 70 % of the span train the model, those opened
in the last 30 % test it. Predictions are made (a) at opening (e = 0) and (b) at checkpoints
(4 h and 24 h after opening, only for incidents still open then), with the features the
incident had at that moment. Compared: the majority class (every incident makes its SLA),
the breach rate by priority, the back-off model, and the back-off model with the queue
adjustment (its exponent fitted on a validation split of the training period).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import zipfile
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from opsdesk.sla.prediction import BreachModel, queue_ratio

DAY_FIRST = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?$")
REQUIRED = ("number", "sys_mod_count", "made_sla", "opened_at", "sys_updated_at")
CLOSED_STATES = frozenset({"resolved", "closed", "canceled", "cancelled"})
CHECKPOINTS_HOURS = (0.0, 4.0, 24.0)
TRAIN_FRACTION = 0.7
QUEUE_BETAS = tuple(x / 10 for x in range(-10, 21))
#: Days of history before the cutoff a model may train on (None: all of it).
TRAINING_WINDOWS: tuple[int | None, ...] = (None, 56, 28, 14)


class EvaluationFileError(Exception):
    """The file is not a readable ServiceNow event log."""


def parse_date(text: str) -> datetime | None:
    """``29/2/2016 01:16`` (day first) or ISO; ``?`` or blank is None."""
    text = (text or "").strip()
    if not text or text == "?":
        return None
    m = DAY_FIRST.match(text)
    if m:
        day, month, year, hour, minute, second = m.groups()
        try:
            return datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second or 0)
            )
        except ValueError:
            return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        return None


def _cell(text: str | None) -> str:
    text = (text or "").strip()
    return "" if text == "?" else text


def _priority(text: str) -> int | None:
    m = re.match(r"^\s*([1-5])", text or "")
    return int(m.group(1)) if m else None


@dataclass
class Update:
    at: datetime
    state: str
    priority: int | None
    category: str
    group: str


@dataclass
class Incident:
    number: str
    opened_at: datetime
    resolved_at: datetime
    made_sla: bool
    updates: list[Update] = field(default_factory=list)

    @property
    def hours(self) -> float:
        """Hours from opening to resolution (its final elapsed time)."""
        return max((self.resolved_at - self.opened_at).total_seconds() / 3600.0, 0.0)

    def at(self, hours: float) -> Update:
        """The incident as it was `hours` after opening (its first update if none yet)."""
        moment = self.opened_at.timestamp() + hours * 3600.0
        found = self.updates[0]
        for update in self.updates:
            if update.at.timestamp() <= moment:
                found = update
            else:
                break
        return found


@contextmanager
def _open(path: str | Path | IO[bytes]) -> Iterator[IO[str]]:
    if not isinstance(path, (str, Path)):
        yield io.TextIOWrapper(path, encoding="utf-8-sig", newline="")
        return
    path = Path(path)
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
            if not names:
                raise EvaluationFileError("The zip holds no .csv file.")
            with archive.open(names[0]) as raw:
                yield io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        return
    with path.open(encoding="utf-8-sig", newline="") as handle:
        yield handle


def read_log(path: str | Path | IO[bytes]) -> list[Incident]:
    """Every incident of the event log with an opening time and a ``made_sla``, rebuilt from
    its rows in ``sys_mod_count`` order."""
    rows: dict[str, list[tuple[int, int, dict[str, str]]]] = defaultdict(list)
    try:
        with _open(path) as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise EvaluationFileError(f"Columns missing: {', '.join(missing)}.")
            for line, row in enumerate(reader, start=2):
                number = _cell(row.get("number"))
                if not number:
                    continue
                try:
                    mod = int(_cell(row.get("sys_mod_count")) or 0)
                except ValueError:
                    mod = 0
                rows[number].append((mod, line, row))
    except (UnicodeDecodeError, zipfile.BadZipFile, csv.Error) as exc:
        raise EvaluationFileError(f"The file cannot be read: {exc}.") from None
    incidents: list[Incident] = []
    for number, events in rows.items():
        events.sort(key=lambda e: (e[0], e[1]))
        last = events[-1][2]
        opened = parse_date(events[0][2].get("opened_at", "")) or parse_date(
            last.get("opened_at", "")
        )
        made = _cell(last.get("made_sla")).lower()
        if opened is None or made not in ("true", "false"):
            continue
        updates: list[Update] = []
        first_closed: datetime | None = None
        for _, _, row in events:
            at = parse_date(row.get("sys_updated_at", "")) or opened
            state = _cell(row.get("incident_state")).lower()
            if state in CLOSED_STATES and first_closed is None:
                first_closed = at
            updates.append(
                Update(
                    at,
                    state,
                    _priority(row.get("priority", "")),
                    _cell(row.get("category")),
                    _cell(row.get("assignment_group")),
                )
            )
        resolved = (
            parse_date(last.get("resolved_at", ""))
            or first_closed
            or parse_date(last.get("closed_at", ""))
            or updates[-1].at
        )
        incidents.append(Incident(number, opened, resolved, made == "true", updates))
    incidents.sort(key=lambda i: (i.opened_at, i.number))
    return incidents


# --- the queue -----------------------------------------------------------------------------


class Queues:
    """Open incidents per assignment group at any moment, from every incident's group while
    it was open (counts by bisection over sorted starts and ends)."""

    def __init__(self, incidents: Iterable[Incident]) -> None:
        spans_by_group: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for incident in incidents:
            begin = incident.opened_at.timestamp()
            stop = max(incident.resolved_at.timestamp(), begin)
            spans: list[tuple[float, str]] = [(begin, incident.updates[0].group)]
            for update in incident.updates[1:]:
                t = min(max(update.at.timestamp(), begin), stop)
                if update.group != spans[-1][1]:
                    spans.append((t, update.group))
            for i, (t, group) in enumerate(spans):
                end = spans[i + 1][0] if i + 1 < len(spans) else stop
                if end > t:
                    spans_by_group[group].append((t, end))
        self.spans = dict(spans_by_group)
        self.starts = {g: sorted(s for s, _ in v) for g, v in self.spans.items()}
        self.ends = {g: sorted(e for _, e in v) for g, v in self.spans.items()}

    def open_at(self, group: str, moment: float) -> int:
        return bisect_right(self.starts.get(group, []), moment) - bisect_right(
            self.ends.get(group, []), moment
        )

    def average(self, group: str, begin: float, end: float) -> float:
        """Average open count over [begin, end): open time in the window / the window."""
        length = end - begin
        if length <= 0:
            return 0.0
        total = sum(
            min(e, end) - max(s, begin)
            for s, e in self.spans.get(group, ())
            if s < end and e > begin
        )
        return total / length


# --- the experiment ------------------------------------------------------------------------


def features(update: Update) -> dict[str, Any]:
    return {"service": update.category, "priority": update.priority, "team": update.group}


@dataclass
class Case:
    features: dict[str, Any]
    elapsed: float
    queue: float
    breached: bool


def cases(
    incidents: list[Incident], hours: float, queues: Queues, averages: Callable
) -> list[Case]:
    """One case per incident still open `hours` after opening, as it was then."""
    out = []
    for incident in incidents:
        if hours > 0 and incident.hours <= hours:
            continue
        state = incident.at(hours)
        moment = incident.opened_at.timestamp() + hours * 3600.0
        ratio = queue_ratio(queues.open_at(state.group, moment), averages(state.group))
        out.append(Case(features(state), hours, ratio, not incident.made_sla))
    return out


def metrics(probabilities: list[float], truth: list[bool]) -> dict[str, Any]:
    """Accuracy, balanced accuracy, precision/recall for breach (threshold 0.5), Brier, AUC."""
    n = len(truth)
    if not n:
        return {"n": 0}
    predicted = [p >= 0.5 for p in probabilities]
    tp = sum(1 for p, t in zip(predicted, truth, strict=True) if p and t)
    tn = sum(1 for p, t in zip(predicted, truth, strict=True) if not p and not t)
    fp = sum(1 for p, t in zip(predicted, truth, strict=True) if p and not t)
    fn = sum(1 for p, t in zip(predicted, truth, strict=True) if not p and t)
    positives, negatives = tp + fn, tn + fp
    recall = tp / positives if positives else None
    specificity = tn / negatives if negatives else None
    balanced = (
        (recall + specificity) / 2 if recall is not None and specificity is not None else None
    )
    brier = sum((p - (1.0 if t else 0.0)) ** 2 for p, t in zip(probabilities, truth, strict=True))
    return {
        "n": n,
        "breach_rate": round(positives / n, 4),
        "accuracy": round((tp + tn) / n, 4),
        "balanced_accuracy": round(balanced, 4) if balanced is not None else None,
        "precision_breach": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall_breach": round(recall, 4) if recall is not None else None,
        "brier": round(brier / n, 4),
        "auc": round(auc(probabilities, truth), 4) if positives and negatives else None,
    }


def auc(scores: list[float], truth: list[bool]) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count half)."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    positives = sum(truth)
    negatives = len(truth) - positives
    rank_sum = sum(r for r, t in zip(ranks, truth, strict=True) if t)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def _log_loss(probabilities: list[float], truth: list[bool]) -> float:
    total = 0.0
    for p, t in zip(probabilities, truth, strict=True):
        p = min(max(p, 1e-6), 1 - 1e-6)
        total -= math.log(p if t else 1 - p)
    return total / max(len(truth), 1)


def _fit(incidents: list[Incident], beta: float = 0.0) -> BreachModel:
    return BreachModel.fit(
        ((features(i.at(0.0)), i.hours, not i.made_sla) for i in incidents), queue_beta=beta
    )


def _recent(incidents: list[Incident], until: float, days: int | None) -> list[Incident]:
    if days is None:
        return incidents
    return [i for i in incidents if i.opened_at.timestamp() >= until - days * 86400]


def _predict(model: BreachModel, case_list: list[Case], *, queue: bool) -> list[float]:
    return [
        model.estimate(c.features, c.elapsed, queue=c.queue if queue else None).probability
        for c in case_list
    ]


def evaluate(
    incidents: list[Incident],
    *,
    checkpoints: Iterable[float] = CHECKPOINTS_HOURS,
    train_fraction: float = TRAIN_FRACTION,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The experiment of the module docstring; returns a JSON-ready report."""
    checkpoints = tuple(checkpoints)
    if len(incidents) < 10:
        raise EvaluationFileError("Too few incidents to evaluate (need at least 10).")
    say = progress or (lambda _msg: None)
    first = incidents[0].opened_at.timestamp()
    last = incidents[-1].opened_at.timestamp()
    cutoff = first + (last - first) * train_fraction
    train = [i for i in incidents if i.opened_at.timestamp() < cutoff]
    test = [i for i in incidents if i.opened_at.timestamp() >= cutoff]
    if not train or not test:
        raise EvaluationFileError("The time split leaves no training or no test incidents.")
    say(f"{len(train)} training, {len(test)} test incidents")
    queues = Queues(incidents)
    avg_cache: dict[str, float] = {}

    def averages(group: str) -> float:
        if group not in avg_cache:
            avg_cache[group] = queues.average(group, first, cutoff)
        return avg_cache[group]

    # The training window and the queue exponent are chosen on the last fifth of the
    # training period, with models trained on the first four fifths: no test data involved.
    val_cut = first + (cutoff - first) * 0.8
    inner = [i for i in train if i.opened_at.timestamp() < val_cut]
    validation = [i for i in train if i.opened_at.timestamp() >= val_cut]
    val_cases = [c for h in checkpoints for c in cases(validation, h, queues, averages)]
    val_truth = [c.breached for c in val_cases]
    window_loss: dict[str, float] = {}
    best_window: int | None = None
    for days in TRAINING_WINDOWS:
        candidate = _recent(inner, val_cut, days)
        if not candidate:
            continue
        loss = _log_loss(_predict(_fit(candidate), val_cases, queue=False), val_truth)
        window_loss[str(days or "all")] = round(loss, 4)
        if loss <= min(window_loss.values()):
            best_window = days
    inner_model = _fit(_recent(inner, val_cut, best_window))
    beta_loss: dict[str, float] = {}
    best_beta, best = 0.0, float("inf")
    for beta in QUEUE_BETAS:
        inner_model.queue_beta = beta
        loss = _log_loss(_predict(inner_model, val_cases, queue=True), val_truth)
        beta_loss[f"{beta:g}"] = round(loss, 4)
        if loss < best - 1e-9:
            best_beta, best = beta, loss
    say(f"chosen on validation: training window {best_window or 'all'} days, queue {best_beta}")

    model = _fit(_recent(train, cutoff, best_window))
    full = _fit(train)
    base_rate = sum(1 for i in train if not i.made_sla) / len(train)
    by_priority: dict[int | None, list[bool]] = defaultdict(list)
    for incident in train:
        by_priority[incident.at(0.0).priority].append(not incident.made_sla)
    priority_rate = {p: sum(v) / len(v) for p, v in by_priority.items()}

    results: dict[str, Any] = {}
    for hours in checkpoints:
        test_cases = cases(test, hours, queues, averages)
        truth = [c.breached for c in test_cases]
        model.queue_beta = 0.0
        plain = _predict(model, test_cases, queue=False)
        levels: dict[str, int] = defaultdict(int)
        for c in test_cases:
            levels[model.estimate(c.features, c.elapsed).level] += 1
        model.queue_beta = best_beta
        queued = _predict(model, test_cases, queue=True)
        model.queue_beta = 0.0
        label = "at_opening" if hours == 0 else f"at_{hours:g}h"
        results[label] = {
            "hours": hours,
            "incidents": len(test_cases),
            "majority_baseline": metrics([base_rate] * len(truth), truth),
            "priority_baseline": metrics(
                [priority_rate.get(c.features["priority"], base_rate) for c in test_cases], truth
            ),
            "model": metrics(plain, truth),
            "model_with_queue": metrics(queued, truth),
            "model_all_history": metrics(_predict(full, test_cases, queue=False), truth),
            "levels_used": dict(sorted(levels.items())),
        }
        say(f"{label}: {len(test_cases)} test incidents")
    return {
        "incidents": len(incidents),
        "train": len(train),
        "test": len(test),
        "cutoff": datetime.fromtimestamp(cutoff).isoformat(timespec="minutes"),
        "span": [
            incidents[0].opened_at.isoformat(timespec="minutes"),
            incidents[-1].opened_at.isoformat(timespec="minutes"),
        ],
        "train_breach_rate": round(base_rate, 4),
        "test_breach_rate": round(sum(1 for i in test if not i.made_sla) / len(test), 4),
        "training_window_days": best_window,
        "training_window_validation_log_loss": window_loss,
        "queue_beta": best_beta,
        "queue_validation_log_loss": beta_loss,
        "queue_helps": None,
        "model_levels": model.summary(),
        "min_support": model.min_support,
        "strength": model.strength,
        "checkpoints": results,
    }


def evaluate_file(
    path: str | Path | IO[bytes], *, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Parse the event log at `path` and evaluate; records whether the queue helped."""
    incidents = read_log(path)
    report = evaluate(incidents, progress=progress)
    better = [
        r["model_with_queue"]["brier"] < r["model"]["brier"]
        for r in report["checkpoints"].values()
        if r["model"].get("n")
    ]
    report["queue_helps"] = bool(better) and all(better) and report["queue_beta"] != 0
    return report


# --- the stored result ---------------------------------------------------------------------

#: The benchmark's committed result, shown when no evaluation has been run on this server.
COMMITTED = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "sla_prediction.json"


def evaluation_path() -> Path:
    from django.conf import settings

    return Path(settings.VAR_DIR) / "sla_prediction_evaluation.json"


def save_evaluation(report: dict[str, Any]) -> Path:
    """Keep `report` as the last evaluation (``opsdesk sla_prediction evaluate`` does)."""
    path = evaluation_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
    return path


def last_evaluation() -> tuple[str, dict[str, Any] | None]:
    """(where it came from, the report): this server's last run, else the committed
    benchmark result, else ("", None)."""
    for source, path in (("server", evaluation_path()), ("benchmark", COMMITTED)):
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(report, dict):
            return source, report
    return "", None
