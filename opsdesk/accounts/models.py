"""People, their roles per organisation, teams (assignment groups) and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from opsdesk.core.models import (
    ChangeLogged,
    ChangeLoggedQuerySet,
    Organization,
    TenantOwned,
    validate_time_zone,
)
from opsdesk.core.permissions import Action, Role, organizations_for


class UserQuerySet(ChangeLoggedQuerySet):
    def restrict(self, user: Any, action: str = Action.VIEW) -> UserQuerySet:
        """People who share an organisation in which `user` may do `action` on users."""
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        org_ids = organizations_for(user, User, action)
        if not org_ids:
            return self.none()
        return self.filter(memberships__organization_id__in=org_ids).distinct()


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("Users need an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save()
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=username)


class User(ChangeLogged, AbstractBaseUser, PermissionsMixin):
    """Someone who logs in with their email address."""

    email = models.EmailField(max_length=254, unique=True)
    full_name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May use the Django admin.")
    time_zone = models.CharField(max_length=64, blank=True, validators=[validate_time_zone])
    failed_login_count = models.PositiveIntegerField(default=0, editable=False)
    locked_until = models.DateTimeField(null=True, blank=True, editable=False)

    objects = UserManager()
    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["full_name"]

    audit_exclude: ClassVar[frozenset[str]] = frozenset(
        {"updated_at", "last_login", "failed_login_count", "locked_until"}
    )
    audit_redact: ClassVar[frozenset[str]] = frozenset({"password"})
    role_actions: ClassVar[dict[str, frozenset[str]]] = {
        Role.AGENT: frozenset({Action.VIEW}),
        Role.MANAGER: frozenset({Action.VIEW}),
        Role.AUDITOR: frozenset({Action.VIEW}),
        Role.ADMIN: frozenset({Action.VIEW, Action.ADD, Action.CHANGE}),
    }

    class Meta:
        ordering = ["full_name", "email"]
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.full_name or self.email

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email

    def is_locked(self) -> bool:
        return self.locked_until is not None and self.locked_until > timezone.now()


class Membership(ChangeLogged):
    """A user's role in one organisation."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices)

    role_actions: ClassVar[dict[str, frozenset[str]]] = {
        Role.AGENT: frozenset({Action.VIEW}),
        Role.MANAGER: frozenset({Action.VIEW}),
        Role.AUDITOR: frozenset({Action.VIEW}),
        Role.ADMIN: frozenset({Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE}),
    }

    class Meta:
        ordering = ["organization__name", "user__email"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="one_membership_per_org")
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} in {self.organization}"


class Team(TenantOwned, ChangeLogged):
    """An assignment group: the people a ticket can be routed to."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100)
    description = models.TextField(blank=True)
    email = models.EmailField(blank=True)
    manager = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="managed_teams"
    )
    members = models.ManyToManyField(User, blank=True, related_name="teams")

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = {
        Role.AGENT: frozenset({Action.VIEW}),
        Role.MANAGER: frozenset({Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE}),
        Role.AUDITOR: frozenset({Action.VIEW}),
        Role.ADMIN: frozenset({Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE}),
    }

    class Meta:
        ordering = ["organization__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "slug"], name="team_slug_per_org"),
            models.UniqueConstraint(fields=["organization", "name"], name="team_name_per_org"),
        ]

    def __str__(self) -> str:
        return self.name


TOKEN_PREFIX = "opsd_"


def hash_token(raw: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast hash is safe and keeps auth cheap.
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(ChangeLoggedQuerySet):
    def restrict(self, user: Any, action: str = Action.VIEW) -> ApiTokenQuerySet:
        """Tokens are personal: each user sees only their own."""
        if user is None or not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(user_id=user.pk)

    def usable(self) -> ApiTokenQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True, user__is_active=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(ChangeLogged):
    """A bearer token for the API; only its hash is stored, the secret is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_prefix = models.CharField(max_length=16, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()
    audit_exclude: ClassVar[frozenset[str]] = frozenset({"updated_at", "last_used_at", "key_hash"})

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @staticmethod
    def generate() -> tuple[str, str, str]:
        """(raw token, prefix, hash)."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        return raw, raw[: len(TOKEN_PREFIX) + 8], hash_token(raw)

    @staticmethod
    def default_expiry() -> Any:
        return timezone.now() + timedelta(days=settings.API_TOKEN_DEFAULT_DAYS)

    @property
    def is_usable(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    def audit_organization_id(self) -> None:
        return None
