"""Event integrations: create, rotate and disable them (managers and admins), and how an
intake request proves it comes from one.

An integration has its own bearer token (``opsev_...``, sent as ``Authorization: Bearer``, the
password of HTTP basic auth, or ``?token=`` for tools that can only set a URL); only its
SHA-256 hash is stored and the raw token is shown once. With a secret, deliveries must carry
``X-OpsDesk-Signature-256: sha256=<hex HMAC-SHA256 of the body>`` (the generic scheme);
CloudWatch deliveries are verified by their SNS signature instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from opsdesk.accounts.models import hash_token
from opsdesk.changes.integration_actions import check_default_service, set_active, token_from
from opsdesk.changes.integration_actions import new_token as deployment_token
from opsdesk.changes.integration_actions import rotate_token as deployment_rotate
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actions import require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import FieldError, PermissionDenied
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action
from opsdesk.events.choices import Source
from opsdesk.events.models import EventIntegration

TOKEN_PREFIX = "opsev_"
SIGNATURE_HEADER = "x-opsdesk-signature-256"
#: Sources that prove themselves another way than our HMAC header.
SELF_SIGNED = frozenset({Source.CLOUDWATCH})

__all__ = ["create_integration", "find_integration", "rotate_token", "set_active", "token_from"]


def new_token() -> tuple[str, str, str]:
    """(raw token, prefix shown in lists, hash stored): the deployment integrations' scheme."""
    return deployment_token(TOKEN_PREFIX)


@transaction.atomic
def create_integration(
    *,
    acting_user: Any,
    organization: Organization,
    name: str,
    source: str,
    default_service: ConfigurationItem | None = None,
    with_secret: bool = False,
    options: dict[str, Any] | None = None,
    system: str = "",
) -> tuple[EventIntegration, str, str]:
    """A new integration; returns it with its raw token and secret ("" without one), which
    are shown once. ``system`` (with ``acting_user=None``) is the command line or the demo."""
    if not system:
        require(acting_user, EventIntegration, Action.ADD, organization.pk)
    name = (name or "").strip()
    if not name:
        raise FieldError({"name": "Give the integration a name (e.g. prometheus-prod)."})
    if source not in Source.values:
        raise FieldError({"source": f"One of: {', '.join(Source.values)}."})
    if options is not None and not isinstance(options, dict):
        raise FieldError({"options": "Must be a JSON object."})
    check_default_service(organization.pk, default_service)
    if EventIntegration.objects.filter(organization=organization, name=name).exists():
        raise FieldError({"name": f"An integration named {name!r} already exists."})
    raw, prefix, digest = new_token()
    secret = secrets.token_urlsafe(32) if with_secret else ""
    with acting_as(acting_user):
        integration = EventIntegration(
            organization=organization,
            name=name,
            source=source,
            token_hash=digest,
            token_prefix=prefix,
            secret=secret,
            default_service=default_service,
            options=options or {},
        )
        save_validated(integration)
    return integration, raw, secret


def rotate_token(*, acting_user: Any, integration: EventIntegration) -> str:
    """A new ``opsev_`` token (the old one stops working at once); shown once."""
    return deployment_rotate(acting_user=acting_user, integration=integration, prefix=TOKEN_PREFIX)


#: Found integrations, by token hash: (integration, monotonic time it expires). Per process.
_FOUND: dict[str, tuple[EventIntegration, float]] = {}
_FOUND_MAX = 1024


def cache_seconds() -> float:
    """How long a process trusts an integration it has looked up (``EVENTS_TOKEN_CACHE_SECONDS``,
    5 by default; 0 looks it up on every request). Disabling, rotating or deleting an
    integration empties the cache of the process that did it at once and takes effect in
    the other web processes within this time."""
    return float(getattr(settings, "EVENTS_TOKEN_CACHE_SECONDS", 5))


def find_integration(token: str) -> EventIntegration | None:
    """The integration a raw token belongs to (active or not), or None. Kept for
    `cache_seconds` (unknown tokens are not kept: each costs a lookup)."""
    if not token or len(token) > 200:
        return None
    digest = hash_token(token)
    now = time.monotonic()
    found = _FOUND.get(digest)
    if found is not None and found[1] > now:
        return found[0]
    integration = EventIntegration.objects.filter(token_hash=digest).first()
    ttl = cache_seconds()
    if integration is not None and ttl > 0:
        if len(_FOUND) >= _FOUND_MAX:
            _FOUND.clear()
        _FOUND[digest] = (integration, now + ttl)
    return integration


@receiver([post_save, post_delete], sender=EventIntegration)
def forget_integrations(**kwargs: Any) -> None:
    """A changed or deleted integration is looked up again by this process."""
    _FOUND.clear()


def check_signature(integration: EventIntegration, headers: Mapping[str, str], body: bytes) -> None:
    """Refuse (403) a delivery whose HMAC is missing or wrong, for an integration with a
    secret. The comparison takes constant time."""
    if not integration.secret or integration.source in SELF_SIGNED:
        return
    given = headers.get(SIGNATURE_HEADER, "")
    expected = "sha256=" + hmac.new(integration.secret.encode(), body, hashlib.sha256).hexdigest()
    if not given:
        raise PermissionDenied(f"Missing {SIGNATURE_HEADER}: this integration signs deliveries.")
    if not hmac.compare_digest(given.strip(), expected):
        raise PermissionDenied(f"Bad {SIGNATURE_HEADER}: the HMAC of the body does not match.")


def touch(integration: EventIntegration) -> None:
    """Note the last use, at most once a minute (no write per request under load).
    Bookkeeping, not a business change: kept out of the audit trail on purpose."""
    now = timezone.now()
    if integration.last_used_at and (now - integration.last_used_at).total_seconds() < 60:
        return
    EventIntegration._base_manager.filter(pk=integration.pk).update(last_used_at=now)
    integration.last_used_at = now  # the cached instance, for the next minute
