"""Secrets sealed in the database (`opsdesk.core.sealed`): the integrations' HMAC secrets
and runbooks' credentials are stored encrypted, read back in clear, rotated to a new key,
and a lost key fails loudly."""

from __future__ import annotations

import hashlib
import hmac
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from opsdesk.changes.integration_actions import create_integration as create_deployment_hook
from opsdesk.changes.models import DeploymentIntegration
from opsdesk.core import sealed
from opsdesk.core.errors import PermissionDenied
from opsdesk.events.integrations import SIGNATURE_HEADER, check_signature, create_integration
from opsdesk.events.models import EventIntegration, Runbook
from opsdesk.events.tests.runbook_helpers import runbook

CREDENTIAL = "Bearer s3cret-value-42"


def _stored(model: type, pk: int, column: str) -> str:
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {connection.ops.quote_name(column)} FROM {table} WHERE id = %s",
            [pk],
        )
        return str(cursor.fetchone()[0])


def test_seal_and_unseal(settings) -> None:
    one, two = sealed.seal("abc"), sealed.seal("abc")
    assert one.startswith(sealed.PREFIX) and "abc" not in one
    assert one != two  # each sealing differs
    assert sealed.unseal(one) == sealed.unseal(two) == "abc"
    assert sealed.seal("") == ""
    # A value that only looks sealed (typed by someone) is sealed too and reads back as typed.
    lookalike = sealed.PREFIX + "not-a-token"
    assert sealed.unseal(sealed.seal(lookalike)) == lookalike
    assert sealed.unseal("written before sealing") == "written before sealing"


def test_a_new_key_reads_old_values_and_a_lost_key_fails_loudly(settings) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SECRETS_ENCRYPTION_KEYS = [old]
    value = sealed.seal("abc")
    settings.SECRETS_ENCRYPTION_KEYS = [new, old]
    assert sealed.unseal(value) == "abc"
    assert sealed.fernet().decrypt(sealed.seal("x")[len(sealed.PREFIX) :].encode()) == b"x"
    assert Fernet(new.encode()).decrypt(sealed.seal("x")[len(sealed.PREFIX) :].encode())
    settings.SECRETS_ENCRYPTION_KEYS = [new]
    with pytest.raises(sealed.UnsealError, match="SECRETS_ENCRYPTION_KEYS"):
        sealed.unseal(value)


def test_the_secret_key_derives_the_key_and_its_fallbacks_still_open(settings) -> None:
    settings.SECRETS_ENCRYPTION_KEYS = []
    settings.SECRET_KEY = "first-secret-key-" + "x" * 40
    value = sealed.seal("abc")
    settings.SECRET_KEY = "second-secret-key-" + "y" * 40
    with pytest.raises(sealed.UnsealError):
        sealed.unseal(value)
    settings.SECRET_KEY_FALLBACKS = ["first-secret-key-" + "x" * 40]
    assert sealed.unseal(value) == "abc"


@pytest.mark.django_db
def test_integration_secrets_are_stored_sealed_and_still_verify(cast) -> None:
    found, _, secret = create_integration(
        acting_user=cast.manager,
        organization=cast.org_a,
        name="prom",
        source="generic",
        with_secret=True,
    )
    stored = _stored(EventIntegration, found.pk, "secret")
    assert secret and secret not in stored and stored.startswith(sealed.PREFIX)
    fresh = EventIntegration.objects.get(pk=found.pk)
    assert fresh.secret == secret
    body = b'{"title": "x"}'
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    check_signature(fresh, {SIGNATURE_HEADER: signature}, body)
    with pytest.raises(PermissionDenied):
        check_signature(fresh, {SIGNATURE_HEADER: signature + "0"}, body)

    hook, _, hook_secret = create_deployment_hook(
        acting_user=cast.manager,
        organization=cast.org_a,
        name="repo",
        source="github",
        with_secret=True,
    )
    assert hook_secret not in _stored(DeploymentIntegration, hook.pk, "secret")
    assert DeploymentIntegration.objects.get(pk=hook.pk).secret == hook_secret


@pytest.mark.django_db
def test_runbook_credentials_are_stored_sealed(cast) -> None:
    book = runbook(
        cast.manager,
        cast.org_a,
        action={"url": "https://awx.example/launch/", "headers": {"Authorization": CREDENTIAL}},
    )
    stored = _stored(Runbook, book.pk, "secret_headers")
    assert CREDENTIAL not in stored and "s3cret" not in stored
    assert Runbook.objects.get(pk=book.pk).secret_headers == {"Authorization": CREDENTIAL}
    assert Runbook.objects.get(pk=book.pk).sent_action()["headers"]["Authorization"] == (CREDENTIAL)


@pytest.mark.django_db
def test_values_stored_in_clear_are_read_and_resealed(cast, settings) -> None:
    """What the migrations that introduced sealing do to rows written before them, and what
    `opsdesk reseal` does after a new key is put first."""
    found, _, _ = create_integration(
        acting_user=cast.manager, organization=cast.org_a, name="old", source="generic"
    )
    table = connection.ops.quote_name(EventIntegration._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET secret = %s WHERE id = %s", ["plain", found.pk])
    assert EventIntegration.objects.get(pk=found.pk).secret == "plain"
    assert sealed.reseal([EventIntegration]) >= 1
    assert _stored(EventIntegration, found.pk, "secret").startswith(sealed.PREFIX)
    assert EventIntegration.objects.get(pk=found.pk).secret == "plain"

    old = _stored(EventIntegration, found.pk, "secret")
    new_key = Fernet.generate_key().decode()
    settings.SECRETS_ENCRYPTION_KEYS = [new_key, *[k.decode() for k in _derived_keys(settings)]]
    out = StringIO()
    call_command("reseal", stdout=out)
    assert "rows sealed" in out.getvalue()
    rotated = _stored(EventIntegration, found.pk, "secret")
    assert rotated != old
    settings.SECRETS_ENCRYPTION_KEYS = [new_key]  # the old key is gone: still readable
    assert EventIntegration.objects.get(pk=found.pk).secret == "plain"


def _derived_keys(settings) -> list[bytes]:  # type: ignore[no-untyped-def]
    return [sealed._derived(settings.SECRET_KEY)]


@pytest.mark.django_db
def test_a_credential_that_looks_sealed_is_stored_and_read_as_typed(cast) -> None:
    typed = sealed.PREFIX + "garbage"
    book = runbook(
        cast.manager,
        cast.org_a,
        action={"url": "https://awx.example/launch/", "headers": {"Authorization": typed}},
    )
    assert Runbook.objects.get(pk=book.pk).secret_headers == {"Authorization": typed}
