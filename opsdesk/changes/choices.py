"""Enumerations of change enablement and release."""

from django.db import models


class ChangeType(models.TextChoices):
    STANDARD = "standard", "Standard"
    NORMAL = "normal", "Normal"
    EMERGENCY = "emergency", "Emergency"


class ChangeState(models.TextChoices):
    NEW = "new", "New"
    ASSESS = "assess", "Assess"
    AUTHORISE = "authorise", "Authorise"
    SCHEDULED = "scheduled", "Scheduled"
    IMPLEMENT = "implement", "Implement"
    REVIEW = "review", "Review"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"


#: States in which a change still occupies the calendar (it may yet happen or is happening).
ACTIVE_STATES = (
    ChangeState.NEW,
    ChangeState.ASSESS,
    ChangeState.AUTHORISE,
    ChangeState.SCHEDULED,
    ChangeState.IMPLEMENT,
)


class CloseCode(models.TextChoices):
    SUCCESSFUL = "successful", "Successful"
    SUCCESSFUL_WITH_ISSUES = "successful_with_issues", "Successful with issues"
    FAILED = "failed", "Failed"
    BACKED_OUT = "backed_out", "Backed out"


#: Close codes that count as a failed change in success-rate figures.
FAILED_CLOSE_CODES = (CloseCode.FAILED, CloseCode.BACKED_OUT)


class RiskClass(models.TextChoices):
    LOW = "low", "Low"
    MODERATE = "moderate", "Moderate"
    HIGH = "high", "High"
    VERY_HIGH = "very_high", "Very high"


class ApprovalState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    #: No longer needed: the step reached its quorum, the change was rejected or cancelled.
    SKIPPED = "skipped", "No longer required"


class ApproverKind(models.TextChoices):
    TEAM = "team", "Members of a team"
    USERS = "users", "Named people"
    CHANGE_MANAGER = "change_manager", "The change manager"
    CAB = "cab", "The CAB (decided in a meeting)"


class WindowKind(models.TextChoices):
    MAINTENANCE = "maintenance", "Maintenance window"
    FREEZE = "freeze", "Freeze (blackout) window"


class CabKind(models.TextChoices):
    CAB = "cab", "CAB"
    ECAB = "ecab", "Emergency CAB"


class CabState(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class CabDecision(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    DEFERRED = "deferred", "Deferred"


class DeploymentSource(models.TextChoices):
    GITHUB = "github", "GitHub Actions"
    GITLAB = "gitlab", "GitLab"
    AZURE_DEVOPS = "azure-devops", "Azure DevOps"
    GENERIC = "generic", "Generic"


class DeploymentOutcome(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    SUCCESS = "success", "Succeeded"
    FAILURE = "failure", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class InducedState(models.TextChoices):
    SUGGESTED = "suggested", "Suggested"
    CONFIRMED = "confirmed", "Confirmed"
    DISMISSED = "dismissed", "Dismissed"


class ReviewState(models.TextChoices):
    OPEN = "open", "Open"
    COMPLETED = "completed", "Completed"
