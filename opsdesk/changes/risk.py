"""Change risk, scored from data and explained.

`assess(change)` answers "how risky is this change, and why": a short questionnaire plus
automatic factors computed from the CMDB, the change history, the service desk, the change
calendar and the business calendar. Each factor keeps its raw value, a score from 0 to 1,
its weight, its contribution to the total and one sentence of evidence naming the rows it
counted (services, change numbers, incidents, windows). The total is the weighted mean of
the factor scores on 0..100; thresholds turn it into a risk class.

Weights, thresholds and the questionnaire are per organisation (`RiskSettings`); an empty
value means the defaults below. `assess_risk` stores an assessment; hooks re-assess when a
change asks for authorisation (so the approvals engine picks its policy by a current class)
and when the planned times, CIs or service of an assessed live change move. A standard
change keeps the risk class of its template: it is pre-approved, never re-classed.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from opsdesk.changes import hooks
from opsdesk.changes.choices import (
    ACTIVE_STATES,
    FAILED_CLOSE_CODES,
    ChangeState,
    ChangeType,
    CloseCode,
    RiskClass,
)
from opsdesk.changes.models import Change, RiskSettings
from opsdesk.cmdb.impact import upstream_services
from opsdesk.core.actions import require, save_validated
from opsdesk.core.calendars import Calendar, CalendarError, CalendarSpec, compile_calendar
from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError
from opsdesk.core.models import BusinessCalendar, Organization
from opsdesk.core.permissions import Action
from opsdesk.servicedesk import timeline
from opsdesk.servicedesk.choices import ActivityKind

# The calendar part (freeze windows, conflicts) is built alongside this one; until it
# imports, those two factors say so instead of failing every assessment.
try:  # pragma: no cover - exercised only while the windows part is missing
    from opsdesk.changes.windows import freezes_overlapping
except ImportError:  # pragma: no cover
    freezes_overlapping = None  # type: ignore[assignment]
try:  # pragma: no cover
    from opsdesk.changes.conflicts import find_conflicts
except ImportError:  # pragma: no cover
    find_conflicts = None  # type: ignore[assignment]

# --- The documented defaults ---------------------------------------------------------------

#: The factors, in the order they are shown: key -> label.
FACTORS: dict[str, str] = {
    "questionnaire": "Questionnaire",
    "blast_radius": "Blast radius",
    "failure_history": "Failure history",
    "open_issues": "Open incidents and problems",
    "freeze": "Freeze windows",
    "conflicts": "Conflicts with other changes",
    "timing": "Timing against business hours",
    "change_type": "Change type",
    "lead_time": "Lead time",
}
DEFAULT_WEIGHTS: dict[str, float] = {
    "questionnaire": 20,
    "blast_radius": 20,
    "failure_history": 15,
    "open_issues": 10,
    "freeze": 10,
    "conflicts": 10,
    "timing": 5,
    "change_type": 5,
    "lead_time": 5,
}
#: The lowest score of each class above "low".
DEFAULT_THRESHOLDS: dict[str, float] = {"moderate": 25, "high": 50, "very_high": 75}
CLASS_ORDER = ("moderate", "high", "very_high")
CLASS_RANK = {"low": 0, "moderate": 1, "high": 2, "very_high": 3}
DEFAULT_QUESTIONNAIRE: list[dict[str, Any]] = [
    {
        "key": "done_before",
        "question": "Has this change been done before?",
        "answers": [
            {"key": "yes", "label": "Yes, the same way, successfully", "points": 0},
            {"key": "similar", "label": "Something similar", "points": 1},
            {"key": "no", "label": "No, it is new to us", "points": 3},
        ],
    },
    {
        "key": "backout",
        "question": "Can it be backed out in under an hour?",
        "answers": [
            {"key": "yes", "label": "Yes", "points": 0},
            {"key": "slow", "label": "Yes, but it takes longer", "points": 2},
            {"key": "no", "label": "No, it cannot be backed out", "points": 3},
        ],
    },
    {
        "key": "outage",
        "question": "Is there an outage during implementation?",
        "answers": [
            {"key": "none", "label": "No outage", "points": 0},
            {"key": "degraded", "label": "Degraded service", "points": 1},
            {"key": "partial", "label": "Partial outage", "points": 2},
            {"key": "full", "label": "Full outage", "points": 3},
        ],
    },
    {
        "key": "tested",
        "question": "Was it tested in a non-production environment?",
        "answers": [
            {"key": "yes", "label": "Yes, fully", "points": 0},
            {"key": "partly", "label": "Partly", "points": 1},
            {"key": "no", "label": "No", "points": 3},
        ],
    },
]
DEFAULT_INDUCED_WINDOW_HOURS = 24

#: How far up the CMDB a CI is followed to the business services it can take down.
SERVICE_DEPTH = 6
#: Points of a reached business service by criticality tier; two tier-1 services saturate.
TIER_POINTS: dict[int | None, float] = {1: 1.0, 2: 0.6, 3: 0.3, 4: 0.1, None: 0.3}
BLAST_SATURATION = 2.0
#: A change naming no CI and no service has an unknown blast radius: scored half.
UNKNOWN_BLAST_SCORE = 0.5
#: The failure rate counts the last HISTORY_SIZE completed changes on the same CIs, and
#: divides by at least MIN_HISTORY (one failed change out of one is not a 100 % rate).
HISTORY_SIZE = 10
MIN_HISTORY = 3
#: Open incidents by priority and open problems; two points saturate.
PRIORITY_POINTS = {1: 1.0, 2: 0.7, 3: 0.4, 4: 0.2, 5: 0.1}
PROBLEM_POINTS = 0.5
ISSUE_SATURATION = 2.0
#: Conflicts by kind (freeze overlaps are the freeze factor, not counted twice).
CONFLICT_POINTS = {"same_ci": 1.0, "dependent_ci": 0.6, "outside_maintenance": 0.4}
#: A change planned less than this long after it was requested is scored by how short the
#: notice was (0 h -> 1, LEAD_TIME_HOURS -> 0).
LEAD_TIME_HOURS = 72
#: Score of each change type.
TYPE_SCORES = {ChangeType.EMERGENCY: 1.0, ChangeType.NORMAL: 0.0, ChangeType.STANDARD: 0.0}

OPEN_PROBLEM_EXCLUDED = ("resolved", "closed", "cancelled")
_KEY = re.compile(r"^[a-z0-9_]{1,40}$")
MAX_QUESTIONS = 20
MAX_ANSWERS = 8


# --- Settings ------------------------------------------------------------------------------


@dataclass
class RiskConfig:
    """An organisation's effective risk settings (defaults filled in)."""

    weights: dict[str, float]
    thresholds: dict[str, float]
    questionnaire: list[dict[str, Any]]
    induced_window_hours: int = DEFAULT_INDUCED_WINDOW_HOURS
    customised: set[str] = field(default_factory=set)

    def question(self, key: str) -> dict[str, Any] | None:
        return next((q for q in self.questionnaire if q["key"] == key), None)


