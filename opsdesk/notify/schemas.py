"""API schemas of notifications and mail in."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from ninja import Field, Schema

from opsdesk.core.api import InSchema, ObjectId
from opsdesk.notify.choices import (
    Channel,
    Event,
    InboundStatus,
    NotificationStatus,
    TemplateChannel,
    WebhookKind,
)

Name = Annotated[str, Field(min_length=1, max_length=100)]
Url = Annotated[str, Field(min_length=8, max_length=500, description="The incoming-webhook URL")]


class PreferenceOut(Schema):
    event: Event
    label: str
    email: bool
    chat: bool = Field(description="Named in chat posts about this event")


class PreferenceIn(InSchema):
    event: Event
    email: bool | None = None
    chat: bool | None = None


class PreferencesIn(InSchema):
    preferences: list[PreferenceIn] = Field(max_length=50)


class NotificationFilter(Schema):
    organization: ObjectId | None = None
    status: NotificationStatus | None = None
    channel: Channel | None = None
    event: Event | None = None


class NotificationOut(Schema):
    id: int
    organization_id: int
    event: Event
    channel: Channel
    recipient_id: int | None
    recipient: str = Field(alias="recipient_label")
    webhook_id: int | None
    subject: str
    body: str
    subject_type: str
    subject_id: int | None
    message_id: str
    status: NotificationStatus
    attempts: int
    last_error: str
    next_attempt_at: datetime | None
    created_at: datetime
    sent_at: datetime | None


class WebhookFilter(Schema):
    organization: ObjectId | None = None


class WebhookOut(Schema):
    id: int
    organization_id: int
    name: str
    kind: WebhookKind
    url: str = Field(alias="masked_url", description="Masked: the URL is a secret")
    events: list[str]
    team_id: int | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


class WebhookIn(InSchema):
    organization_id: ObjectId
    name: Name
    kind: WebhookKind
    url: Url
    events: list[Event] = Field(default_factory=list, max_length=20)
    team_id: ObjectId | None = None
    is_active: bool = True


class WebhookPatch(InSchema):
    name: Name | None = None
    kind: WebhookKind | None = None
    url: Url | None = None
    events: list[Event] | None = Field(None, max_length=20)
    team_id: ObjectId | None = None
    is_active: bool | None = None


class InboundFilter(Schema):
    organization: ObjectId | None = None
    status: InboundStatus | None = None


class InboundOut(Schema):
    id: int
    organization_id: int | None
    received_at: datetime
    mail_from: str
    rcpt_to: list[str]
    sender: str
    message_id: str
    subject: str
    status: InboundStatus
    reason: str
    error: str
    incident_id: int | None
    created_incident: bool
    processed_at: datetime | None
    size: int


class TemplateFilter(Schema):
    organization: ObjectId | None = None


class TemplateOut(Schema):
    id: int
    organization_id: int | None
    event: Event
    channel: TemplateChannel
    subject: str
    body: str
    updated_at: datetime


class TemplateIn(InSchema):
    organization_id: ObjectId
    event: Event
    channel: TemplateChannel
    subject: str = Field("", max_length=300)
    body: str = Field(min_length=1, max_length=20_000)


class PreviewIn(InSchema):
    subject: str = Field("", max_length=300)
    body: str = Field("", max_length=20_000)


class PreviewOut(Schema):
    subject: str
    body: str
    errors: dict[str, str]
