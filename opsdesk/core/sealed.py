"""Secrets kept encrypted in the database: the HMAC secrets of event and deployment
integrations and the credentials of runbooks' HTTP actions. They must be read back to be
used (a signature is checked with the secret itself, a header is sent as it is), so they
cannot be hashed like tokens; they are sealed with Fernet (AES-128-CBC with an HMAC-SHA256,
from ``cryptography``) so that a database dump, a backup or a read replica does not give
them away.

Keys: ``SECRETS_ENCRYPTION_KEYS`` (environment, comma-separated Fernet keys: the first
seals, every one unseals, so a new key is put first and the old one kept until the values
are sealed again, `opsdesk reseal`); without it, one key derived from ``SECRET_KEY`` (and
one from each of ``SECRET_KEY_FALLBACKS``, to unseal) with HKDF-SHA256. A stored value is
``sealed:v1:<token>``; a value without the prefix is one written before sealing and is read
as it is (and sealed when it is next saved, or by the migration that introduced sealing).

A sealed value that no key opens raises `UnsealError` (naming the settings): a lost key
fails loudly instead of reading as an empty secret, which for an integration would mean
"no signature required".
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models

PREFIX = "sealed:v1:"
_INFO = b"opsdesk sealed fields v1"


class UnsealError(RuntimeError):
    """A sealed value that none of the configured keys opens."""


def _derived(secret: str) -> bytes:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode())
    return base64.urlsafe_b64encode(key)


@lru_cache(maxsize=8)
def _fernet(explicit: tuple[str, ...], secret_keys: tuple[str, ...]) -> MultiFernet:
    keys = [k.encode() for k in explicit] or [_derived(s) for s in secret_keys]
    return MultiFernet([Fernet(k) for k in keys])


def fernet() -> MultiFernet:
    explicit = tuple(k.strip() for k in getattr(settings, "SECRETS_ENCRYPTION_KEYS", ()) if k)
    secret_keys = (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ()))
    return _fernet(explicit, tuple(secret_keys))


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def seal(text: str) -> str:
    """`text` sealed with the first key (an empty text stays empty: nothing to hide). A text
    that merely looks sealed (a header value someone typed) is sealed too, so it reads back
    as typed instead of failing to open."""
    if not text:
        return text
    return PREFIX + fernet().encrypt(text.encode()).decode()


def unseal(stored: str) -> str:
    """The text of a stored value (a value written before sealing is returned as it is)."""
    if not is_sealed(stored):
        return stored
    try:
        return fernet().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise UnsealError(
            "A sealed secret could not be opened: SECRETS_ENCRYPTION_KEYS (or SECRET_KEY, "
            "when no keys are set) is not the key it was sealed with; put the old key back "
            "(in SECRETS_ENCRYPTION_KEYS after the new one, or in SECRET_KEY_FALLBACKS)."
        ) from exc


class SealedTextField(models.TextField):
    """Text stored sealed, read as plain text. Lookups on it cannot match (each sealing
    differs), so nothing filters by it."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return value if value is None else unseal(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return value if value is None else seal(value)


class SealedJSONField(models.JSONField):
    """A JSON value stored as one sealed JSON string, read back as the value."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        value = super().from_db_value(value, expression, connection)
        if is_sealed(value):
            return json.loads(unseal(value))
        return value

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return value
        if not value:
            return super().get_prep_value(value)  # an empty value stays readable as empty
        return seal(json.dumps(value, sort_keys=True))


def sealed_fields(model: type[models.Model]) -> list[str]:
    return [
        f.attname
        for f in model._meta.concrete_fields
        if isinstance(f, SealedTextField | SealedJSONField)
    ]


def reseal(model_list: list[type[models.Model]]) -> int:
    """Write every stored secret of these models again, sealed with the first key: values
    written before sealing get sealed, values sealed with an older key move to the new one
    (`opsdesk reseal`, the migrations that introduced sealing). Returns the rows written."""
    written = 0
    for model in model_list:
        names = sealed_fields(model)
        if not names:
            continue
        manager = model._base_manager
        for row in manager.only("pk", *names).order_by("pk").iterator():
            manager.filter(pk=row.pk).update(**{n: getattr(row, n) for n in names})
            written += 1
    return written
