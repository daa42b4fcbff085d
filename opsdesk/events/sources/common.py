"""Small helpers the adapters share: JSON decoding and typed field access whose errors name
the field, time parsing, severity mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from opsdesk.events.sources import PayloadError


def load_json(body: bytes) -> Any:
    if not body or not body.strip():
        raise PayloadError("body: empty; send a JSON document.")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"body: not valid JSON ({exc}).") from None


def obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"{where}: must be an object.")
    return value


def array(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise PayloadError(f"{where}: must be an array.")
    return value


def text(value: Any, where: str, required: bool = False) -> str:
    if value is None:
        if required:
            raise PayloadError(f"{where}: is required.")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PayloadError(f"{where}: must be a string.")
    result = str(value)
    if required and not result.strip():
        raise PayloadError(f"{where}: must not be empty.")
    return result


def string_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    data = obj(value, where)
    out: dict[str, str] = {}
    for key, item in data.items():
        if isinstance(item, dict | list):
            raise PayloadError(f"{where}.{key}: must be a string, number or boolean.")
        if item is None:
            continue
        out[str(key)] = item if isinstance(item, str) else json.dumps(item)
    return out


#: Go's zero time, which Alertmanager sends for "no end".
ZERO_TIMES = ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z")


def timestamp(value: Any, where: str) -> datetime | None:
    """ISO 8601 text or epoch seconds / milliseconds; None for empty and Go's zero time."""
    if value in (None, "") or value in ZERO_TIMES:
        return None
    if isinstance(value, bool):
        raise PayloadError(f"{where}: must be a time.")
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 10_000_000_000 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise PayloadError(f"{where}: {value!r} is not a time.") from None
    if not isinstance(value, str):
        raise PayloadError(f"{where}: must be an ISO 8601 time.")
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:
        parsed = None
    if parsed is None:
        raise PayloadError(f"{where}: {value!r} is not an ISO 8601 time.")
    if parsed.year <= 1:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
