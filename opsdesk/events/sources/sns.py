"""Amazon SNS over HTTP(S): message signature verification and subscription confirmation.

A signature is checked as AWS documents it
(https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html): the
canonical string is ``Name\\nvalue\\n`` for the message's fields in a fixed order
(Notification: Message, MessageId, Subject if present, Timestamp, TopicArn, Type;
(Un)SubscriptionConfirmation: Message, MessageId, SubscribeURL, Timestamp, Token, TopicArn,
Type), signed with SHA1withRSA (``SignatureVersion`` 1) or SHA256withRSA (2) by the key of
the certificate at ``SigningCertURL``. Certificates are fetched only from
``https://sns.<region>.amazonaws.com[.cn]/`` and cached per URL.

`fetch` is the one network call (certificates and confirmations); tests replace it.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import urllib.request
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from opsdesk.core.errors import PermissionDenied
from opsdesk.events.sources import PayloadError

SNS_HOST = re.compile(r"^sns\.[a-z]{2}(-[a-z]+)+-\d\.amazonaws\.com(\.cn)?$")
MAX_FETCH = 64 * 1024
FETCH_TIMEOUT = 10
NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}

_cache: dict[str, x509.Certificate] = {}
_cache_lock = threading.Lock()


def fetch(url: str) -> bytes:
    """GET an SNS URL (already checked by `sns_url`); at most 64 KiB."""
    sns_url(url, "url")  # never anywhere but an SNS host
    request = urllib.request.Request(url, headers={"User-Agent": "OpsDesk-SNS/1"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310
        return response.read(MAX_FETCH)


def sns_url(value: Any, where: str) -> str:
    """The URL if it is https on an SNS host (``sns.<region>.amazonaws.com``); else 400."""
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{where}: is required.")
    parts = urlsplit(value)
    host = (parts.hostname or "").lower()
    if (
        parts.scheme != "https"
        or parts.username
        or parts.password
        or parts.port not in (None, 443)
        or not SNS_HOST.match(host)
    ):
        raise PayloadError(f"{where}: must be an https URL on sns.<region>.amazonaws.com.")
    return value


def field(message: dict[str, Any], *names: str) -> str | None:
    """A field under any of its spellings (HTTP: SigningCertURL; Lambda: SigningCertUrl)."""
    for name in names:
        value = message.get(name)
        if value is not None:
            return value if isinstance(value, str) else str(value)
    return None


def canonical(message: dict[str, Any]) -> bytes:
    kind = field(message, "Type") or ""
    names = NOTIFICATION_FIELDS if kind == "Notification" else CONFIRMATION_FIELDS
    out = []
    for name in names:
        value = field(message, name, "SubscribeUrl" if name == "SubscribeURL" else name)
        if value is None:
            if name == "Subject":
                continue
            value = ""
        out.append(f"{name}\n{value}\n")
    return "".join(out).encode()


def certificate(url: str) -> x509.Certificate:
    with _cache_lock:
        cached = _cache.get(url)
    if cached is not None:
        return cached
    try:
        pem = fetch(url)
        cert = x509.load_pem_x509_certificate(pem)
    except Exception as exc:  # network or PEM problems: the message cannot be trusted
        raise PermissionDenied(
            f"SigningCertURL: could not load the signing certificate ({exc.__class__.__name__})."
        ) from None
    with _cache_lock:
        if len(_cache) > 64:
            _cache.clear()
        _cache[url] = cert
    return cert


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def verify(message: dict[str, Any], where: str = "") -> None:
    """Raise `PermissionDenied` unless the message carries a valid SNS signature."""
    prefix = f"{where}." if where else ""
    version = field(message, "SignatureVersion") or ""
    if version not in HASHES:
        raise PermissionDenied(f"{prefix}SignatureVersion: must be 1 or 2, not {version!r}.")
    try:
        url = sns_url(field(message, "SigningCertURL", "SigningCertUrl"), f"{prefix}SigningCertURL")
    except PayloadError as exc:
        raise PermissionDenied(str(exc)) from None
    raw = field(message, "Signature") or ""
    try:
        signature = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise PermissionDenied(f"{prefix}Signature: not base64.") from None
    cert = certificate(url)
    now = datetime.now(UTC)
    if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
        raise PermissionDenied(f"{prefix}SigningCertURL: the certificate is not valid now.")
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise PermissionDenied(f"{prefix}SigningCertURL: not an RSA certificate.")
    try:
        key.verify(signature, canonical(message), padding.PKCS1v15(), HASHES[version]())
    except InvalidSignature:
        raise PermissionDenied(
            f"{prefix}Signature: does not match the message (not signed by Amazon SNS)."
        ) from None


def confirm(url: str) -> None:
    """Visit SubscribeURL, which confirms the subscription at SNS."""
    try:
        fetch(url)
    except Exception as exc:
        raise PayloadError(
            f"SubscribeURL: the confirmation failed ({exc.__class__.__name__}); SNS retries."
        ) from None
