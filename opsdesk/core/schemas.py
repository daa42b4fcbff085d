"""API schemas of the core: organisations and audit records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema

from opsdesk.core.api import InSchema


class OrganizationOut(Schema):
    id: int
    name: str
    slug: str
    description: str
    countries: list[str]
    time_zone: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


class OrganizationIn(InSchema):
    name: str = Field(min_length=1, max_length=200)
    slug: str = Field(min_length=1, max_length=60, pattern=r"^[-a-zA-Z0-9_]+$")
    description: str = Field("", max_length=10_000)
    countries: list[str] = Field(default_factory=list, max_length=250)
    time_zone: str = Field("UTC", min_length=1, max_length=64)


class OrganizationPatch(InSchema):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    countries: list[str] | None = Field(None, max_length=250)
    time_zone: str | None = Field(None, min_length=1, max_length=64)


class AuditRecordOut(Schema):
    id: int
    timestamp: datetime
    actor_id: int | None
    actor_email: str
    organization_id: int | None
    request_id: str
    action: str
    object_type: str
    object_id: str
    object_repr: str
    changes: dict[str, Any]
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class HealthOut(Schema):
    status: str
    database: str
    version: str
