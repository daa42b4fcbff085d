"""API schemas of the CMDB: configuration items, relationships, classes and impact analysis."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from ninja import Field, Schema
from pydantic import AfterValidator

from opsdesk.cmdb.choices import CIStatus, DataClassification, Environment, Propagation
from opsdesk.core.api import InSchema, ObjectId

Tag = Annotated[str, Field(min_length=1, max_length=100)]
Residency = Annotated[str, Field(min_length=1, max_length=10)]
Attributes = Annotated[dict[str, Any], Field(max_length=200)]
ClassKey = Annotated[str, Field(min_length=1, max_length=60)]

_ATTRIBUTE_FILTER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}=.{0,500}$", re.DOTALL)


def _check_attribute_filter(value: str | None) -> str | None:
    if value is not None and (not _ATTRIBUTE_FILTER.match(value) or "__" in value.split("=")[0]):
        raise ValueError("Write key=value, e.g. os=Linux; the key is letters, digits, - and _.")
    return value


# --- Configuration items ---------------------------------------------------------------------------


class CIFilter(Schema):
    organization: ObjectId | None = None
    ci_class: ClassKey | None = Field(None, alias="class", description="CI class key")
    status: CIStatus | None = None
    environment: Environment | None = None
    tag: Tag | None = None
    criticality: int | None = Field(None, ge=1, le=4)
    country: str | None = Field(None, min_length=2, max_length=2)
    owner_team: ObjectId | None = None
    q: str | None = Field(None, max_length=200, description="Text in the name or description")
    attribute: Annotated[str | None, AfterValidator(_check_attribute_filter)] = Field(
        None, description="key=value: a class-specific attribute equals the value"
    )


class CIRef(Schema):
    id: int
    name: str
    ci_class: str = Field(alias="ci_class.key")
    class_label: str = Field(alias="ci_class.label")


class CIOut(Schema):
    id: int
    organization_id: int
    name: str
    ci_class: str = Field(alias="ci_class.key")
    class_label: str = Field(alias="ci_class.label")
    is_service: bool = Field(alias="ci_class.is_service")
    description: str
    status: CIStatus
    environment: Environment
    owner_team_id: int | None
    support_team_id: int | None
    criticality: int | None
    location: str
    country: str
    tags: list[str]
    data_classification: DataClassification
    holds_personal_data: bool
    allowed_residency: list[str]
    attributes: dict[str, Any]
    attribute_sources: dict[str, str]
    created_at: datetime
    updated_at: datetime


class IdentifierOut(Schema):
    kind: str
    value: str


class SourceSeenOut(Schema):
    source: str
    first_seen: datetime
    last_seen: datetime


class CIDetailOut(CIOut):
    identifiers: list[IdentifierOut]
    sources: list[SourceSeenOut] = Field(description="Last seen per discovery source")

    @staticmethod
    def resolve_identifiers(obj: Any) -> list[Any]:
        return sorted(obj.identifiers.all(), key=lambda i: (i.kind, i.value))

    @staticmethod
    def resolve_sources(obj: Any) -> list[Any]:
        return sorted(obj.sources.all(), key=lambda s: s.source)


class _CIFields(InSchema):
    description: str | None = Field(None, max_length=10_000)
    status: CIStatus | None = None
    environment: Environment | None = None
    owner_team_id: ObjectId | None = None
    support_team_id: ObjectId | None = None
    criticality: int | None = Field(None, ge=1, le=4, description="Tier 1 (highest) to 4")
    location: str | None = Field(None, max_length=200)
    country: str | None = Field(None, max_length=2, description="ISO 3166-1 alpha-2")
    tags: list[Tag] | None = Field(None, max_length=100)
    data_classification: DataClassification | None = None
    holds_personal_data: bool | None = None
    allowed_residency: list[Residency] | None = Field(None, max_length=300)


class CIIn(_CIFields):
    organization_id: ObjectId
    ci_class: ClassKey = Field(description="CI class key, e.g. server")
    name: str = Field(min_length=1, max_length=255)
    attributes: Attributes = Field(default_factory=dict)


class CIPatch(_CIFields):
    name: str | None = Field(None, min_length=1, max_length=255)
    attributes: Attributes | None = Field(
        None,
        description="Merged into the CI's attributes; an attribute set to null is removed.",
    )


# --- Relationships ----------------------------------------------------------------------------------


class RelationshipIn(InSchema):
    source_id: ObjectId
    type: str = Field(min_length=1, max_length=60, description="Relationship type key")
    target_id: ObjectId
    discovered_by: str = Field("", max_length=100)


class RelationshipOut(Schema):
    id: int
    organization_id: int
    source_id: int
    type: str = Field(alias="type.key")
    label: str = Field(alias="type.label")
    target_id: int
    discovered_by: str
    created_at: datetime


class CIRelationshipOut(Schema):
    """A relationship seen from one CI: ``<ci> <label> <other>``."""

    id: int
    direction: str = Field(description="outgoing: this CI is the source; incoming: the target")
    type: str
    label: str = Field(description="Read from this CI: runs on, or runs (reverse label)")
    type_label: str
    reverse_label: str
    propagation: Propagation
    other: CIRef
    discovered_by: str
    created_at: datetime


class RelationshipTypeOut(Schema):
    key: str
    label: str
    reverse_label: str
    propagation: Propagation
    builtin: bool


# --- Classes ---------------------------------------------------------------------------------------


class CIClassOut(Schema):
    key: str
    label: str
    category: str
    description: str
    attribute_schema: dict[str, Any]
    identifiers: list[str]
    source_precedence: list[str]
    is_service: bool
    builtin: bool


class CIClassPatch(InSchema):
    label: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=10_000)
    attribute_schema: dict[str, Any] | None = Field(
        None, max_length=50, description="A JSON Schema of an object"
    )
    identifiers: list[Annotated[str, Field(min_length=1, max_length=80)]] | None = Field(
        None, max_length=20
    )
    source_precedence: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        None, max_length=50
    )
    is_service: bool | None = None


# --- Impact ----------------------------------------------------------------------------------------


class ImpactCI(Schema):
    id: int
    name: str
    status: str
    environment: str
    criticality: int | None
    ci_class: str
    class_label: str
    is_service: bool


class ImpactNode(ImpactCI):
    depth: int
    via: int | None = Field(description="The CI it was reached from")
    relationship: str | None = Field(description="The relationship type of that step")


class ImpactService(ImpactCI):
    depth: int
    path: list[int] = Field(description="CI ids from the failing CI to the service")
    path_names: list[str]


class BlastRadius(Schema):
    cis: int
    services: int
    by_criticality: dict[str, int]
    highest_criticality: int | None


class ImpactEdge(Schema):
    source: int
    target: int
    type: str


class ImpactOut(Schema):
    ci: ImpactCI
    depth: int
    upstream: list[ImpactNode]
    downstream: list[ImpactNode]
    services: list[ImpactService]
    blast_radius: BlastRadius
    edges: list[ImpactEdge]
    truncated: bool
