"""The incident workflow, declared as data (see `opsdesk.core.workflow`)."""

from __future__ import annotations

from opsdesk.core.workflow import Workflow, t
from opsdesk.servicedesk.choices import IncidentState as S

INCIDENT = Workflow(
    name="incident",
    states=tuple(S.values),
    initial=S.NEW,
    final=frozenset({S.CLOSED, S.CANCELLED}),
    labels=dict(S.choices),
    transitions=(
        t("start", {S.NEW, S.ON_HOLD}, S.IN_PROGRESS, label="Start work"),
        t("hold", {S.NEW, S.IN_PROGRESS}, S.ON_HOLD, label="Put on hold", requires=["hold_reason"]),
        t(
            "resolve",
            {S.NEW, S.IN_PROGRESS, S.ON_HOLD},
            S.RESOLVED,
            requires=["resolution_code", "resolution_notes"],
        ),
        t("close", {S.RESOLVED}, S.CLOSED),
        t("reopen", {S.RESOLVED}, S.IN_PROGRESS, requires=["reason"]),
        t("cancel", {S.NEW, S.IN_PROGRESS, S.ON_HOLD}, S.CANCELLED, requires=["reason"]),
    ),
)
