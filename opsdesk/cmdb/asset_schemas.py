"""API schemas of assets, licences, installations, the licence position, expiring items and
CMDB health."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from ninja import Field, Schema

from opsdesk.cmdb.choices import AssetLifecycle, LicenceMetric
from opsdesk.core.api import InSchema, ObjectId


class AssetOut(Schema):
    id: int
    organization_id: int
    number: str
    name: str
    serial_number: str
    model: str
    vendor: str
    purchase_date: date | None
    cost: Decimal | None
    currency: str
    warranty_end: date | None
    assigned_user_id: int | None
    location: str
    country: str
    lifecycle: AssetLifecycle
    ci_id: int | None
    ci_name: str | None = Field(None, alias="ci.name")
    disposed_on: date | None
    disposal_method: str
    disposal_reference: str
    notes: str
    allowed_transitions: list[AssetLifecycle]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_allowed_transitions(obj: object) -> list[str]:
        from opsdesk.cmdb.asset_workflows import allowed_transitions

        return allowed_transitions(obj.lifecycle)  # type: ignore[attr-defined]


COST = Field(None, ge=0, max_digits=14, decimal_places=2)
CURRENCY = Field(None, min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")
COUNTRY = Field(None, max_length=2)


class AssetIn(InSchema):
    organization_id: ObjectId
    name: str = Field(min_length=1, max_length=200)
    serial_number: str = Field("", max_length=100)
    model: str = Field("", max_length=200)
    vendor: str = Field("", max_length=200)
    purchase_date: date | None = None
    cost: Decimal | None = COST
    currency: str = Field("USD", min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")
    warranty_end: date | None = None
    assigned_user_id: ObjectId | None = None
    location: str = Field("", max_length=200)
    country: str = Field("", max_length=2)
    lifecycle: AssetLifecycle = AssetLifecycle.IN_USE
    ci_id: ObjectId | None = None
    notes: str = Field("", max_length=10_000)


class AssetPatch(InSchema):
    name: str | None = Field(None, min_length=1, max_length=200)
    serial_number: str | None = Field(None, max_length=100)
    model: str | None = Field(None, max_length=200)
    vendor: str | None = Field(None, max_length=200)
    purchase_date: date | None = None
    cost: Decimal | None = COST
    currency: str | None = CURRENCY
    warranty_end: date | None = None
    assigned_user_id: ObjectId | None = None
    location: str | None = Field(None, max_length=200)
    country: str | None = COUNTRY
    ci_id: ObjectId | None = None
    notes: str | None = Field(None, max_length=10_000)


class LifecycleIn(InSchema):
    lifecycle: AssetLifecycle
    disposed_on: date | None = None
    disposal_method: str = Field("", max_length=100)
    disposal_reference: str = Field("", max_length=200)


class LicenceOut(Schema):
    id: int
    organization_id: int
    number: str
    product: str
    publisher: str
    metric: LicenceMetric
    entitlements: int
    cost: Decimal | None
    currency: str
    renewal_date: date | None
    contract_reference: str
    notes: str
    created_at: datetime
    updated_at: datetime


ENTITLEMENTS = Field(ge=0, le=2_000_000_000)


class LicenceIn(InSchema):
    organization_id: ObjectId
    product: str = Field(min_length=1, max_length=200)
    publisher: str = Field(min_length=1, max_length=200)
    metric: LicenceMetric
    entitlements: int = ENTITLEMENTS
    cost: Decimal | None = COST
    currency: str = Field("USD", min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")
    renewal_date: date | None = None
    contract_reference: str = Field("", max_length=200)
    notes: str = Field("", max_length=10_000)


class LicencePatch(InSchema):
    product: str | None = Field(None, min_length=1, max_length=200)
    publisher: str | None = Field(None, min_length=1, max_length=200)
    metric: LicenceMetric | None = None
    entitlements: int | None = Field(None, ge=0, le=2_000_000_000)
    cost: Decimal | None = COST
    currency: str | None = CURRENCY
    renewal_date: date | None = None
    contract_reference: str | None = Field(None, max_length=200)
    notes: str | None = Field(None, max_length=10_000)


class InstallationOut(Schema):
    id: int
    organization_id: int
    ci_id: int
    ci_name: str = Field(alias="ci.name")
    publisher: str
    product: str
    version: str
    user_id: int | None
    source: str
    last_seen: datetime


class InstallationIn(InSchema):
    ci_id: ObjectId
    publisher: str = Field(min_length=1, max_length=200)
    product: str = Field(min_length=1, max_length=200)
    version: str = Field("", max_length=100)
    user_id: ObjectId | None = None
    source: str = Field("", max_length=100)


class CIRef(Schema):
    id: int
    name: str


class UnlicensedOut(Schema):
    organization_id: int
    publisher: str
    product: str
    installations: int
    devices: int


class PositionOut(Schema):
    organization_id: int
    publisher: str
    product: str
    metric: LicenceMetric
    licence_ids: list[int]
    entitlements: int
    consumption: int
    position: int = Field(description="Entitlements minus consumption; negative is a shortfall.")
    shortfall: int
    unused: int
    status: str = Field(description="compliant, under_licensed or over_licensed")
    installations: int
    devices: int
    users: int
    installations_without_user: int
    cis_missing_cores: list[CIRef]
    consumption_complete: bool
    currency: str
    total_cost: Decimal | None
    cost_per_entitlement: Decimal | None
    unused_cost: Decimal | None
    shortfall_cost: Decimal | None


class ExpiringOut(Schema):
    kind: str = Field(description="warranty (hardware asset) or renewal (software licence)")
    id: int
    organization_id: int
    number: str
    name: str
    detail: str
    ends_on: date
    days_left: int
    expired: bool
    window: str = Field(description="expired, 30, 60 or 90")
    cost: Decimal | None
    currency: str


class OffenderOut(Schema):
    id: int
    name: str
    ci_class: str = Field(alias="ci_class__key")


class RuleResultOut(Schema):
    rule_id: int
    name: str
    check_kind: str
    target: str
    ci_class: str | None
    environment: str
    applicable: int
    passing: int
    failing: int
    score: float | None
    offenders: list[OffenderOut]
    error: str


class ClassScoreOut(Schema):
    key: str
    label: str
    checks: int
    passing: int
    failing: int
    score: float | None


class HealthOut(Schema):
    organization_id: int
    score: float | None = Field(description="Percentage of passing checks; null without checks.")
    checks: int
    passing: int
    failing: int
    classes: list[ClassScoreOut]
    rules: list[RuleResultOut]