def effective(
    weights: dict[str, Any] | None = None,
    thresholds: dict[str, Any] | None = None,
    questionnaire: list[dict[str, Any]] | None = None,
    induced_window_hours: int = DEFAULT_INDUCED_WINDOW_HOURS,
) -> RiskConfig:
    customised = {
        name
        for name, value in (
            ("weights", weights),
            ("thresholds", thresholds),
            ("questionnaire", questionnaire),
        )
        if value
    }
    return RiskConfig(
        weights={**DEFAULT_WEIGHTS, **{k: float(v) for k, v in (weights or {}).items()}},
        thresholds={**DEFAULT_THRESHOLDS, **{k: float(v) for k, v in (thresholds or {}).items()}},
        questionnaire=list(questionnaire or DEFAULT_QUESTIONNAIRE),
        induced_window_hours=induced_window_hours,
        customised=customised,
    )


def settings_for(organization_id: int) -> RiskConfig:
    row = RiskSettings.objects.filter(organization_id=organization_id).first()
    if row is None:
        return effective()
    return effective(row.weights, row.thresholds, row.questionnaire, row.induced_window_hours)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value):
        return None
    return float(value)


def clean_weights(weights: Any, errors: dict[str, str]) -> dict[str, float]:
    if not isinstance(weights, dict):
        errors["weights"] = 'An object of factor weights, e.g. {"blast_radius": 20}.'
        return {}
    cleaned: dict[str, float] = {}
    for key, value in weights.items():
        if key not in FACTORS:
            errors[f"weights.{key}"] = f"Not a risk factor; one of: {', '.join(FACTORS)}."
            continue
        number = _number(value)
        if number is None or not 0 <= number <= 100:
            errors[f"weights.{key}"] = "A weight is a number from 0 to 100."
            continue
        cleaned[key] = number
    if not any(k.startswith("weights") for k in errors):
        total = sum({**DEFAULT_WEIGHTS, **cleaned}.values())
        if total <= 0:
            errors["weights"] = "At least one weight must be above 0."
    return cleaned


