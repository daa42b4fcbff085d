"""Parsers of CI/CD deployment payloads: one module per source, each turning a payload into
one normalised deployment (a dict with the keys of `FIELDS`), an `Ignored` note for events
that are not deployments (a GitHub ``ping``), or a `PayloadError` naming the field.

The parsers are pure: no database, no request. `opsdesk.changes.deployments` binds the
result to a service or CI and records it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

#: The keys of a normalised deployment.
FIELDS = (
    "external_id",
    "service",
    "ci",
    "environment",
    "version",
    "outcome",
    "partial",
    "started_at",
    "finished_at",
    "repository",
    "commit_sha",
    "pipeline_url",
    "triggered_by",
    "event",
)
#: Deployment outcomes (`opsdesk.changes.choices.DeploymentOutcome` values).
IN_PROGRESS, SUCCESS, FAILURE, CANCELLED = "in_progress", "success", "failure", "cancelled"
FINAL_OUTCOMES = (SUCCESS, FAILURE, CANCELLED)

_HEX = re.compile(r"^[0-9a-fA-F]{7,64}$")


class PayloadError(Exception):
    """The payload is not of the source's shape: `field` is a dotted path into it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class Ignored:
    """An event that is not a deployment, answered 200 with this note."""

    note: str


_MISSING = object()


def dig(payload: Any, path: str, kind: type | tuple[type, ...] = str, required: bool = True) -> Any:
    """The value at dotted `path` of `payload`, of type `kind`; PayloadError naming `path` when
    it is missing (and required) or of another type. Missing optional values are None."""
    node: Any = payload
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            node = _MISSING
            break
        node = node[part]
    if node is _MISSING or node is None:
        if required:
            raise PayloadError(path, "This field is required.")
        return None
    if kind is int and isinstance(node, bool):
        raise PayloadError(path, "Expected a number.")
    if not isinstance(node, kind):
        names = {str: "text", int: "a number", dict: "an object", list: "a list"}
        wanted = names.get(kind, getattr(kind, "__name__", str(kind)))  # type: ignore[call-overload]
        raise PayloadError(path, f"Expected {wanted}.")
    return node


def text(value: Any, limit: int) -> str:
    """`value` as stripped text cut to `limit` characters ("" for None)."""
    if value is None:
        return ""
    return str(value).strip()[:limit]


def when(value: Any, field: str, required: bool = False) -> datetime | None:
    """An ISO 8601 time (or GitLab's ``2021-04-28 21:50:00 +0200``) as an aware datetime."""
    if value in (None, ""):
        if required:
            raise PayloadError(field, "This field is required.")
        return None
    if not isinstance(value, str):
        raise PayloadError(field, "Expected a date and time (ISO 8601).")
    raw = value.strip()
    parsed = None
    try:
        parsed = parse_datetime(raw)
    except ValueError:
        parsed = None
    if parsed is None:
        for fmt in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S %Z"):
            try:
                parsed = datetime.strptime(raw, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        raise PayloadError(field, f"Not a date and time: {raw[:40]!r}.")
    if not 1000 <= parsed.year <= 9998:
        raise PayloadError(field, "The year must lie between 1000 and 9998.")
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=timezone.UTC)
    return parsed


def sha(value: Any) -> str:
    """A commit id if `value` looks like one (hex, 7 to 64 characters), else ""."""
    value = text(value, 64)
    return value if _HEX.match(value) else ""


def normalised(**values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "service": None,
        "ci": None,
        "environment": "",
        "version": "",
        "partial": False,
        "started_at": None,
        "finished_at": None,
        "repository": "",
        "commit_sha": "",
        "pipeline_url": "",
        "triggered_by": "",
        "event": "",
    }
    out.update(values)
    assert set(out) == set(FIELDS), sorted(set(out) ^ set(FIELDS))
    if not out["external_id"]:
        raise PayloadError("external_id", "The payload carries no id of the deployment.")
    if out["pipeline_url"] and not out["pipeline_url"].startswith(("http://", "https://")):
        out["pipeline_url"] = ""
    return out


Parser = Callable[[Mapping[str, Any], Mapping[str, str]], "dict[str, Any] | Ignored"]


def parsers() -> dict[str, Parser]:
    from opsdesk.changes.pipelines import azure_devops, generic, github, gitlab

    return {
        "github": github.parse,
        "gitlab": gitlab.parse,
        "azure-devops": azure_devops.parse,
        "generic": generic.parse,
    }


def parse(source: str, payload: Any, headers: Mapping[str, str] | None = None) -> Any:
    """The normalised deployment of `payload` from `source`, or `Ignored`; PayloadError when
    the payload is not of the source's shape. `headers` are lower-cased header names."""
    if not isinstance(payload, Mapping):
        raise PayloadError("body", "Expected a JSON object.")
    return parsers()[source](payload, {k.lower(): v for k, v in (headers or {}).items()})
