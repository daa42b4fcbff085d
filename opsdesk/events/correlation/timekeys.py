"""Group-by keys: the values of the organisation's `CorrelationSettings.group_by` names, read
from the alert's labels, then its resource attributes."""

from __future__ import annotations

from typing import Any


def key_of(group_by: list[str], labels: dict[str, Any], resource: dict[str, Any]) -> str:
    """``alertname=DiskFull|cluster=prod`` when every name has a value, else "" (no key)."""
    if not group_by:
        return ""
    parts = []
    for name in group_by:
        value = labels.get(name)
        if value in (None, ""):
            value = resource.get(name)
        if value in (None, ""):
            return ""
        parts.append(f"{name}={value}")
    return "|".join(parts)[:200]