def clean_thresholds(thresholds: Any, errors: dict[str, str]) -> dict[str, float]:
    if not isinstance(thresholds, dict):
        errors["thresholds"] = 'An object of class thresholds, e.g. {"high": 50}.'
        return {}
    cleaned: dict[str, float] = {}
    for key, value in thresholds.items():
        if key not in CLASS_ORDER:
            errors[f"thresholds.{key}"] = f"Not a risk class; one of: {', '.join(CLASS_ORDER)}."
            continue
        number = _number(value)
        if number is None or not 0 < number <= 100:
            errors[f"thresholds.{key}"] = "A threshold is a score above 0 and at most 100."
            continue
        cleaned[key] = number
    if not any(k.startswith("thresholds") for k in errors):
        merged = {**DEFAULT_THRESHOLDS, **cleaned}
        for lower, upper in itertools.pairwise(CLASS_ORDER):
            if merged[upper] <= merged[lower]:
                errors[f"thresholds.{upper}"] = (
                    f"Must be above the {RiskClass(lower).label.lower()} threshold "
                    f"({merged[lower]:g}): thresholds increase from moderate to very high."
                )
                break
    return cleaned


def _text(value: Any, limit: int) -> str | None:
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value.strip()) > limit
        or "\x00" in value
    ):
        return None
    return value.strip()


def clean_questionnaire(questionnaire: Any, errors: dict[str, str]) -> list[dict[str, Any]]:
    if not isinstance(questionnaire, list):
        errors["questionnaire"] = "A list of questions, each with a key, a question and answers."
        return []
    if len(questionnaire) > MAX_QUESTIONS:
        errors["questionnaire"] = f"At most {MAX_QUESTIONS} questions."
        return []
    cleaned: list[dict[str, Any]] = []
    keys: set[str] = set()
    for i, q in enumerate(questionnaire):
        where = f"questionnaire.{i}"
        if not isinstance(q, dict):
            errors[where] = "A question is an object with key, question and answers."
            continue
        unknown = sorted(set(q) - {"key", "question", "answers"})
        if unknown:
            errors[f"{where}.{unknown[0]}"] = "Not part of a question (key, question, answers)."
        key = q.get("key")
        if not isinstance(key, str) or not _KEY.match(key):
            errors[f"{where}.key"] = "A key of lower-case letters, digits and _ (40 at most)."
        elif key in keys:
            errors[f"{where}.key"] = f"The key {key!r} is used by another question."
        else:
            keys.add(key)
        text = _text(q.get("question"), 300)
        if text is None:
            errors[f"{where}.question"] = "The question's text (300 characters at most)."
        answers = q.get("answers")
        if not isinstance(answers, list) or not 2 <= len(answers) <= MAX_ANSWERS:
            errors[f"{where}.answers"] = f"Between 2 and {MAX_ANSWERS} answers."
            continue
        clean_answers = []
        answer_keys: set[str] = set()
        for j, a in enumerate(answers):
            at = f"{where}.answers.{j}"
            if not isinstance(a, dict):
                errors[at] = "An answer is an object with key, label and points."
                continue
            extra = sorted(set(a) - {"key", "label", "points"})
            if extra:
                errors[f"{at}.{extra[0]}"] = "Not part of an answer (key, label, points)."
            a_key = a.get("key")
            if not isinstance(a_key, str) or not _KEY.match(a_key):
                errors[f"{at}.key"] = "A key of lower-case letters, digits and _ (40 at most)."
            elif a_key in answer_keys:
                errors[f"{at}.key"] = f"The key {a_key!r} is used by another answer."
            else:
                answer_keys.add(a_key)
            label = _text(a.get("label"), 120)
            if label is None:
                errors[f"{at}.label"] = "The answer's text (120 characters at most)."
            points = _number(a.get("points"))
            if points is None or not 0 <= points <= 100:
                errors[f"{at}.points"] = "Points are a number from 0 to 100."
            clean_answers.append({"key": a_key, "label": label, "points": points})
        if clean_answers and not any(
            (a["points"] or 0) > 0 for a in clean_answers if a["points"] is not None
        ):
            errors.setdefault(f"{where}.answers", "At least one answer must carry points.")
        cleaned.append({"key": key, "question": text, "answers": clean_answers})
    return cleaned


def clean_settings(
    *,
    weights: Any = None,
    thresholds: Any = None,
    questionnaire: Any = None,
    induced_window_hours: Any = None,
) -> dict[str, Any]:
    """The given settings, checked; every error names its field (``weights.timing``,
    ``thresholds.high``, ``questionnaire.1.answers.0.points``). None leaves a setting out."""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    if weights is not None:
        cleaned["weights"] = clean_weights(weights, errors)
    if thresholds is not None:
        cleaned["thresholds"] = clean_thresholds(thresholds, errors)
    if questionnaire is not None:
        cleaned["questionnaire"] = clean_questionnaire(questionnaire, errors)
    if induced_window_hours is not None:
        hours = _number(induced_window_hours)
        if hours is None or hours != int(hours) or not 1 <= hours <= 720:
            errors["induced_window_hours"] = "A whole number of hours from 1 to 720."
        else:
            cleaned["induced_window_hours"] = int(hours)
    if errors:
        raise FieldError(errors)
    return cleaned


