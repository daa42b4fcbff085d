"""Volatile-token normalisation and event fingerprints.

Monitoring tools put things in their messages that change from one occurrence to the next
(request ids, IP addresses, numbers, timestamps, durations, e-mail addresses, query
strings). Two events that differ only by those are the same alert, so before an event's text
is compared or hashed each such token is replaced by a placeholder::

    "Request 5f0c6c1e-... from 10.0.4.17 took 5.2s (status 503) at 2026-03-01T10:00:00Z"
    -> "Request <uuid> from <ip> took <duration> (status <num>) at <time>"

Identifiers inside words are left alone (``web-01`` stays ``web-01``: a host name is the
resource, not a volatile token).

The fingerprint of an event is the source's own dedup key when it has one (Alertmanager,
Grafana, Azure's alertId, ...) and otherwise the SHA-256 of its source, normalised title,
identifying resource attributes (sorted) and a few identifying labels (`FINGERPRINT_LABELS`).
Label and resource *values* are not normalised: ``instance=10.0.0.1:9100`` and
``instance=10.0.0.2:9100`` are two targets, so two alerts.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from opsdesk.events.normal import NormalisedEvent

#: The longest fingerprint the Alert table stores; longer source keys are hashed.
FINGERPRINT_MAX = 64

#: Labels that identify what an event is about (the rest, e.g. severity or summary, may
#: change between occurrences of the same alert).
FINGERPRINT_LABELS: tuple[str, ...] = (
    "alertname",
    "job",
    "instance",
    "host",
    "hostname",
    "namespace",
    "pod",
    "container",
    "service",
    "device",
    "mountpoint",
    "check",
    "metric",
)

#: Resource attributes that never identify the resource (they change per process or export).
VOLATILE_RESOURCE = frozenset({"process.pid", "telemetry.sdk.version", "service.instance.id"})
_IDENTIFYING_RESOURCE = re.compile(r"(?:^|\.)(?:name|id|uid|resource_id|namespace|type)$")

# Order matters: the wider patterns (URLs, e-mail, UUIDs, timestamps, IPv6) go first, so
# their digits are not taken as numbers.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # The query string of a URL (the path stays: it tells endpoints apart).
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s?#]+)\?[^\s#]*", re.I), r"\1?<query>"),
    (re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), "<email>"),
    (
        re.compile(
            r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
            re.I,
        ),
        "<uuid>",
    ),
    # ISO 8601 / RFC 3339 and "2026-03-01 10:00:00" timestamps, with fractions and zone.
    (
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
            r"(?:Z|[+-]\d{2}:?\d{2})?)?\b"
        ),
        "<time>",
    ),
    # Clock times on their own (10:00:00, 10:00:00.123).
    (re.compile(r"(?<![\w:])\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?![\w:])"), "<time>"),
    # IPv6 (full or compressed, with an optional %zone), before IPv4: hex groups and at
    # least two colons in one token.
    (
        re.compile(
            r"(?<![\w:.])(?=[0-9a-f:]*:[0-9a-f:]*:)(?=[0-9a-f:]*[0-9a-f])"
            r"[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:%\w+)?(?![\w:.])",
            re.I,
        ),
        "<ip>",
    ),
    # IPv4 with an optional port or prefix length.
    (
        re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?:[:/]\d{1,5})?(?![\w.])"),
        "<ip>",
    ),
    # Hex ids: 0x-prefixed, or 8+ hex digits with at least one digit (git SHAs, container ids).
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<hex>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", re.I), "<hex>"),
    # Durations: 250ms, 5s, 1h30m, 2.5min, 3 days.
    (
        re.compile(
            r"(?<![\w.])\d+(?:\.\d+)?\s?(?:ns|us|µs|ms|s|sec|secs|seconds?|m|min|mins|minutes?"
            r"|h|hr|hrs|hours?|d|days?)(?:\d+(?:\.\d+)?(?:ms|s|m|h))*(?![\w])",
            re.I,
        ),
        "<duration>",
    ),
    # Numbers standing on their own (not inside a word such as web-01 or v2).
    (re.compile(r"(?<![\w.-])[-+]?\d+(?:[.,]\d+)*(?![\w-]|\.\d)"), "<num>"),
    (re.compile(r"(?<=[\s(\[=:])-\d+(?:\.\d+)?(?![\w-])"), "<num>"),
)
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=65536)
def normalise_text(text: str) -> str:
    """`text` with its volatile tokens replaced by placeholders and spaces collapsed."""
    out = text or ""
    for pattern, placeholder in _PATTERNS:
        out = pattern.sub(placeholder, out)
    return _SPACES.sub(" ", out).strip()


def identifying_resource(resource: dict[str, str]) -> list[tuple[str, str]]:
    """The resource attributes that say which resource an event is about, sorted."""
    return sorted(
        (key, value)
        for key, value in resource.items()
        if key not in VOLATILE_RESOURCE and _IDENTIFYING_RESOURCE.search(key)
    )


def computed_fingerprint(event: NormalisedEvent) -> str:
    """SHA-256 (hex) of the event's source, normalised title, identifying resource
    attributes and identifying labels."""
    parts = [
        event.source,
        normalise_text(event.title),
        *(f"r:{k}={v}" for k, v in identifying_resource(event.resource)),
        *(f"l:{k}={event.labels[k]}" for k in FINGERPRINT_LABELS if k in event.labels),
    ]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def fingerprint(event: NormalisedEvent) -> str:
    """The event's dedup key: the source's own (hashed when longer than the column), or
    `computed_fingerprint`."""
    own = (event.fingerprint or "").strip()
    if not own:
        return computed_fingerprint(event)
    if len(own) <= FINGERPRINT_MAX:
        return own
    return hashlib.sha256(f"{event.source}\x1f{own}".encode()).hexdigest()
