"""Reads of problems and known errors, always restricted to what the user may see, and the
known errors suggested for an incident."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any

from django.db.models import Q, QuerySet

from opsdesk.cmdb.models import ConfigurationItem, Relationship
from opsdesk.core.errors import FieldError
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access, expand_states
from opsdesk.problems.choices import KnownErrorState, ProblemState
from opsdesk.problems.models import KnownError, Problem
from opsdesk.problems.workflows import OPEN_PROBLEM_STATES
from opsdesk.servicedesk.models import Incident

# --- problems ------------------------------------------------------------------------------


@dataclass
class ProblemFilter:
    """Every filter of the problem list; all optional, combined with AND."""

    organization: int | None = None
    state: list[str] | None = None  # values of ProblemState, or "open"
    priority: list[int] | None = None
    assignment_group: int | None = None
    assignee: int | None = None
    service: int | None = None
    ci: int | None = None
    q: str | None = None  # number or words of the title

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def _problem_states(values: list[str]) -> list[str]:
    return expand_states(values, open_states=OPEN_PROBLEM_STATES, states=list(ProblemState.values))


def problems(
    user: Any, filters: ProblemFilter | None = None, action: str = Action.VIEW
) -> QuerySet[Problem]:
    f = filters or ProblemFilter()
    qs = Problem.objects.restrict(user, action)
    if f.organization is not None:
        qs = qs.filter(organization_id=f.organization)
    if f.state:
        qs = qs.filter(state__in=_problem_states(f.state))
    if f.priority:
        if any(p not in (1, 2, 3, 4, 5) for p in f.priority):
            raise FieldError({"priority": "Priorities are 1 to 5."})
        qs = qs.filter(priority__in=f.priority)
    if f.assignment_group is not None:
        qs = qs.filter(assignment_group_id=f.assignment_group)
    if f.assignee is not None:
        qs = qs.filter(assignee_id=f.assignee)
    if f.service is not None:
        qs = qs.filter(service_id=f.service)
    if f.ci is not None:
        qs = qs.filter(ci_id=f.ci)
    if f.q:
        term = f.q.strip()
        if term.upper().startswith("PRB") and term[3:].isdigit():
            qs = qs.filter(number=term.upper())
        else:
            qs = qs.filter(Q(title__icontains=term) | Q(number__iexact=term))
    return qs.order_by("priority", "-opened_at", "-id")


def problem_list_related(qs: QuerySet[Problem]) -> QuerySet[Problem]:
    return qs.select_related("assignment_group", "assignee", "service", "ci")


def access_problem(user: Any, pk: Any, action: str = Action.VIEW) -> Problem:
    return access(Problem.objects.restrict(user, action), pk, "problem")


def problem_incidents(user: Any, problem: Problem) -> QuerySet[Incident]:
    """The incidents linked to `problem` that `user` may see."""
    return (
        Incident.objects.restrict(user, Action.VIEW)
        .filter(problem_id=problem.pk)
        .select_related("assignment_group", "assignee", "ci")
        .order_by("priority", "-opened_at", "-id")
    )


# --- known errors --------------------------------------------------------------------------


def known_errors(
    user: Any,
    *,
    organization: int | None = None,
    state: str | None = None,
    ci: int | None = None,
    problem: int | None = None,
    q: str | None = None,
) -> QuerySet[KnownError]:
    qs = KnownError.objects.restrict(user, Action.VIEW)
    if organization is not None:
        qs = qs.filter(organization_id=organization)
    if state:
        if state not in KnownErrorState.values:
            raise FieldError({"state": f"One of: {', '.join(KnownErrorState.values)}."})
        qs = qs.filter(state=state)
    if ci is not None:
        qs = qs.filter(cis=ci)
    if problem is not None:
        qs = qs.filter(problem_id=problem)
    if q:
        term = q.strip()
        qs = qs.filter(
            Q(number__iexact=term) | Q(title__icontains=term) | Q(symptoms__icontains=term)
        )
    return qs.order_by("-created_at", "-id")


def access_known_error(user: Any, pk: Any, action: str = Action.VIEW) -> KnownError:
    return access(KnownError.objects.restrict(user, action), pk, "known error")


# --- suggestions ---------------------------------------------------------------------------

#: Words that say nothing about a fault.
STOPWORDS = frozenset(
    """
    a about above after again all also am an and any are as at be because been before being
    below between both but by can cannot could did do does doing down during each few for from
    further had has have having he her here hers him his how i if in into is it its itself just
    me more most my no nor not now of off on once only or other our out over own same she
    should so some such than that the their them then there these they this those through to
    too under until up very was we were what when where which while who whom why will with
    would you your yours
    hi hello please thanks thank regards dear urgent asap help issue issues problem problems
    since today yesterday still again anymore getting get got keeps keep seems seem user users
    someone somebody everyone anyone working work works
    """.split()  # noqa: SIM905 - a word list reads better as text
)
_WORD = re.compile(r"[a-z0-9][a-z0-9_.-]*[a-z0-9]|[a-z0-9]")
#: Points per reason; the list shows the strongest suggestions first.
SAME_CI, RELATED_CI, SAME_SERVICE, PER_WORD = 10, 5, 4, 2
MAX_QUERY_WORDS = 12
MAX_CANDIDATES = 200


def _normal(word: str) -> str:
    if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def tokens(text: str) -> set[str]:
    """The meaningful words of `text`, lower-cased, without stopwords and plural ``s``."""
    out = set()
    for word in _WORD.findall((text or "").lower()):
        if len(word) < 3 or word in STOPWORDS or word.isdigit():
            continue
        out.add(_normal(word))
    return out


@dataclass
class Suggestion:
    known_error: KnownError
    score: int
    reasons: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)


def _related_cis(incident: Incident) -> dict[int, str]:
    """CIs the incident's CI depends on (one step), and the incident's service: id -> why."""
    related: dict[int, str] = {}
    if incident.ci_id is not None:
        for rel in (
            Relationship.objects.filter(source_id=incident.ci_id)
            .select_related("target", "type")
            .order_by("pk")[:50]
        ):
            related.setdefault(
                rel.target_id, f"{incident.ci.name} {rel.type.label} {rel.target.name}"
            )
    return related


def suggested_known_errors(user: Any, incident: Incident, limit: int = 5) -> list[Suggestion]:
    """Published known errors of the incident's organisation that fit it, best first, each
    with why: the same CI, a CI it depends on, its service, or shared words between the
    incident's title and description and the known error's title and symptoms."""
    base = KnownError.objects.restrict(user, Action.VIEW).filter(
        organization_id=incident.organization_id, state=KnownErrorState.PUBLISHED
    )
    words = tokens(f"{incident.title} {incident.description}")
    related = _related_cis(incident)
    ci_ids = set(related)
    if incident.ci_id is not None:
        ci_ids.add(incident.ci_id)
    if incident.service_id is not None:
        ci_ids.add(incident.service_id)
    condition = Q(pk__in=[])
    if ci_ids:
        condition |= Q(cis__in=ci_ids)
    for word in sorted(words, key=len, reverse=True)[:MAX_QUERY_WORDS]:
        condition |= Q(title__icontains=word) | Q(symptoms__icontains=word)
    if not ci_ids and not words:
        return []
    candidate_ids = list(
        base.filter(condition).values_list("pk", flat=True).distinct()[:MAX_CANDIDATES]
    )
    candidates = KnownError.objects.filter(pk__in=candidate_ids).prefetch_related("cis")
    names = dict(ConfigurationItem.objects.filter(pk__in=ci_ids).values_list("pk", "name"))
    out: list[Suggestion] = []
    for ke in candidates:
        score = 0
        reasons: list[str] = []
        linked = {ci.pk for ci in ke.cis.all()}
        if incident.ci_id in linked:
            score += SAME_CI
            reasons.append(f"same CI {names.get(incident.ci_id, incident.ci_id)}")
        for ci_id in sorted(linked & set(related)):
            score += RELATED_CI
            reasons.append(f"related CI: {related[ci_id]}")
        if incident.service_id is not None and incident.service_id in linked:
            score += SAME_SERVICE
            reasons.append(f"same service {names.get(incident.service_id, incident.service_id)}")
        shared = sorted(words & tokens(f"{ke.title} {ke.symptoms}"))
        if shared:
            score += PER_WORD * len(shared)
            reasons.append(f"matching words: {', '.join(shared)}")
        if score:
            out.append(Suggestion(known_error=ke, score=score, reasons=reasons, words=shared))
    out.sort(key=lambda s: (-s.score, -s.known_error.pk))
    return out[: max(0, limit)]