def classify(score: float, thresholds: dict[str, float]) -> str:
    found = RiskClass.LOW.value
    for name in CLASS_ORDER:
        if score >= thresholds[name]:
            found = name
    return found


# --- The factors ---------------------------------------------------------------------------


@dataclass
class Factor:
    key: str
    score: float  # 0..1
    value: str  # the raw value as people read it
    evidence: str
    raw: dict[str, Any] = field(default_factory=dict)


def _names(items: Iterable[str], limit: int = 6) -> str:
    items = list(items)
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def _tier(criticality: int | None) -> str:
    return f"tier {criticality}" if criticality else "unrated"


def clamp(value: float) -> float:
    return max(0.0, min(1.0, value))


@dataclass
class Facts:
    """What the factors read about one change, loaded once."""

    change: Change
    cis: list[Any]
    ci_ids: set[int]
    services: list[dict[str, Any]]


def facts_of(change: Change) -> Facts:
    cis = list(change.cis.select_related("ci_class")) if change.pk else []
    roots = list(cis)
    if change.service_id is not None:
        roots.append(change.service)
    services: dict[int, dict[str, Any]] = {}
    for ci in roots:
        if ci.ci_class.is_service:
            services[ci.pk] = {"id": ci.pk, "name": ci.name, "criticality": ci.criticality}
        for s in upstream_services(ci, depth=SERVICE_DEPTH)["services"]:
            services.setdefault(
                s["id"], {"id": s["id"], "name": s["name"], "criticality": s["criticality"]}
            )
    ordered = sorted(services.values(), key=lambda s: (s["criticality"] or 9, s["name"]))
    ids = {ci.pk for ci in cis} | ({change.service_id} if change.service_id else set())
    return Facts(change=change, cis=cis, ci_ids=ids, services=ordered)


def questionnaire_factor(
    questionnaire: list[dict[str, Any]], answers: dict[str, Any]
) -> tuple[Factor, list[dict[str, Any]]]:
    rows = []
    got = worst = 0.0
    unanswered = 0
    for q in questionnaire:
        top = max((a["points"] for a in q["answers"]), default=0)
        chosen = next((a for a in q["answers"] if a["key"] == answers.get(q["key"])), None)
        if chosen is None:
            unanswered += 1
            points = top
        else:
            points = chosen["points"]
        got += points
        worst += top
        rows.append(
            {
                "key": q["key"],
                "question": q["question"],
                "answer": chosen["key"] if chosen else None,
                "answer_label": chosen["label"] if chosen else None,
                "points": points,
                "max_points": top,
                "answers": q["answers"],
            }
        )
    score = got / worst if worst else 0.0
    answered = len(rows) - unanswered
    risky = [r for r in rows if r["answer"] and r["points"] and r["points"] == r["max_points"]]
    parts = [f"{answered} of {len(rows)} questions answered"]
    if unanswered:
        parts.append("each unanswered one counts as its riskiest answer")
    if risky:
        parts.append(
            "riskiest answers: "
            + "; ".join(f"{r['question']} {r['answer_label']}" for r in risky[:3])
        )
    evidence = ", ".join(parts) + "."
    evidence = evidence[0].upper() + evidence[1:]
    return (
        Factor(
            "questionnaire",
            clamp(score),
            f"{got:g} of {worst:g} points",
            evidence,
            {"points": got, "max_points": worst, "unanswered": unanswered},
        ),
        rows,
    )


def blast_radius_factor(facts: Facts) -> Factor:
    services = facts.services
    if not facts.ci_ids:
        return Factor(
            "blast_radius",
            UNKNOWN_BLAST_SCORE,
            "unknown",
            "No CI or service is named, so the blast radius is unknown (scored as half).",
            {"services": [], "count": 0},
        )
    if not services:
        return Factor(
            "blast_radius",
            0.0,
            "0 services",
            f"The affected CIs ({_names(ci.name for ci in facts.cis)}) reach no business "
            "service in the CMDB.",
            {"services": [], "count": 0},
        )
    points = sum(TIER_POINTS.get(s["criticality"], TIER_POINTS[None]) for s in services)
    tier1 = [s for s in services if s["criticality"] == 1]
    value = _plural(len(services), "service")
    if tier1:
        value += f" ({len(tier1)} tier 1)"
    evidence = (
        f"Can affect {_plural(len(services), 'business service')}: "
        + _names(f"{s['name']} ({_tier(s['criticality'])})" for s in services)
        + "."
    )
    return Factor(
        "blast_radius",
        clamp(points / BLAST_SATURATION),
        value,
        evidence,
        {
            "services": [{"name": s["name"], "criticality": s["criticality"]} for s in services],
            "count": len(services),
            "tier_1": len(tier1),
            "points": round(points, 2),
        },
    )


