"""The problem and known-error workflows, declared as data (see `opsdesk.core.workflow`)."""

from __future__ import annotations

from opsdesk.core.workflow import Workflow, t
from opsdesk.problems.choices import KnownErrorState as K
from opsdesk.problems.choices import ProblemState as S

#: States in which a problem is still being worked.
OPEN_PROBLEM_STATES = (S.NEW, S.ASSESS, S.ROOT_CAUSE_ANALYSIS, S.FIX_IN_PROGRESS)

PROBLEM = Workflow(
    name="problem",
    states=tuple(S.values),
    initial=S.NEW,
    final=frozenset({S.CLOSED, S.CANCELLED}),
    labels=dict(S.choices),
    transitions=(
        t("assess", {S.NEW}, S.ASSESS, label="Start assessment"),
        t("analyse", {S.NEW, S.ASSESS}, S.ROOT_CAUSE_ANALYSIS, label="Start root-cause analysis"),
        t(
            "fix",
            {S.ROOT_CAUSE_ANALYSIS},
            S.FIX_IN_PROGRESS,
            label="Start fix",
            requires=["root_cause"],
        ),
        t(
            "resolve",
            {S.ROOT_CAUSE_ANALYSIS, S.FIX_IN_PROGRESS},
            S.RESOLVED,
            requires=["root_cause", "resolution_notes"],
        ),
        t("close", {S.RESOLVED}, S.CLOSED),
        t("reopen", {S.RESOLVED}, S.ROOT_CAUSE_ANALYSIS, requires=["reason"]),
        t("cancel", set(OPEN_PROBLEM_STATES), S.CANCELLED, requires=["reason"]),
    ),
)

KNOWN_ERROR = Workflow(
    name="known_error",
    states=tuple(K.values),
    initial=K.DRAFT,
    final=frozenset({K.RETIRED}),
    labels=dict(K.choices),
    transitions=(
        t("publish", {K.DRAFT}, K.PUBLISHED),
        t("retire", {K.DRAFT, K.PUBLISHED}, K.RETIRED),
    ),
)
