"""Writes of the windows part: create, update and retire maintenance and freeze windows;
the freeze guard on the change workflow; conflicts kept on the change and its timeline.

Hooks registered here (imported through `opsdesk.changes.windows`):

* guard on ``request_authorisation``, ``schedule`` and ``authorise``: a planned window that
  overlaps a freeze is refused, naming ``planned_start`` and the window, unless the change
  is an emergency with a ``freeze_justification``;
* after the same transitions, and after an update of the planned times, CIs or service of a
  live change: ``change.conflicts`` is recomputed and saved, new conflicts go on the
  timeline with their reasons, and the other changes named in them are refreshed too;
* an update that moves an authorised or scheduled change into a freeze is refused the same
  way as the transitions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction

from opsdesk.changes import conflicts as conflict_rules
from opsdesk.changes import hooks, windows
from opsdesk.changes.choices import ACTIVE_STATES, ChangeState, ChangeType, WindowKind
from opsdesk.changes.models import Change, ChangeWindow
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actions import require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action
from opsdesk.servicedesk import timeline
from opsdesk.servicedesk.choices import ActivityKind

WINDOW_FIELDS = ("kind", "name", "description", "starts_at", "ends_at", "rrule", "services")
#: Transitions that put a change on the calendar: checked against freezes.
FREEZE_CHECKED = ("request_authorisation", "schedule", "authorise")
#: States whose planned window already passed the freeze check.
CHECKED_STATES = (ChangeState.AUTHORISE, ChangeState.SCHEDULED)


# --- Windows ----------------------------------------------------------------------------------


def _check_window(window: ChangeWindow, services: list[ConfigurationItem] | None) -> None:
    errors: dict[str, str] = {}
    if window.kind not in WindowKind.values:
        errors["kind"] = f"One of: {', '.join(WindowKind.values)}."
    window.name = (window.name or "").strip()
    if not window.name:
        errors["name"] = "A name is required."
    if window.starts_at is None:
        errors["starts_at"] = "A start is required."
    if window.ends_at is None:
        errors["ends_at"] = "An end is required."
    if window.starts_at and window.ends_at and window.ends_at <= window.starts_at:
        errors["ends_at"] = "The window must end after it starts."
    window.rrule = windows.normalise_rrule(window.rrule)
    if window.rrule and window.starts_at:
        try:
            windows.parse_rrule(window.rrule, window.starts_at.astimezone(windows.zone_of(window)))
        except ValueError as exc:
            errors["rrule"] = str(exc)
    for item in services or []:
        if item.organization_id != window.organization_id:
            errors["service_ids"] = f"{item.name} belongs to another organisation."
            break
        if not item.ci_class.is_service:
            errors["service_ids"] = (
                f"{item.name} is a {item.ci_class.label}, not a business service."
            )
            break
    if errors:
        raise FieldError(errors)


@transaction.atomic
def create_window(
    *,
    acting_user: Any,
    organization: Organization,
    kind: str,
    name: str,
    starts_at: datetime,
    ends_at: datetime,
    rrule: str = "",
    description: str = "",
    services: Iterable[ConfigurationItem] = (),
) -> ChangeWindow:
    """A maintenance or freeze window; with no services it covers the whole organisation."""
    require(acting_user, ChangeWindow, Action.ADD, organization.pk)
    services = list(dict.fromkeys(services))
    window = ChangeWindow(
        organization=organization,
        kind=kind,
        name=name,
        description=description or "",
        starts_at=starts_at,
        ends_at=ends_at,
        rrule=rrule or "",
    )
    _check_window(window, services)
    with acting_as(acting_user):
        save_validated(window)
        window.services.set(services)
    return window


@transaction.atomic
def update_window(*, acting_user: Any, window: ChangeWindow, **changes: Any) -> ChangeWindow:
    """Change any of `WINDOW_FIELDS` (``services`` replaces the list)."""
    require(acting_user, ChangeWindow, Action.CHANGE, window.organization_id)
    unknown = sorted(set(changes) - set(WINDOW_FIELDS))
    if unknown:
        raise FieldError({n: "This field cannot be changed here." for n in unknown})
    if not window.is_active:
        raise Conflict(f"The window {window.name} is retired.", field="is_active")
    services = changes.pop("services", None)
    if services is not None:
        services = list(dict.fromkeys(services))
    for name, value in changes.items():
        setattr(window, name, "" if value is None and name in ("rrule", "description") else value)
    _check_window(window, services)
    with acting_as(acting_user):
        save_validated(window)
        if services is not None:
            window.services.set(services)
    return window


@transaction.atomic
def retire_window(*, acting_user: Any, window: ChangeWindow) -> ChangeWindow:
    """Windows are retired, not deleted: the audit trail and past decisions refer to them."""
    require(acting_user, ChangeWindow, Action.DELETE, window.organization_id)
    if not window.is_active:
        return window
    with acting_as(acting_user):
        window.is_active = False
        window.save(update_fields=["is_active", "updated_at"])
    return window


# --- The freeze guard -------------------------------------------------------------------------


def check_freeze(change: Change) -> None:
    """Refuse a planned window inside a freeze, unless the change is an emergency with a
    freeze justification. Both messages name the window and ``planned_start``."""
    freezes = windows.freezes_for_change(change)
    if not freezes:
        return
    if change.change_type == ChangeType.EMERGENCY and (change.freeze_justification or "").strip():
        return
    first = freezes[0]
    zone = windows.zone_of(change.organization)
    where = (
        f"The planned window (planned_start {windows.describe_span(change.planned_start, change.planned_end, zone)}) "
        f"overlaps the freeze window {first['name']} "
        f"({windows.describe_span(first['starts_at'], first['ends_at'], zone)})"
    )
    if change.change_type == ChangeType.EMERGENCY:
        raise FieldError(
            {
                "planned_start": f"{where}.",
                "freeze_justification": "An emergency change inside a freeze window needs a "
                "freeze justification.",
            },
            detail=f"{where}: give a freeze justification.",
        )
    raise Conflict(
        f"{where}: only an emergency change with a freeze justification may be scheduled "
        "in a freeze.",
        field="planned_start",
    )


@hooks.guard(*FREEZE_CHECKED)
def _freeze_guard(change: Change, name: str, values: dict[str, Any], acting_user: Any) -> None:
    check_freeze(change)


# --- Conflicts kept on the change -------------------------------------------------------------


def _key(item: dict[str, Any]) -> tuple[Any, ...]:
    return (
        item.get("kind"),
        item.get("change_id"),
        item.get("window_id"),
        item.get("ci"),
        item.get("other_ci"),
    )


def refresh_conflicts(
    change: Change, acting_user: Any = None, *, system: str = "", cascade: bool = True
) -> list[dict[str, Any]]:
    """Recompute and store ``change.conflicts``; new ones go on the timeline. With
    `cascade`, the other changes named before or now are refreshed as well (their view of
    this change moved too). Runs inside the caller's transaction."""
    old = list(change.conflicts or [])
    new = conflict_rules.find_conflicts(change)
    if new != old:
        change.conflicts = new
        change.save(update_fields=["conflicts", "updated_at"])
        known = {_key(item) for item in old}
        appeared = [item for item in new if _key(item) not in known]
        if appeared:
            timeline.record(
                change,
                ActivityKind.FIELD,
                actor=acting_user,
                actor_name=system,
                body="\n".join(f"• {item['reason']}" for item in appeared),
                data={
                    "changes": {"conflicts": [len(old), len(new)]},
                    "conflicts": appeared,
                },
            )
    if cascade:
        others = {item["change_id"] for item in old + new if item.get("change_id")}
        for other in Change.objects.filter(pk__in=others, state__in=ACTIVE_STATES):
            refresh_conflicts(other, acting_user, system=system, cascade=False)
    return new


@hooks.after(*FREEZE_CHECKED)
def _conflicts_after(change: Change, name: str, values: dict[str, Any], acting_user: Any) -> None:
    refresh_conflicts(change, acting_user)


@hooks.after("cancel", "complete")
def _release_others(change: Change, name: str, values: dict[str, Any], acting_user: Any) -> None:
    """A change leaving the calendar no longer conflicts: refresh the changes that named it
    (only those planned to overlap it can have)."""
    if change.planned_start is None or change.planned_end is None:
        return
    overlapping = Change.objects.filter(
        organization_id=change.organization_id,
        state__in=ACTIVE_STATES,
        planned_start__lt=change.planned_end,
        planned_end__gt=change.planned_start,
    ).exclude(pk=change.pk)
    for other in overlapping:
        if any(item.get("change_id") == change.pk for item in other.conflicts or []):
            refresh_conflicts(other, acting_user, cascade=False)


@hooks.on_update("planned_start", "planned_end", "cis", "service")
def _conflicts_on_update(change: Change, changed: set[str], acting_user: Any) -> None:
    if change.state not in ACTIVE_STATES:
        return
    if change.state in CHECKED_STATES:
        check_freeze(change)
    refresh_conflicts(change, acting_user)