def failure_history_factor(facts: Facts) -> Factor:
    change = facts.change
    if not facts.ci_ids:
        return Factor(
            "failure_history", 0.0, "no CIs", "No CI is named, so there is no history to read."
        )
    rows = list(
        Change.objects.filter(
            organization_id=change.organization_id,
            state__in=(ChangeState.REVIEW, ChangeState.CLOSED),
        )
        .exclude(close_code="")
        .exclude(pk=change.pk)
        .filter(
            Q(
                pk__in=Change.cis.through.objects.filter(
                    configurationitem_id__in=facts.ci_ids
                ).values("change_id")
            )
            | Q(service_id__in=facts.ci_ids)
        )
        .order_by(F("actual_end").desc(nulls_last=True), "-id")
        .values("number", "close_code")[:HISTORY_SIZE]
    )
    if not rows:
        return Factor(
            "failure_history",
            0.0,
            "0 of 0",
            "No earlier change on these CIs has been completed.",
            {"changes": 0, "failed": 0, "numbers": []},
        )
    failed = [r for r in rows if r["close_code"] in FAILED_CLOSE_CODES]
    score = len(failed) / max(len(rows), MIN_HISTORY)
    if failed:
        evidence = (
            f"{len(failed)} of the last {_plural(len(rows), 'completed change')} on these CIs "
            "failed or were backed out: "
            + _names(f"{r['number']} ({CloseCode(r['close_code']).label.lower()})" for r in failed)
            + "."
        )
    else:
        evidence = (
            f"None of the last {_plural(len(rows), 'completed change')} on these CIs failed: "
            + _names(r["number"] for r in rows)
            + "."
        )
    if len(rows) < MIN_HISTORY:
        evidence += f" Fewer than {MIN_HISTORY} changes: the rate is taken over {MIN_HISTORY}."
    return Factor(
        "failure_history",
        clamp(score),
        f"{len(failed)} of {len(rows)}",
        evidence,
        {
            "changes": len(rows),
            "failed": len(failed),
            "numbers": [r["number"] for r in failed],
        },
    )


def open_issues_factor(facts: Facts) -> Factor:
    from opsdesk.problems.models import Problem
    from opsdesk.servicedesk.choices import OPEN_STATES
    from opsdesk.servicedesk.models import Incident

    if not facts.ci_ids:
        return Factor("open_issues", 0.0, "no CIs", "No CI is named, so no open work is found.")
    on_cis = Q(ci_id__in=facts.ci_ids) | Q(service_id__in=facts.ci_ids)
    org = facts.change.organization_id
    incidents = list(
        Incident.objects.filter(on_cis, organization_id=org, state__in=OPEN_STATES)
        .order_by("priority", "opened_at", "id")
        .values("number", "priority")[:50]
    )
    problems = list(
        Problem.objects.filter(on_cis, organization_id=org)
        .exclude(state__in=OPEN_PROBLEM_EXCLUDED)
        .order_by("priority", "id")
        .values("number", "priority")[:50]
    )
    points = sum(PRIORITY_POINTS.get(i["priority"], 0.1) for i in incidents)
    points += PROBLEM_POINTS * len(problems)
    if not incidents and not problems:
        evidence = "No open incident or problem on these CIs."
    else:
        listed = [f"{i['number']} (P{i['priority']})" for i in incidents] + [
            p["number"] for p in problems
        ]
        evidence = (
            f"Open on these CIs: {_plural(len(incidents), 'incident')} and "
            f"{_plural(len(problems), 'problem')}: {_names(listed)}."
        )
    return Factor(
        "open_issues",
        clamp(points / ISSUE_SATURATION),
        f"{_plural(len(incidents), 'incident')}, {_plural(len(problems), 'problem')}",
        evidence,
        {
            "incidents": [i["number"] for i in incidents],
            "problems": [p["number"] for p in problems],
            "points": round(points, 2),
        },
    )


def _local(moment: datetime, tz_name: str) -> str:
    from zoneinfo import ZoneInfo

    try:
        zone = ZoneInfo(tz_name or "UTC")
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return moment.astimezone(zone).strftime("%a %d %b %H:%M")


