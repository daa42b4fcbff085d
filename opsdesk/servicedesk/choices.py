"""Enumerations of the service desk."""

from django.db import models


class IncidentState(models.TextChoices):
    NEW = "new", "New"
    IN_PROGRESS = "in_progress", "In progress"
    ON_HOLD = "on_hold", "On hold"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"


#: States in which an incident is still being worked (the queue).
OPEN_STATES = (IncidentState.NEW, IncidentState.IN_PROGRESS, IncidentState.ON_HOLD)


class HoldReason(models.TextChoices):
    AWAITING_REQUESTER = "awaiting_requester", "Awaiting requester"
    AWAITING_VENDOR = "awaiting_vendor", "Awaiting vendor"
    AWAITING_CHANGE = "awaiting_change", "Awaiting change"


class Channel(models.TextChoices):
    PORTAL = "portal", "Portal"
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    API = "api", "API"
    EVENT = "event", "Monitoring event"
    WALK_IN = "walk_in", "Walk-in"
    CHAT = "chat", "Chat"


class Impact(models.IntegerChoices):
    HIGH = 1, "1 - High"
    MEDIUM = 2, "2 - Medium"
    LOW = 3, "3 - Low"


class Urgency(models.IntegerChoices):
    HIGH = 1, "1 - High"
    MEDIUM = 2, "2 - Medium"
    LOW = 3, "3 - Low"


class Priority(models.IntegerChoices):
    P1 = 1, "P1 - Critical"
    P2 = 2, "P2 - High"
    P3 = 3, "P3 - Moderate"
    P4 = 4, "P4 - Low"
    P5 = 5, "P5 - Planning"


#: The ITIL default: priority = f(impact, urgency); an admin edits it per organisation.
DEFAULT_PRIORITY_MATRIX: dict[str, int] = {
    "1,1": 1,
    "1,2": 2,
    "1,3": 3,
    "2,1": 2,
    "2,2": 3,
    "2,3": 4,
    "3,1": 3,
    "3,2": 4,
    "3,3": 5,
}

DEFAULT_RESOLUTION_CODES: list[str] = [
    "solved_permanently",
    "solved_workaround",
    "solved_remotely",
    "not_reproducible",
    "duplicate",
    "user_error",
    "closed_by_caller",
    "no_fault_found",
]

DEFAULT_ATTACHMENT_TYPES: list[str] = [
    "text/plain",
    "text/csv",
    "application/pdf",
    "application/json",
    "application/zip",
    "image/png",
    "image/jpeg",
    "image/gif",
    "message/rfc822",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
]


class SubjectType(models.TextChoices):
    """What a timeline entry, attachment, watcher or survey belongs to."""

    INCIDENT = "incident", "Incident"
    REQUEST = "request", "Service request"
    REQUEST_ITEM = "request_item", "Requested item"
    TASK = "task", "Fulfilment task"
    PROBLEM = "problem", "Problem"
    KNOWN_ERROR = "known_error", "Known error"
    ARTICLE = "article", "Knowledge article"
    CHANGE = "change", "Change"


class ActivityKind(models.TextChoices):
    CREATED = "created", "Created"
    STATE = "state", "State changed"
    ASSIGNED = "assigned", "Assigned"
    COMMENT = "comment", "Comment"
    WORK_NOTE = "work_note", "Work note"
    FIELD = "field", "Fields changed"
    LINK = "link", "Linked"
    UNLINK = "unlink", "Unlinked"
    ATTACHMENT = "attachment", "Attachment"
    WATCHER = "watcher", "Watcher"
    MAJOR = "major", "Major incident"
    COMMUNICATION = "communication", "Stakeholder update"
    APPROVAL = "approval", "Approval"
    SURVEY = "survey", "Survey"
    EMAIL = "email", "Email"
    SLA = "sla", "Service level"


class CommunicationAudience(models.TextChoices):
    STAKEHOLDERS = "stakeholders", "Stakeholders"
    CUSTOMERS = "customers", "Customers"
    EXECUTIVES = "executives", "Executives"
    TECHNICAL = "technical", "Technical teams"


class ReviewState(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    COMPLETED = "completed", "Completed"


class ReviewActionState(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"
