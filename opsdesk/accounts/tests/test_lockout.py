"""Lock-out after repeated failed logins (freezegun is not installed: the lock is moved
into the past instead of moving the clock)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import authenticate
from django.utils import timezone

from opsdesk.accounts.backends import is_locked_out
from opsdesk.accounts.models import User
from opsdesk.core.testing.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _login(email: str, password: str):
    return authenticate(None, username=email, password=password)


def _fail(email: str, times: int) -> None:
    for _ in range(times):
        assert _login(email, "wrong-password") is None


def test_right_password_logs_in(cast):
    assert _login("agent@a.test", PASSWORD) == cast.agent
    assert _login("AGENT@A.TEST", PASSWORD) == cast.agent  # email is case-insensitive


def test_threshold_is_five():
    assert settings.LOCKOUT_THRESHOLD == 5


def test_four_failures_do_not_lock(cast):
    _fail("agent@a.test", settings.LOCKOUT_THRESHOLD - 1)
    assert not is_locked_out("agent@a.test")
    assert _login("agent@a.test", PASSWORD) == cast.agent
    # A success resets the count.
    assert User.objects.get(pk=cast.agent.pk).failed_login_count == 0


def test_five_failures_lock_even_the_right_password(cast):
    _fail("agent@a.test", settings.LOCKOUT_THRESHOLD)
    assert is_locked_out("agent@a.test")
    user = User.objects.get(pk=cast.agent.pk)
    assert user.locked_until > timezone.now() + timedelta(minutes=settings.LOCKOUT_MINUTES - 1)
    assert _login("agent@a.test", PASSWORD) is None
    # Other accounts are not affected.
    assert _login("manager@a.test", PASSWORD) == cast.manager


def test_unlocks_after_the_lockout_time(cast):
    _fail("agent@a.test", settings.LOCKOUT_THRESHOLD)
    assert _login("agent@a.test", PASSWORD) is None
    past = timezone.now() - timedelta(seconds=1)
    User._base_manager.filter(pk=cast.agent.pk).update(locked_until=past)
    assert not is_locked_out("agent@a.test")
    assert _login("agent@a.test", PASSWORD) == cast.agent
    user = User.objects.get(pk=cast.agent.pk)
    assert user.locked_until is None
    assert user.failed_login_count == 0


def test_failures_while_locked_do_not_extend_or_reveal(cast):
    _fail("agent@a.test", settings.LOCKOUT_THRESHOLD)
    locked_until = User.objects.get(pk=cast.agent.pk).locked_until
    _fail("agent@a.test", 3)
    assert User.objects.get(pk=cast.agent.pk).locked_until == locked_until


def test_unknown_email_just_fails(db):
    assert _login("nobody@a.test", "whatever") is None
    assert not is_locked_out("nobody@a.test")


def test_lockout_bookkeeping_is_not_audited(cast):
    from opsdesk.core.models import AuditRecord

    before = AuditRecord.objects.filter(object_type="accounts.user").count()
    _fail("agent@a.test", settings.LOCKOUT_THRESHOLD)
    assert AuditRecord.objects.filter(object_type="accounts.user").count() == before


def test_login_page_refuses_a_locked_account(cast, client):
    _fail("agent@a.test", settings.LOCKOUT_THRESHOLD)
    form = {"username": "agent@a.test", "password": PASSWORD}
    resp = client.post("/login/", form)
    assert resp.status_code == 200  # the form again, with the lock-out message
    assert "locked" in resp.content.decode()
    assert "_auth_user_id" not in client.session
    # The same form logs in once the lock has expired.
    User._base_manager.filter(pk=cast.agent.pk).update(locked_until=timezone.now())
    resp = client.post("/login/", form)
    assert resp.status_code == 302
    assert client.session["_auth_user_id"] == str(cast.agent.pk)
