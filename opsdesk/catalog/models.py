"""The service catalogue and service requests.

A `CatalogItem` is something people can order: it carries the form the requester fills in,
the approval steps an order goes through and the fulfilment tasks that deliver it.
Ordering creates a `ServiceRequest` (REQ) with one `RequestItem` (RITM) per ordered item;
each item collects `Approval` rows step by step, then `FulfilmentTask` rows (SCTASK) for
the teams that deliver it. The request's state follows its items.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from opsdesk.catalog.choices import ApprovalState, ItemState, RequestState, TaskState
from opsdesk.core.models import ChangeLogged, ChangeLoggedQuerySet, Numbered, TenantOwned
from opsdesk.core.permissions import Action, Role
from opsdesk.servicedesk.models import TICKET_ROLE_ACTIONS

#: Everyone reads the catalogue; managers and admins maintain it.
CATALOG_ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.REQUESTER: frozenset({Action.VIEW}),
    Role.AGENT: frozenset({Action.VIEW}),
    Role.MANAGER: frozenset({Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE}),
    Role.AUDITOR: frozenset({Action.VIEW}),
    Role.ADMIN: frozenset({Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE}),
}

#: Fulfilment tasks are internal work: requesters never see them.
TASK_ROLE_ACTIONS: dict[str, frozenset[str]] = {
    role: actions for role, actions in TICKET_ROLE_ACTIONS.items() if role != Role.REQUESTER
}


class CatalogItem(TenantOwned, ChangeLogged):
    """Something people can order, with its form, approval steps and fulfilment tasks."""

    name = models.CharField(max_length=150)
    category = models.CharField(max_length=100, blank=True)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    form = models.JSONField(
        default=list,
        blank=True,
        help_text="Fields the requester fills in: [{name, label, type, required, choices, help}]",
    )
    approval_steps = models.JSONField(
        default=list,
        blank=True,
        help_text='Approval steps in order: [{"kind": "manager"|"users"|"group", ...}]',
    )
    tasks = models.JSONField(
        default=list,
        blank=True,
        help_text="Fulfilment tasks: [{title, team_id, order}]; same order = in parallel.",
    )
    delivery_days = models.PositiveSmallIntegerField(default=5)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = CATALOG_ROLE_ACTIONS

    class Meta:
        ordering = ["category", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="catalog_item_name")
        ]

    def __str__(self) -> str:
        return self.name


class ServiceRequest(TenantOwned, ChangeLogged, Numbered):
    """An order of one or more catalogue items for one person."""

    number_prefix = "REQ"

    title = models.CharField(max_length=255)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="service_requests",
        help_text="The person the request is for.",
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=20, choices=RequestState.choices, default=RequestState.OPEN)
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = TICKET_ROLE_ACTIONS

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "number"], name="request_number")
        ]
        indexes = [
            models.Index(fields=["organization", "state", "-opened_at"], name="req_org_state"),
            models.Index(fields=["requester", "-opened_at"], name="req_requester"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    @classmethod
    def scope_for_role(cls, role: str, user: Any) -> Q | None:
        if role == Role.REQUESTER:
            # Their own requests, and those they are asked to approve.
            return (
                Q(requester_id=user.pk)
                | Q(opened_by_id=user.pk)
                | Q(pk__in=Approval._base_manager.filter(approver_id=user.pk).values("request_id"))
            )
        return None

    @property
    def is_open(self) -> bool:
        return self.state == RequestState.OPEN


class RequestItem(TenantOwned, ChangeLogged, Numbered):
    """One ordered catalogue item of a request, with the requester's answers."""

    number_prefix = "RITM"

    request = models.ForeignKey(ServiceRequest, on_delete=models.CASCADE, related_name="items")
    catalog_item = models.ForeignKey(CatalogItem, on_delete=models.PROTECT, related_name="+")
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The request's requester (kept here so their timeline scope is one lookup).",
    )
    answers = models.JSONField(default=dict, blank=True)
    quantity = models.PositiveSmallIntegerField(default=1)
    state = models.CharField(
        max_length=20, choices=ItemState.choices, default=ItemState.AWAITING_APPROVAL
    )
    #: Index of the approval step being asked (None once approvals are over).
    step = models.PositiveSmallIntegerField(null=True, blank=True)
    #: Snapshot of the catalogue item's definition when ordered (later edits do not apply).
    definition = models.JSONField(default=dict, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = TICKET_ROLE_ACTIONS

    class Meta:
        ordering = ["request_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "number"], name="request_item_number")
        ]
        indexes = [models.Index(fields=["organization", "state"], name="ritm_org_state")]

    def __str__(self) -> str:
        return f"{self.number} {self.catalog_item.name}"

    @classmethod
    def scope_for_role(cls, role: str, user: Any) -> Q | None:
        if role == Role.REQUESTER:
            return Q(requester_id=user.pk) | Q(
                pk__in=Approval._base_manager.filter(approver_id=user.pk).values("item_id")
            )
        return None

    @property
    def title(self) -> str:
        name = self.catalog_item.name
        return f"{name} x{self.quantity}" if self.quantity > 1 else name

    @property
    def steps(self) -> list[dict[str, Any]]:
        return list(self.definition.get("approval_steps") or [])


class FulfilmentTask(TenantOwned, ChangeLogged, Numbered):
    """A piece of work a team does to deliver a requested item."""

    number_prefix = "SCTASK"

    item = models.ForeignKey(RequestItem, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=255)
    order = models.PositiveSmallIntegerField(default=1)
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="+")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="fulfilment_tasks",
    )
    state = models.CharField(max_length=20, choices=TaskState.choices, default=TaskState.OPEN)
    opened_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = TASK_ROLE_ACTIONS

    class Meta:
        ordering = ["item_id", "order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "number"], name="fulfilment_task_number"
            )
        ]
        indexes = [
            models.Index(fields=["team", "state"], name="sctask_team_state"),
            models.Index(fields=["assignee", "state"], name="sctask_assignee_state"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"


class Approval(TenantOwned, ChangeLogged):
    """One person's decision on one approval step of a requested item."""

    item = models.ForeignKey(RequestItem, on_delete=models.CASCADE, related_name="approvals")
    request = models.ForeignKey(ServiceRequest, on_delete=models.CASCADE, related_name="+")
    step = models.PositiveSmallIntegerField(help_text="Index of the step (0 = first).")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approvals"
    )
    state = models.CharField(
        max_length=20, choices=ApprovalState.choices, default=ApprovalState.REQUESTED
    )
    comment = models.TextField(blank=True)
    requested_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = TICKET_ROLE_ACTIONS

    class Meta:
        ordering = ["item_id", "step", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "step", "approver"], name="one_approval_per_step_and_person"
            )
        ]
        indexes = [models.Index(fields=["approver", "state"], name="approval_approver_state")]

    def __str__(self) -> str:
        return f"Approval of {self.item_id} step {self.step + 1} by {self.approver_id}"

    @classmethod
    def scope_for_role(cls, role: str, user: Any) -> Q | None:
        if role == Role.REQUESTER:
            return Q(approver_id=user.pk) | Q(item__requester_id=user.pk)
        return None

    @property
    def is_pending(self) -> bool:
        return self.state == ApprovalState.REQUESTED


__all__ = [
    "Approval",
    "ApprovalState",
    "CatalogItem",
    "FulfilmentTask",
    "ItemState",
    "RequestItem",
    "RequestState",
    "ServiceRequest",
    "TaskState",
]
