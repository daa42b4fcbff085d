"""Silences: Alertmanager-style matchers with an expiry that keep matching events from
opening alert groups (they are still stored and counted).

A silence has one or more matchers ``{"name", "op", "value"}`` over an event's labels and
resource attributes (``instance``, ``alertname``, ``host.name``, ``k8s.namespace.name`` ...),
with Alertmanager's semantics:

* ``=`` equal, ``!=`` not equal, ``=~`` regex match, ``!~`` regex non-match;
* regular expressions are fully anchored (``db-.*`` matches ``db-07``, not ``old-db-07``);
* a name the event does not carry has the empty value, so ``team=""`` matches events
  without ``team`` and ``team!=""`` those with one;
* every matcher must match; and a silence must have at least one matcher that does not
  match the empty value, so no silence can mute everything by accident.

Writes (create, expire early) are actions: permission-checked (agents may create and
expire), atomic and audited. Reads are restricted to what the user may view.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from opsdesk.core.actions import require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access
from opsdesk.events.models import Silence

OPS = ("=", "!=", "=~", "!~")
MAX_MATCHERS = 20
MAX_NAME = 200
MAX_VALUE = 1000
MAX_COMMENT = 2000


@lru_cache(maxsize=4096)
def _regex(value: str) -> re.Pattern[str]:
    """The fully anchored pattern of a regex matcher (compiled once per process)."""
    return re.compile(f"(?:{value})\\Z", re.DOTALL)


def matcher_matches(matcher: Mapping[str, str], values: Mapping[str, str]) -> bool:
    name, op, value = matcher["name"], matcher.get("op", "="), matcher.get("value", "")
    actual = values.get(name, "")
    if op == "=":
        return actual == value
    if op == "!=":
        return actual != value
    found = _regex(value).match(actual) is not None
    return found if op == "=~" else not found


def matches(matchers: list[Mapping[str, str]], labels_and_resource: Mapping[str, str]) -> bool:
    """True when every matcher matches (Alertmanager semantics, see the module)."""
    return bool(matchers) and all(matcher_matches(m, labels_and_resource) for m in matchers)


def event_values(labels: Mapping[str, str], resource: Mapping[str, str]) -> dict[str, str]:
    """What matchers see: resource attributes, then labels (a label wins a name clash)."""
    return {**resource, **labels}


def clean_matchers(raw: Any) -> list[dict[str, str]]:
    """Validated matchers ``[{"name", "op", "value"}]``; FieldError names the bad one, e.g.
    ``matchers[1].op``."""
    if not isinstance(raw, list) or not raw:
        raise FieldError({"matchers": "Give at least one matcher {name, op, value}."})
    if len(raw) > MAX_MATCHERS:
        raise FieldError({"matchers": f"At most {MAX_MATCHERS} matchers."})
    errors: dict[str, str] = {}
    out: list[dict[str, str]] = []
    for i, item in enumerate(raw):
        where = f"matchers[{i}]"
        if not isinstance(item, Mapping):
            errors[where] = "A matcher is an object {name, op, value}."
            continue
        unknown = set(item) - {"name", "op", "value"}
        if unknown:
            errors[f"{where}.{sorted(unknown)[0]}"] = "Unknown key; a matcher has name, op, value."
        name, op, value = item.get("name"), item.get("op", "="), item.get("value", "")
        if not isinstance(name, str) or not name.strip():
            errors[f"{where}.name"] = "A label or resource attribute name is required."
        elif len(name) > MAX_NAME:
            errors[f"{where}.name"] = f"At most {MAX_NAME} characters."
        if op not in OPS:
            errors[f"{where}.op"] = f"One of {', '.join(OPS)}."
        if not isinstance(value, str):
            errors[f"{where}.value"] = "The value is a string."
        elif len(value) > MAX_VALUE:
            errors[f"{where}.value"] = f"At most {MAX_VALUE} characters."
        elif op in ("=~", "!~"):
            try:
                _regex(value)
            except re.error as exc:
                errors[f"{where}.value"] = f"Not a valid regular expression: {exc}."
        if not any(k.startswith(where) for k in errors):
            out.append({"name": name.strip(), "op": op, "value": value})
    if errors:
        raise FieldError(errors)
    if all(matcher_matches(m, {}) for m in out):
        raise FieldError(
            {
                "matchers": "At least one matcher must not match the empty value, "
                "else the silence would mute every event."
            }
        )
    return out


@transaction.atomic
def create_silence(
    *,
    acting_user: Any,
    organization: Organization,
    matchers: list[dict[str, str]],
    ends_at: datetime,
    comment: str,
    starts_at: datetime | None = None,
) -> Silence:
    """A silence of `organization` from `starts_at` (now when None) until `ends_at`."""
    require(acting_user, Silence, Action.ADD, organization.pk)
    cleaned = clean_matchers(matchers)
    now = timezone.now()
    starts_at = starts_at or now
    errors: dict[str, str] = {}
    comment = (comment or "").strip()
    if not comment:
        errors["comment"] = "Say why (and for whom) events are silenced."
    elif len(comment) > MAX_COMMENT:
        errors["comment"] = f"At most {MAX_COMMENT} characters."
    if ends_at is None:
        errors["ends_at"] = "A silence needs an end."
    elif ends_at <= starts_at:
        errors["ends_at"] = "The silence must end after it starts."
    elif ends_at <= now:
        errors["ends_at"] = "The silence must end in the future."
    if errors:
        raise FieldError(errors)
    with acting_as(acting_user):
        silence = Silence(
            organization=organization,
            matchers=cleaned,
            starts_at=starts_at,
            ends_at=ends_at,
            comment=comment,
            created_by=acting_user if getattr(acting_user, "pk", None) else None,
        )
        save_validated(silence)
    return silence


@transaction.atomic
def expire_silence(*, acting_user: Any, silence: Silence) -> Silence:
    """End the silence now (a pending one never starts). 409 when it is already over."""
    require(acting_user, Silence, Action.CHANGE, silence.organization_id)
    silence = Silence.objects.select_for_update().get(pk=silence.pk)
    now = timezone.now()
    if silence.expired_early_at is not None or silence.ends_at <= now:
        raise Conflict("This silence has already expired.", field="silence_id")
    with acting_as(acting_user):
        silence.expired_early_at = now
        save_validated(silence)
    return silence


def state_of(silence: Silence, now: datetime | None = None) -> str:
    """``pending`` (starts later), ``active`` or ``expired``."""
    now = now or timezone.now()
    if (silence.expired_early_at or silence.ends_at) <= now:
        return "expired"
    return "active" if silence.starts_at <= now else "pending"


# --- Reads (restricted) -------------------------------------------------------------------


def _live(now: datetime) -> Q:
    """Not over at `now`: neither its end nor an early expiry has passed."""
    return Q(ends_at__gt=now) & (Q(expired_early_at__isnull=True) | Q(expired_early_at__gt=now))


def silences_for(
    user: Any,
    *,
    organization_id: int | None = None,
    state: str | None = None,
    active: bool | None = None,
    action: str = Action.VIEW,
) -> QuerySet[Silence]:
    """The silences `user` may see, optionally of one organisation, in one state
    (``active``, ``pending``, ``expired``) and muting now or not (``active``), newest first."""
    qs = Silence.objects.restrict(user, action).select_related("created_by")
    if organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    now = timezone.now()
    if active is True:
        qs = qs.filter(_live(now), starts_at__lte=now)
    elif active is False:
        qs = qs.exclude(_live(now) & Q(starts_at__lte=now))
    if state == "active":
        qs = qs.filter(_live(now), starts_at__lte=now)
    elif state == "pending":
        qs = qs.filter(_live(now), starts_at__gt=now)
    elif state == "expired":
        qs = qs.exclude(_live(now))
    elif state is not None:
        raise FieldError({"state": "One of active, pending, expired."})
    return qs.order_by("-starts_at", "-id")


def access_silence(user: Any, silence_id: int, action: str = Action.VIEW) -> Silence:
    return access(silences_for(user, action=action), silence_id, "silence")


def active_silences(organization_id: int, start: datetime, end: datetime) -> list[Silence]:
    """The organisation's silences active at some moment of [start, end] (the pipeline's
    read: one query per batch; no user, the pipeline is the system)."""
    return list(
        Silence.objects.filter(organization_id=organization_id, starts_at__lte=end)
        .filter(_live(start))
        .order_by("id")
    )
