"""Enumerations of the service catalogue and service requests."""

from django.db import models


class RequestState(models.TextChoices):
    OPEN = "open", "Open"
    FULFILLED = "fulfilled", "Fulfilled"
    CLOSED_INCOMPLETE = "closed_incomplete", "Closed incomplete"
    CANCELLED = "cancelled", "Cancelled"


class ItemState(models.TextChoices):
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    IN_FULFILMENT = "in_fulfilment", "In fulfilment"
    FULFILLED = "fulfilled", "Fulfilled"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


class TaskState(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


class ApprovalState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "No longer needed"


class StepKind(models.TextChoices):
    MANAGER = "manager", "The requester's manager"
    USERS = "users", "Named approvers"
    GROUP = "group", "A team"


class StepRule(models.TextChoices):
    ANY = "any", "Any one approves"
    ALL = "all", "Everyone approves"


FIELD_TYPES = (
    "text",
    "textarea",
    "choice",
    "multichoice",
    "date",
    "user",
    "ci",
    "number",
    "checkbox",
)

OPEN_ITEM_STATES = (ItemState.AWAITING_APPROVAL, ItemState.IN_FULFILMENT)
OPEN_TASK_STATES = (TaskState.OPEN, TaskState.IN_PROGRESS)