def freeze_factor(facts: Facts) -> Factor:
    change = facts.change
    if change.planned_start is None or change.planned_end is None:
        return Factor("freeze", 0.0, "not planned", "No planned window yet.")
    if freezes_overlapping is None:  # pragma: no cover - only while the windows part is missing
        return Factor("freeze", 0.0, "unknown", "Freeze windows could not be read.")
    found = freezes_overlapping(
        change.organization_id,
        change.planned_start,
        change.planned_end,
        cis=facts.cis,
        services=[change.service_id] if change.service_id else [],
    )
    if not found:
        return Factor("freeze", 0.0, "none", "The planned window overlaps no freeze window.")
    tz = change.organization.time_zone
    names = _names(
        f"{f['name']} ({_local(f['starts_at'], tz)} to {_local(f['ends_at'], tz)})" for f in found
    )
    evidence = f"The planned window overlaps {_plural(len(found), 'freeze window')}: {names}."
    if change.freeze_justification:
        evidence += " Justified as: " + change.freeze_justification[:200]
    return Factor(
        "freeze",
        1.0,
        _plural(len(found), "window"),
        evidence,
        {"windows": [{"id": f["window_id"], "name": f["name"]} for f in found]},
    )


def conflicts_factor(facts: Facts) -> Factor:
    change = facts.change
    if change.planned_start is None or change.planned_end is None:
        return Factor("conflicts", 0.0, "not planned", "No planned window yet.")
    if find_conflicts is None:  # pragma: no cover - only while the windows part is missing
        return Factor("conflicts", 0.0, "unknown", "Conflicts could not be looked for.")
    found = [c for c in find_conflicts(change) if c.get("kind") in CONFLICT_POINTS]
    if not found:
        return Factor(
            "conflicts", 0.0, "none", "No other change on the same or dependent CIs at that time."
        )
    points = sum(CONFLICT_POINTS[c["kind"]] for c in found)
    return Factor(
        "conflicts",
        clamp(points),
        _plural(len(found), "conflict"),
        " ".join(c.get("reason", "") for c in found[:4]).strip()
        or f"{_plural(len(found), 'conflict')} found.",
        {
            "conflicts": [
                {k: c[k] for k in ("kind", "change_number", "window_id") if k in c} for c in found
            ]
        },
    )


def business_calendar(organization: Organization) -> tuple[Calendar, str]:
    """The organisation's default business calendar (as the SLA clocks choose it), else
    office hours (Monday to Friday, 08:00-17:00) in the organisation's time zone."""
    from opsdesk.sla.calendars import compiled

    stored = BusinessCalendar.objects.filter(
        organization_id=organization.pk, is_default=True
    ).first()
    if stored is not None:
        try:
            return compiled(stored), stored.name
        except CalendarError:
            pass
    try:
        spec = CalendarSpec(time_zone=organization.time_zone or "UTC", name="Office hours")
        return compile_calendar(spec), f"office hours ({spec.time_zone})"
    except CalendarError:  # pragma: no cover - a time zone that no longer exists
        return compile_calendar(CalendarSpec(name="Office hours")), "office hours (UTC)"


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def timing_factor(facts: Facts) -> Factor:
    change = facts.change
    start, end = change.planned_start, change.planned_end
    if start is None or end is None or end <= start:
        return Factor("timing", 0.0, "not planned", "No planned window yet.")
    calendar, name = business_calendar(change.organization)
    total = (end - start).total_seconds()
    inside = max(0.0, calendar.business_seconds(start, end))
    fraction = clamp(inside / total) if total else 0.0
    tz = calendar.spec.time_zone
    window = f"{_local(start, tz)} to {_local(end, tz)} {tz}"
    if not facts.services:
        return Factor(
            "timing",
            0.0,
            f"{round(fraction * 100)} % in hours",
            f"The window ({window}) affects no user-facing business service.",
            {"fraction": round(fraction, 3), "calendar": name, "user_facing": False},
        )
    names = _names((s["name"] for s in facts.services), 3)
    if fraction == 0:
        evidence = (
            f"The window ({window}) is outside the business hours of {name} "
            f"(nights, weekends or holidays), when fewer users of {names} are working."
        )
    else:
        evidence = (
            f"{_duration(inside)} of the {_duration(total)} window ({window}) falls in the "
            f"business hours of {name}, while users of {names} are working."
        )
    return Factor(
        "timing",
        fraction,
        f"{round(fraction * 100)} % in hours",
        evidence,
        {"fraction": round(fraction, 3), "calendar": name, "user_facing": True},
    )


def change_type_factor(facts: Facts) -> Factor:
    change = facts.change
    kind = change.change_type
    evidence = {
        ChangeType.EMERGENCY: "An emergency change skips the usual lead time and the full CAB.",
        ChangeType.NORMAL: "A normal change is assessed and authorised before it is scheduled.",
        ChangeType.STANDARD: "A standard change follows a pre-approved template.",
    }[ChangeType(kind)]
    return Factor(
        "change_type", TYPE_SCORES.get(kind, 0.0), change.get_change_type_display(), evidence
    )


