"""Enumerations of event management."""

from __future__ import annotations

from django.db import models


class Source(models.TextChoices):
    ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"
    GRAFANA = "grafana", "Grafana"
    AZURE_MONITOR = "azure-monitor", "Azure Monitor"
    CLOUDWATCH = "cloudwatch", "Amazon CloudWatch (SNS)"
    ZABBIX = "zabbix", "Zabbix"
    DATADOG = "datadog", "Datadog"
    CLOUDEVENTS = "cloudevents", "CloudEvents"
    GENERIC = "generic", "Generic JSON"


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    MAJOR = "major", "Major"
    MINOR = "minor", "Minor"
    WARNING = "warning", "Warning"
    INFO = "info", "Info"


#: Lower is worse: used to take the worst severity of a group and to compare thresholds.
SEVERITY_RANK: dict[str, int] = {
    Severity.CRITICAL: 1,
    Severity.MAJOR: 2,
    Severity.MINOR: 3,
    Severity.WARNING: 4,
    Severity.INFO: 5,
}


def worst(*severities: str) -> str:
    known = [s for s in severities if s in SEVERITY_RANK]
    return min(known, key=SEVERITY_RANK.__getitem__) if known else Severity.INFO


class EventStatus(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"


class InboxState(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Processed"
    FAILED = "failed", "Failed"


class GroupState(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"
    MERGED = "merged", "Merged"


class Method(models.TextChoices):
    """Why an alert joined (or opened) a group."""

    NEW = "new", "Opened a new group"
    SAME = "same", "Already in the group"
    TOPOLOGY = "topology", "Topology"
    TIME = "time", "Time and attributes"
    TEXT = "text", "Similar text"
    OPERATOR = "operator", "Operator"


class FeedbackKind(models.TextChoices):
    MERGE = "merge", "Merged groups"
    SPLIT = "split", "Split a group"


class RunbookActionKind(models.TextChoices):
    HTTP = "http", "HTTP call"
    COMMAND = "command", "Command from the allow-list"
    STANDARD_CHANGE = "standard_change", "Open a standard change"


class RunState(models.TextChoices):
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    REJECTED = "rejected", "Rejected"
    REFUSED = "refused", "Refused by a guard rail"
    DRY_RUN = "dry_run", "Dry run"
    RUNNING = "running", "Running"
    VERIFYING = "verifying", "Verifying"
    SUCCEEDED = "succeeded", "Succeeded (alert cleared)"
    FAILED = "failed", "Failed"
    ESCALATED = "escalated", "Escalated (alert did not clear)"
