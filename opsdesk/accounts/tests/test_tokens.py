"""API tokens: hashed at rest, shown once, expiry, revocation, last use; argon2 passwords."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.hashers import get_hasher
from django.db import connection
from django.utils import timezone

from opsdesk.accounts.models import ApiToken, hash_token
from opsdesk.core.testing.api import ApiClient, assert_error

pytestmark = pytest.mark.django_db


def _create(client, user, **body):
    resp = ApiClient(client, user).post("/tokens", {"name": "laptop", **body})
    assert resp.status_code == 201, resp.content
    return resp.json()


def _db_dump() -> str:
    """Every column of every token row, as the database holds it."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ApiToken._meta.db_table}")
        return repr(cursor.fetchall())


def test_token_is_hashed_at_rest_and_shown_once(cast, client):
    created = _create(client, cast.agent)
    raw = created["token"]
    assert raw.startswith("opsd_")
    assert len(raw) > 40
    dump = _db_dump()
    assert raw not in dump
    assert raw[len(created["key_prefix"]) :] not in dump
    token = ApiToken.objects.get(pk=created["id"])
    assert token.key_hash == hash_token(raw)
    assert raw.startswith(token.key_prefix)
    # Never shown again: not in the list, not in a revoke answer.
    api = ApiClient(client, cast.agent)
    listed = api.get("/tokens").json()["items"]
    assert created["id"] in [t["id"] for t in listed]
    assert all("token" not in t and "key_hash" not in t for t in listed)
    assert raw not in api.get("/tokens").content.decode()


def test_new_token_works_and_default_expiry_applies(cast, client):
    created = _create(client, cast.agent)
    me = ApiClient(client, token=created["token"]).get("/me")
    assert me.status_code == 200
    assert me.json()["email"] == "agent@a.test"
    token = ApiToken.objects.get(pk=created["id"])
    expected = timezone.now() + timedelta(days=settings.API_TOKEN_DEFAULT_DAYS)
    assert abs((token.expires_at - expected).total_seconds()) < 3600


def test_expired_token_gets_401(cast, client):
    created = _create(client, cast.agent)
    ApiToken._base_manager.filter(pk=created["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert_error(ApiClient(client, token=created["token"]).get("/me"), 401)


def test_explicit_expiry_is_kept(cast, client):
    when = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    created = _create(client, cast.agent, expires_at=when.isoformat())
    assert ApiToken.objects.get(pk=created["id"]).expires_at == when


def test_revoked_token_gets_401(cast, client):
    created = _create(client, cast.agent)
    other = ApiClient(client, cast.agent)
    resp = other.delete(f"/tokens/{created['id']}")
    assert resp.status_code == 200
    assert resp.json()["revoked_at"] is not None
    assert_error(ApiClient(client, token=created["token"]).get("/me"), 401)
    # Revoking again is harmless and keeps the first time.
    again = other.delete(f"/tokens/{created['id']}")
    assert again.json()["revoked_at"] == resp.json()["revoked_at"]


def test_a_token_can_revoke_itself(cast, client):
    created = _create(client, cast.agent)
    api = ApiClient(client, token=created["token"])
    assert api.delete(f"/tokens/{created['id']}").status_code == 200
    assert_error(api.get("/me"), 401)


def test_last_used_at_is_updated(cast, client):
    created = _create(client, cast.agent)
    assert ApiToken.objects.get(pk=created["id"]).last_used_at is None
    ApiClient(client, token=created["token"]).get("/me")
    first = ApiToken.objects.get(pk=created["id"]).last_used_at
    assert first is not None
    # Written at most once a minute: move it back and use the token again.
    ApiToken._base_manager.filter(pk=created["id"]).update(
        last_used_at=timezone.now() - timedelta(hours=1)
    )
    ApiClient(client, token=created["token"]).get("/me")
    assert ApiToken.objects.get(pk=created["id"]).last_used_at > first - timedelta(seconds=1)


def test_tokens_of_another_user_are_404(cast, client):
    theirs = _create(client, cast.manager)
    api = ApiClient(client, cast.agent)
    assert_error(api.delete(f"/tokens/{theirs['id']}"), 404)
    assert theirs["id"] not in [t["id"] for t in api.get("/tokens").json()["items"]]
    assert ApiToken.objects.get(pk=theirs["id"]).revoked_at is None
    # Even an admin of the same organisation cannot revoke someone else's token.
    assert_error(ApiClient(client, cast.admin).delete(f"/tokens/{theirs['id']}"), 404)


def test_token_of_inactive_user_gets_401(cast, client):
    created = _create(client, cast.agent)
    user = type(cast.agent)._base_manager.get(pk=cast.agent.pk)
    type(cast.agent)._base_manager.filter(pk=user.pk).update(is_active=False)
    assert_error(ApiClient(client, token=created["token"]).get("/me"), 401)


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Basic abc", "Bearer opsd_" + "x" * 300, "bearer opsd_wrong"],
)
def test_malformed_authorization_gets_401(cast, client, header):
    assert_error(client.get("/api/v1/me", HTTP_AUTHORIZATION=header), 401)


def test_argon2_is_the_password_hasher(cast):
    assert settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    assert get_hasher().algorithm == "argon2"
    cast.agent.set_password("a-new-Passw0rd!")
    assert cast.agent.password.startswith("argon2$")
    assert cast.agent.check_password("a-new-Passw0rd!")
