"""Deployment integrations: create, rotate and disable them (managers and admins), and how a
webhook request proves it comes from one.

An integration has its own bearer token (``opsdi_...``): only its SHA-256 hash is stored,
like personal API tokens, and the raw token is shown once, at creation or rotation. Where
the source signs its deliveries, the integration keeps a secret: GitHub's
``X-Hub-Signature-256`` (HMAC-SHA256 of the body) and the generic
``X-OpsDesk-Signature-256`` (the same scheme) are verified in constant time; GitLab's
``X-Gitlab-Token`` is compared with the secret in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from opsdesk.accounts.models import hash_token
from opsdesk.changes.choices import DeploymentSource
from opsdesk.changes.models import DeploymentIntegration, WebhookDelivery
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actions import require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import FieldError, PermissionDenied
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action

logger = logging.getLogger("opsdesk.changes.deployments")

TOKEN_PREFIX = "opsdi_"
#: How much of a refused body is kept for the admin.
EXCERPT_BYTES = 2048
#: Sources whose deliveries are signed with an HMAC of the body, and the header carrying it.
SIGNATURE_HEADERS = {
    DeploymentSource.GITHUB: "x-hub-signature-256",
    DeploymentSource.GENERIC: "x-opsdesk-signature-256",
}


def new_token(prefix: str = TOKEN_PREFIX) -> tuple[str, str, str]:
    """(raw token, prefix shown in lists, hash stored) of an integration token; event
    integrations use the same scheme with their own prefix."""
    raw = prefix + secrets.token_urlsafe(32)
    return raw, raw[:12], hash_token(raw)


def check_default_service(organization_id: int, service: ConfigurationItem | None) -> None:
    if service is None:
        return
    if service.organization_id != organization_id:
        raise FieldError({"default_service_id": "No service of this organisation has this id."})
    if not service.ci_class.is_service:
        raise FieldError(
            {"default_service_id": f"{service.name} is a {service.ci_class.label}, not a service."}
        )


@transaction.atomic
def create_integration(
    *,
    acting_user: Any,
    organization: Organization,
    name: str,
    source: str,
    default_service: ConfigurationItem | None = None,
    with_secret: bool = False,
    system: str = "",
) -> tuple[DeploymentIntegration, str, str]:
    """A new integration; returns it with its raw token and secret ("" without one), which
    are shown once. ``system`` (with ``acting_user=None``) is the command line."""
    if not system:
        require(acting_user, DeploymentIntegration, Action.ADD, organization.pk)
    name = (name or "").strip()
    if not name:
        raise FieldError({"name": "Give the integration a name (e.g. the repository)."})
    if source not in DeploymentSource.values:
        raise FieldError({"source": f"One of: {', '.join(DeploymentSource.values)}."})
    if DeploymentIntegration.objects.filter(organization=organization, name__iexact=name).exists():
        raise FieldError({"name": f"An integration called {name} already exists."})
    check_default_service(organization.pk, default_service)
    raw, prefix, digest = new_token()
    secret = secrets.token_urlsafe(24) if with_secret else ""
    with acting_as(acting_user):
        integration = DeploymentIntegration(
            organization=organization,
            name=name,
            source=source,
            token_hash=digest,
            token_prefix=prefix,
            secret=secret,
            default_service=default_service,
        )
        save_validated(integration)
    return integration, raw, secret


@transaction.atomic
def rotate_token(*, acting_user: Any, integration: Any, prefix: str = TOKEN_PREFIX) -> str:
    """A new token for the integration (the old one stops working at once); shown once.
    Also serves event integrations (same token columns, their own ``prefix``)."""
    require(acting_user, type(integration), Action.CHANGE, integration.organization_id)
    raw, shown, digest = new_token(prefix)
    with acting_as(acting_user):
        integration.token_hash = digest
        integration.token_prefix = shown
        save_validated(integration)
    return raw


@transaction.atomic
def set_active(*, acting_user: Any, integration: Any, active: bool) -> Any:
    """Disable (or enable again) an integration, deployment or event: a disabled one's
    requests are refused."""
    require(acting_user, type(integration), Action.CHANGE, integration.organization_id)
    if integration.is_active != active:
        with acting_as(acting_user):
            integration.is_active = active
            save_validated(integration)
    return integration


# --- proving a request comes from an integration ------------------------------------------------


def token_from(request: Any) -> str:
    """The integration token of a request: ``Authorization: Bearer``, the password of HTTP
    basic auth (Azure DevOps service hooks), or ``?token=``."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        import base64
        import binascii

        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2]
    return request.GET.get("token", "").strip()


def find_integration(token: str) -> DeploymentIntegration | None:
    """The integration a raw token belongs to (active or not), or None."""
    if not token or len(token) > 200:
        return None
    return (
        DeploymentIntegration.objects.select_related("organization", "default_service")
        .filter(token_hash=hash_token(token))
        .first()
    )


def check_signature(
    integration: DeploymentIntegration, headers: Mapping[str, str], body: bytes
) -> None:
    """Refuse (PermissionDenied, 403) a delivery whose signature or secret token is missing or
    wrong, for an integration that has a secret. Comparisons take constant time."""
    if not integration.secret:
        return
    secret = integration.secret.encode()
    lowered = {k.lower(): v for k, v in headers.items()}
    if integration.source == DeploymentSource.GITLAB:
        given = lowered.get("x-gitlab-token", "")
        if not given:
            raise PermissionDenied("X-Gitlab-Token is missing: set the webhook's secret token.")
        if not hmac.compare_digest(given.encode(), secret):
            raise PermissionDenied("X-Gitlab-Token does not match the integration's secret.")
        return
    header = SIGNATURE_HEADERS.get(integration.source)
    if header is None:
        return
    given = lowered.get(header, "")
    if not given:
        raise PermissionDenied(f"{header} is missing: the delivery must be signed.")
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise PermissionDenied(f"{header} does not match the body signed with the secret.")


def touch(integration: DeploymentIntegration) -> None:
    """Bookkeeping, not a business change: kept out of the audit trail on purpose."""
    now = timezone.now()
    if integration.last_used_at is None or (now - integration.last_used_at).total_seconds() > 60:
        DeploymentIntegration._base_manager.filter(pk=integration.pk).update(last_used_at=now)


def record_refusal(
    *,
    source: str,
    status_code: int,
    reason: str,
    body: bytes,
    integration: DeploymentIntegration | None = None,
    remote_addr: str = "",
) -> WebhookDelivery:
    """Log a refused delivery and keep it (with the first 2 KB of its body) for the admin."""
    logger.warning(
        "deployment webhook refused: source=%s status=%s integration=%s reason=%s",
        source,
        status_code,
        integration.pk if integration else None,
        reason,
    )
    return WebhookDelivery.objects.create(
        organization_id=integration.organization_id if integration else None,
        integration=integration,
        source=source[:40],
        status_code=status_code,
        reason=reason[:2000],
        remote_addr=(remote_addr or "")[:64],
        excerpt=body[:EXCERPT_BYTES].decode("utf-8", errors="replace").replace("\x00", ""),
    )