def lead_time_factor(facts: Facts) -> Factor:
    change = facts.change
    if change.planned_start is None:
        return Factor("lead_time", 0.0, "not planned", "No planned start yet.")
    hours = (change.planned_start - change.opened_at).total_seconds() / 3600
    score = clamp(1 - hours / LEAD_TIME_HOURS)
    if hours < 0:
        evidence = "The planned start is before the change was requested."
    elif hours < LEAD_TIME_HOURS:
        evidence = (
            f"Planned to start {_duration(hours * 3600)} after it was requested, less than "
            f"the {LEAD_TIME_HOURS} h notice a change should have."
        )
    else:
        evidence = (
            f"Planned to start {round(hours / 24, 1):g} days after it was requested: enough notice."
        )
    return Factor("lead_time", score, f"{round(hours)} h", evidence, {"hours": round(hours, 1)})


# --- The assessment ------------------------------------------------------------------------


def factors_of(
    change: Change, config: RiskConfig, answers: dict[str, Any]
) -> tuple[list[Factor], list[dict[str, Any]]]:
    facts = facts_of(change)
    questionnaire, rows = questionnaire_factor(config.questionnaire, answers)
    found = [
        questionnaire,
        blast_radius_factor(facts),
        failure_history_factor(facts),
        open_issues_factor(facts),
        freeze_factor(facts),
        conflicts_factor(facts),
        timing_factor(facts),
        change_type_factor(facts),
        lead_time_factor(facts),
    ]
    return found, rows


def combine(
    factor_scores: dict[str, float], weights: dict[str, float], thresholds: dict[str, float]
) -> tuple[float, str, dict[str, float]]:
    """(score 0..100, class, contribution per factor): the weighted mean of the scores."""
    total = sum(weights.get(k, 0.0) for k in FACTORS) or 1.0
    contributions = {
        k: 100 * weights.get(k, 0.0) * factor_scores.get(k, 0.0) / total for k in FACTORS
    }
    score = round(sum(contributions.values()), 1)
    return score, classify(score, thresholds), {k: round(v, 1) for k, v in contributions.items()}


def assess(
    change: Change, answers: dict[str, Any] | None = None, config: RiskConfig | None = None
) -> dict[str, Any]:
    """The risk of `change` now, explained (nothing is saved): ``score`` (0..100),
    ``class``, ``factors`` (each with value, score, weight, contribution and evidence),
    ``questionnaire`` (each question with its answer), ``weights`` and ``thresholds``.
    ``answers`` default to the stored ones. A standard change keeps its template's class
    (``computed_class`` says what the data alone would give)."""
    config = config or settings_for(change.organization_id)
    answers = change.risk_answers if answers is None else answers
    factors, rows = factors_of(change, config, answers or {})
    score, risk_class, contributions = combine(
        {f.key: f.score for f in factors}, config.weights, config.thresholds
    )
    result: dict[str, Any] = {
        "score": score,
        "class": risk_class,
        "class_label": RiskClass(risk_class).label,
        "standard": change.change_type == ChangeType.STANDARD,
        "factors": [
            {
                "key": f.key,
                "label": FACTORS[f.key],
                "value": f.value,
                "score": round(f.score, 3),
                "weight": config.weights.get(f.key, 0.0),
                "contribution": contributions[f.key],
                "evidence": f.evidence,
                "raw": f.raw,
            }
            for f in factors
        ],
        "questionnaire": rows,
        "weights": dict(config.weights),
        "thresholds": dict(config.thresholds),
        "assessed_at": timezone.now().isoformat(),
    }
    if result["standard"]:
        kept = change.risk_class or (
            change.template.risk_class if change.template_id else RiskClass.LOW
        )
        result["computed_class"] = risk_class
        result["class"] = kept
        result["class_label"] = RiskClass(kept).label
    return result


# --- Actions -------------------------------------------------------------------------------


def clean_answers(
    stored: dict[str, Any], answers: dict[str, Any] | None, config: RiskConfig
) -> dict[str, Any]:
    """The stored answers updated with `answers` ({question key: answer key}; an empty
    answer clears one); answers to questions no longer asked are dropped."""
    if answers is not None and not isinstance(answers, dict):
        raise FieldError({"answers": "An object of {question key: answer key}."})
    errors: dict[str, str] = {}
    merged = {k: v for k, v in (stored or {}).items() if config.question(k) is not None}
    for key, value in (answers or {}).items():
        question = config.question(key)
        if question is None:
            errors[f"answers.{key}"] = "Not a question of this organisation's questionnaire."
            continue
        if value in (None, ""):
            merged.pop(key, None)
            continue
        choices = [a["key"] for a in question["answers"]]
        if value not in choices:
            errors[f"answers.{key}"] = f"One of: {', '.join(choices)}."
            continue
        merged[key] = value
    if errors:
        raise FieldError(errors)
    return merged


