"""Enumerations of the knowledge base."""

from django.db import models


class ArticleKind(models.TextChoices):
    HOW_TO = "how_to", "How-to"
    KNOWN_ERROR = "known_error", "Known error"
    SOP = "sop", "Standard operating procedure"
    POLICY = "policy", "Policy"


class ArticleState(models.TextChoices):
    DRAFT = "draft", "Draft"
    REVIEW = "review", "In review"
    PUBLISHED = "published", "Published"
    RETIRED = "retired", "Retired"


class Visibility(models.TextChoices):
    AGENTS = "agents", "Agents only"
    EVERYONE = "everyone", "Everyone, requesters included"
