"""JSON shapes of service-level reports (compliance, MTTA/MTTR and the customer report)."""

from datetime import date, datetime
from typing import Any

from ninja import Schema


class ComplianceRowOut(Schema):
    key: Any = None
    label: str
    met: int
    breached: int
    total: int
    compliance: float | None = None


class ComplianceOut(Schema):
    organization_id: int
    start: datetime
    end: datetime
    group_by: str
    kind: str | None = None
    metric: str
    rows: list[ComplianceRowOut]


class BucketOut(Schema):
    bucket: str
    count: int


class DistributionOut(Schema):
    count: int
    mean_seconds: float | None = None
    median_seconds: float | None = None
    p90_seconds: float | None = None
    histogram: list[BucketOut]


class PriorityDistributionOut(DistributionOut):
    priority: int
    label: str


class DurationsOut(Schema):
    name: str
    basis: str
    overall: DistributionOut
    by_priority: list[PriorityDistributionOut]


class MttrOut(Schema):
    organization_id: int
    start: datetime
    end: datetime
    priority: int | None = None
    mtta: list[DurationsOut]
    mttr: list[DurationsOut]


class PeriodOut(Schema):
    first: date
    last: date
    start: datetime
    end: datetime
    time_zone: str
    label: str


class DefinitionRefOut(Schema):
    id: int
    name: str
    kind: str
    kind_label: str
    party: str
    is_active: bool
    response_minutes: dict[str, Any]
    resolution_minutes: dict[str, Any]


class KindComplianceOut(Schema):
    kind: str
    label: str
    resolution: ComplianceRowOut
    response: ComplianceRowOut


class TrendPointOut(Schema):
    month: str
    label: str
    sla: ComplianceRowOut
    ola: ComplianceRowOut
    uc: ComplianceRowOut


class BreachOut(Schema):
    clock_id: int
    incident_id: int
    number: str
    definition: str
    kind: str
    metric: str
    service: str
    priority: int
    team: str
    supplier: str
    target_seconds: int
    elapsed_seconds: int
    over_seconds: int
    over_percent: float | None = None
    stopped_at: datetime | None = None
    breached_at: datetime | None = None
    held_by: list[str]
    why: str = ""


class ReportOut(Schema):
    organization_id: int
    organization: str
    period: PeriodOut
    definitions: list[DefinitionRefOut]
    overall: ComplianceRowOut
    kinds: list[KindComplianceOut]
    by_service: list[ComplianceRowOut]
    by_priority: list[ComplianceRowOut]
    by_team: list[ComplianceRowOut]
    by_supplier: list[ComplianceRowOut]
    by_definition: list[ComplianceRowOut]
    trend: list[TrendPointOut]
    breach_count: int
    breaches: list[BreachOut]
    mtta: list[DurationsOut]
    mttr: list[DurationsOut]
