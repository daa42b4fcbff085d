"""Enumerations of problem management."""

from django.db import models


class ProblemState(models.TextChoices):
    NEW = "new", "New"
    ASSESS = "assess", "Assess"
    ROOT_CAUSE_ANALYSIS = "root_cause_analysis", "Root cause analysis"
    FIX_IN_PROGRESS = "fix_in_progress", "Fix in progress"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"


class KnownErrorState(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    RETIRED = "retired", "Retired"
