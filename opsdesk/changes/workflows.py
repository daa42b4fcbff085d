"""The change workflows, declared as data (see `opsdesk.core.workflow`).

One set of states, three paths:

* **normal**: New -> Assess -> Authorise (approvals, CAB) -> Scheduled -> Implement ->
  Review -> Closed;
* **emergency**: New -> Authorise (emergency CAB) -> Scheduled -> ...; a post-implementation
  review is always required;
* **standard**: pre-approved from a template: New -> Scheduled -> Implement -> Review ->
  Closed, no authorisation.

``authorise`` is never a free choice: the approvals engine fires it when every approval step
has its quorum (see `opsdesk.changes.approvals`); called directly it is refused while any
approval is outstanding. ``reject`` sends the change back to New with the reason.
"""

from __future__ import annotations

from opsdesk.changes.choices import ChangeState as S
from opsdesk.changes.choices import ChangeType
from opsdesk.core.workflow import Transition, Workflow, t

#: Fields a change must have before it may ask for authorisation (or, for a standard change,
#: be scheduled).
PLAN_FIELDS = ("planned_start", "planned_end", "implementation_plan", "backout_plan")

_STATES = tuple(S.values)
_FINAL = frozenset({S.CLOSED, S.CANCELLED})
_LABELS = dict(S.choices)


def _tail() -> tuple[Transition, ...]:
    """What every path shares once a change is scheduled."""
    return (
        t("implement", {S.SCHEDULED}, S.IMPLEMENT, label="Start implementation"),
        t(
            "complete",
            {S.IMPLEMENT},
            S.REVIEW,
            label="Implementation finished",
            requires=["close_code"],
        ),
        t("close", {S.REVIEW}, S.CLOSED, requires=["close_notes"]),
    )


NORMAL = Workflow(
    name="change_normal",
    states=_STATES,
    initial=S.NEW,
    final=_FINAL,
    labels=_LABELS,
    transitions=(
        t("assess", {S.NEW}, S.ASSESS, label="Start assessment"),
        t(
            "request_authorisation",
            {S.ASSESS},
            S.AUTHORISE,
            label="Request authorisation",
            requires=PLAN_FIELDS,
        ),
        t("authorise", {S.AUTHORISE}, S.SCHEDULED, label="Authorise"),
        t("reject", {S.AUTHORISE}, S.NEW, label="Reject", requires=["reason"]),
        t(
            "revise",
            {S.ASSESS, S.AUTHORISE, S.SCHEDULED},
            S.NEW,
            label="Back to new",
            requires=["reason"],
        ),
        *_tail(),
        t(
            "cancel",
            {S.NEW, S.ASSESS, S.AUTHORISE, S.SCHEDULED},
            S.CANCELLED,
            requires=["reason"],
        ),
    ),
)

EMERGENCY = Workflow(
    name="change_emergency",
    states=_STATES,
    initial=S.NEW,
    final=_FINAL,
    labels=_LABELS,
    transitions=(
        t(
            "request_authorisation",
            {S.NEW},
            S.AUTHORISE,
            label="Request emergency authorisation",
            requires=(*PLAN_FIELDS, "justification"),
        ),
        t("authorise", {S.AUTHORISE}, S.SCHEDULED, label="Authorise"),
        t("reject", {S.AUTHORISE}, S.NEW, label="Reject", requires=["reason"]),
        t("revise", {S.AUTHORISE, S.SCHEDULED}, S.NEW, label="Back to new", requires=["reason"]),
        *_tail(),
        t("cancel", {S.NEW, S.AUTHORISE, S.SCHEDULED}, S.CANCELLED, requires=["reason"]),
    ),
)

STANDARD = Workflow(
    name="change_standard",
    states=_STATES,
    initial=S.NEW,
    final=_FINAL,
    labels=_LABELS,
    transitions=(
        t(
            "schedule",
            {S.NEW},
            S.SCHEDULED,
            label="Schedule (pre-approved)",
            requires=("planned_start", "planned_end"),
        ),
        t("revise", {S.SCHEDULED}, S.NEW, label="Back to new", requires=["reason"]),
        *_tail(),
        t("cancel", {S.NEW, S.SCHEDULED}, S.CANCELLED, requires=["reason"]),
    ),
)

WORKFLOWS: dict[str, Workflow] = {
    ChangeType.NORMAL: NORMAL,
    ChangeType.EMERGENCY: EMERGENCY,
    ChangeType.STANDARD: STANDARD,
}


def workflow_for(change_type: str) -> Workflow:
    return WORKFLOWS[change_type]


#: Every transition name of any path (the API exposes one operation per name).
TRANSITION_NAMES: tuple[str, ...] = tuple(
    dict.fromkeys(tr.name for wf in WORKFLOWS.values() for tr in wf.transitions)
)