RISK_FIELDS = ("risk_answers", "risk_assessment", "risk_score", "risk_class", "risk_assessed_at")


def _apply(
    change: Change,
    answers: dict[str, Any],
    config: RiskConfig,
    *,
    acting_user: Any,
    system: str = "",
    reason: str,
    save: bool,
) -> dict[str, Any]:
    result = assess(change, answers, config)
    old_class, old_score = change.risk_class, change.risk_score
    change.risk_answers = answers
    change.risk_assessment = result
    change.risk_score = result["score"]
    change.risk_class = result["class"]
    change.risk_assessed_at = timezone.now()
    if save:
        change.save(update_fields=[*RISK_FIELDS, "updated_at"])
    if old_class != change.risk_class:
        timeline.record(
            change,
            ActivityKind.FIELD,
            actor=acting_user,
            actor_name=system,
            data={
                "what": "risk",
                "changes": {
                    "risk_class": [old_class or None, change.risk_class],
                    "risk_score": [old_score, change.risk_score],
                },
                "reason": reason,
            },
        )
    return result


@transaction.atomic
def assess_risk(
    *,
    acting_user: Any,
    change: Change,
    answers: dict[str, Any] | None = None,
    system: str = "",
) -> Change:
    """Assess the change's risk with `answers` (merged over the stored ones) and store the
    explanation, score and class; a class change goes on the timeline."""
    if not system:
        require(acting_user, Change, Action.CHANGE, change.organization_id)
    if change.state in change.workflow.final:
        raise Conflict(
            f"{change.number} is {change.get_state_display().lower()}: its risk is history.",
            field="state",
        )
    config = settings_for(change.organization_id)
    merged = clean_answers(change.risk_answers, answers, config)
    with acting_as(acting_user):
        _apply(
            change,
            merged,
            config,
            acting_user=acting_user,
            system=system,
            reason="assessed",
            save=True,
        )
    return change


@transaction.atomic
def update_risk_settings(
    *,
    acting_user: Any,
    organization: Organization,
    weights: dict[str, Any] | None = None,
    thresholds: dict[str, Any] | None = None,
    questionnaire: list[dict[str, Any]] | None = None,
    induced_window_hours: int | None = None,
) -> RiskSettings:
    """Change the organisation's risk settings; a setting left None keeps its value, an
    empty one means the defaults again. Stored assessments keep the settings they used."""
    require(acting_user, RiskSettings, Action.CHANGE, organization.pk)
    cleaned = clean_settings(
        weights=weights,
        thresholds=thresholds,
        questionnaire=questionnaire,
        induced_window_hours=induced_window_hours,
    )
    with acting_as(acting_user):
        row = RiskSettings.objects.filter(organization=organization).first()
        if row is None:
            row = RiskSettings(organization=organization)
        for name, value in cleaned.items():
            setattr(row, name, value)
        save_validated(row)
    return row


# --- Hooks ---------------------------------------------------------------------------------


@hooks.guard("request_authorisation", order=10)
def assess_before_authorisation(
    change: Change, name: str, values: dict[str, Any], acting_user: Any
) -> None:
    """The approvals engine picks a policy by risk class: make it current. The kernel saves
    the change (and its audit record) right after the guards."""
    if change.change_type == ChangeType.STANDARD:
        return
    config = settings_for(change.organization_id)
    answers = clean_answers(change.risk_answers, None, config)
    _apply(
        change,
        answers,
        config,
        acting_user=acting_user,
        reason="authorisation requested",
        save=False,
    )


@hooks.on_update("planned_start", "planned_end", "cis", "service")
def reassess_on_update(change: Change, changed: set[str], acting_user: Any) -> None:
    if (
        change.change_type == ChangeType.STANDARD
        or change.risk_assessed_at is None
        or change.state not in ACTIVE_STATES
    ):
        return
    config = settings_for(change.organization_id)
    moved = ", ".join(sorted(changed & {"planned_start", "planned_end", "cis", "service"}))
    _apply(
        change,
        clean_answers(change.risk_answers, None, config),
        config,
        acting_user=acting_user,
        reason=f"{moved} changed",
        save=True,
    )


def _risk_section(user: Any, change: Change) -> Any:
    from opsdesk.changes.views_risk import risk_section

    return risk_section(user, change)


def _register() -> None:
    from opsdesk.changes.sections import register_section

    register_section(_risk_section)


_register()
