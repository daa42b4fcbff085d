"""The workflows of requests, requested items and fulfilment tasks, declared as data."""

from __future__ import annotations

from opsdesk.catalog.choices import ItemState as I
from opsdesk.catalog.choices import RequestState as R
from opsdesk.catalog.choices import TaskState as T
from opsdesk.core.workflow import Workflow, t

#: A request follows its items: it is never moved by hand except to cancel it.
REQUEST = Workflow(
    name="request",
    states=tuple(R.values),
    initial=R.OPEN,
    final=frozenset({R.FULFILLED, R.CLOSED_INCOMPLETE, R.CANCELLED}),
    labels=dict(R.choices),
    transitions=(
        t("fulfil", {R.OPEN}, R.FULFILLED, label="Fulfil"),
        t("close_incomplete", {R.OPEN}, R.CLOSED_INCOMPLETE, label="Close incomplete"),
        t("cancel", {R.OPEN}, R.CANCELLED, requires=["reason"]),
    ),
)

ITEM = Workflow(
    name="request_item",
    states=tuple(I.values),
    initial=I.AWAITING_APPROVAL,
    final=frozenset({I.FULFILLED, I.REJECTED, I.CANCELLED}),
    labels=dict(I.choices),
    transitions=(
        t("approve", {I.AWAITING_APPROVAL}, I.IN_FULFILMENT, label="Approve"),
        t("reject", {I.AWAITING_APPROVAL}, I.REJECTED, label="Reject"),
        t("fulfil", {I.IN_FULFILMENT}, I.FULFILLED, label="Fulfil"),
        t("cancel", {I.AWAITING_APPROVAL, I.IN_FULFILMENT}, I.CANCELLED, requires=["reason"]),
    ),
)

TASK = Workflow(
    name="task",
    states=tuple(T.values),
    initial=T.OPEN,
    final=frozenset({T.DONE, T.CANCELLED}),
    labels=dict(T.choices),
    transitions=(
        t("start", {T.OPEN}, T.IN_PROGRESS, label="Start work"),
        t("complete", {T.OPEN, T.IN_PROGRESS}, T.DONE, label="Complete"),
        t("cancel", {T.OPEN, T.IN_PROGRESS}, T.CANCELLED, requires=["reason"]),
    ),
)
