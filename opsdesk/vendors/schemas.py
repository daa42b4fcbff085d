"""API schemas of vendors."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from ninja import Field, Schema

from opsdesk.core.api import InSchema, ObjectId

Name = Annotated[str, Field(min_length=1, max_length=200)]


class VendorFilterIn(Schema):
    organization: ObjectId | None = None
    active: bool | None = None
    q: str | None = Field(None, max_length=200, description="Words of the name")


class VendorOut(Schema):
    id: int
    organization_id: int
    name: str
    website: str
    email: str
    phone: str
    country: str
    notes: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


class _VendorFields(InSchema):
    website: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=50)
    country: str | None = Field(None, max_length=2, description="ISO 3166-1 alpha-2")
    notes: str | None = Field(None, max_length=50_000)
    is_active: bool | None = None


class VendorIn(_VendorFields):
    organization_id: ObjectId
    name: Name


class VendorPatch(_VendorFields):
    name: Name | None = None
