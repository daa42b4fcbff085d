"""Email login with lock-out after repeated failures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest
from django.utils import timezone

from opsdesk.accounts.models import User


class EmailLockoutBackend(ModelBackend):
    """Authenticate by email; after LOCKOUT_THRESHOLD failures the account is locked for
    LOCKOUT_MINUTES, and even the right password is refused until then."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        email = username or kwargs.get("email")
        if not email or password is None:
            return None
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            User().set_password(password)  # same work as a real check: no timing oracle
            return None
        if user.is_locked():
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            if user.failed_login_count or user.locked_until:
                user.failed_login_count = 0
                user.locked_until = None
                user.save(update_fields=["failed_login_count", "locked_until"])
            return user
        register_failed_login(user)
        return None


def register_failed_login(user: User) -> None:
    user.failed_login_count += 1
    fields = ["failed_login_count"]
    if user.failed_login_count >= settings.LOCKOUT_THRESHOLD:
        user.locked_until = timezone.now() + timedelta(minutes=settings.LOCKOUT_MINUTES)
        user.failed_login_count = 0
        fields.append("locked_until")
    user.save(update_fields=fields)


def is_locked_out(email: str) -> bool:
    user = User.objects.filter(email__iexact=(email or "").strip()).first()
    return bool(user and user.is_locked())
