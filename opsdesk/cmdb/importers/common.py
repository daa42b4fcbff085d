"""Helpers shared by the importers."""

from __future__ import annotations

import json
from typing import Any

from opsdesk.cmdb.models import CIClass


def report(rows: list[dict[str, Any]], row: Any, field: str, message: str) -> None:
    rows.append({"row": row, "field": field, "message": message})


def load_json(payload: bytes, errors: list[dict[str, Any]]) -> Any:
    """The decoded JSON document, or None after reporting why it is not one."""
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        report(errors, 0, "file", f"Not UTF-8 text (byte {exc.start}).")
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        report(
            errors,
            exc.lineno,
            "file",
            f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).",
        )
        return None


def maybe_json(value: Any) -> Any:
    """AWS returns some nested documents as JSON-encoded strings."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def clean_text(value: Any, limit: int = 500) -> str:
    text = "" if value is None else str(value)
    return text.replace("\x00", "")[:limit]


def attribute_types() -> dict[str, dict[str, str]]:
    """{class key: {attribute: JSON type}} from the class schemas (to coerce text cells)."""
    types: dict[str, dict[str, str]] = {}
    for ci_class in CIClass.objects.only("key", "label", "attribute_schema"):
        props = (ci_class.attribute_schema or {}).get("properties", {})
        mapping = {k: v.get("type", "") for k, v in props.items() if isinstance(v, dict)}
        types[ci_class.key] = mapping
        types[ci_class.label.lower()] = mapping
    return types


def coerce(value: str, json_type: str) -> Any:
    text = value.strip()
    if json_type == "integer":
        try:
            return int(text)
        except ValueError:
            return text
    if json_type == "number":
        try:
            return float(text)
        except ValueError:
            return text
    if json_type == "boolean":
        low = text.lower()
        if low in {"true", "yes", "y", "1"}:
            return True
        if low in {"false", "no", "n", "0"}:
            return False
    return text


def last_segment(value: Any) -> str:
    return str(value or "").rstrip("/").rsplit("/", 1)[-1]
