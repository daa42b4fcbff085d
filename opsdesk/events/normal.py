"""The one normalised event every source adapter produces.

Resource attributes use OpenTelemetry semantic-convention names (``host.name``,
``service.name``, ``k8s.pod.uid``, ``cloud.resource_id``, ``cloud.provider``,
``cloud.region``, ``k8s.namespace.name``, ...); labels keep the source's own key/value pairs.
The fingerprint is the source's own when it has one (Alertmanager, Grafana), otherwise the
dedup stage derives it from the normalised text and resource.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from opsdesk.events.choices import EventStatus, Severity

TITLE_MAX = 500
DESCRIPTION_MAX = 10_000
#: Django rebuilds ``TextChoices.values`` on every call: these are checked per event.
STATUSES = frozenset(EventStatus.values)
SEVERITIES = frozenset(Severity.values)


@dataclass
class NormalisedEvent:
    source: str
    status: str  # EventStatus
    severity: str  # Severity
    title: str
    description: str = ""
    external_id: str = ""
    #: The source's own dedup key when it has one; else the dedup stage computes one.
    fingerprint: str = ""
    resource: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    received_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {EventStatus.values}, not {self.status!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {Severity.values}, not {self.severity!r}")
        self.title = (self.title or "").strip()[:TITLE_MAX] or "(no title)"
        self.description = (self.description or "")[:DESCRIPTION_MAX]
        self.external_id = str(self.external_id or "")[:500]
        self.resource = {
            str(k): _text(v) for k, v in (self.resource or {}).items() if v not in (None, "")
        }
        self.labels = {str(k): _text(v) for k, v in (self.labels or {}).items() if v is not None}

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("starts_at", "ends_at", "received_at"):
            value = data[key]
            data[key] = value.isoformat() if value else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NormalisedEvent:
        values = dict(data)
        for key in ("starts_at", "ends_at", "received_at"):
            raw = values.get(key)
            values[key] = parse_datetime(raw) if isinstance(raw, str) else raw
        return cls(**values)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)
