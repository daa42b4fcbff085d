"""Maintenance and freeze windows: when changes belong, and when they are refused.

A `ChangeWindow` covers the whole organisation (no services) or the changes whose service,
or whose CIs through the CMDB (`opsdesk.cmdb.impact.upstream_services`), reach one of its
services. A recurring window repeats from `starts_at` by its RFC 5545 `rrule`, expanded in
the organisation's time zone: "every Sunday 02:00-06:00" stays 02:00-06:00 local time across
daylight-saving changes.

These are the reads other parts call (risk, deployments' gate, conflicts); the writes are in
`opsdesk.changes.window_actions`, which also registers the workflow hooks (the freeze guard
and the conflict refresh).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from dateutil.rrule import rrule as RRule
from dateutil.rrule import rrulestr

from opsdesk.changes.choices import WindowKind
from opsdesk.changes.models import Change, ChangeWindow
from opsdesk.cmdb.impact import upstream_services
from opsdesk.cmdb.models import ConfigurationItem

#: No expansion yields more occurrences than this (a calendar year of daily windows fits).
MAX_OCCURRENCES = 1000
#: Nor walks more rule steps than this from the window's first start.
MAX_STEPS = 20000
#: Repeating more often than daily is refused: a window is hours long, not minutes.
ALLOWED_FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
#: How far up the CMDB a changed CI is followed to the services it can take down.
SERVICE_DEPTH = 6


def zone_of(window_or_org: Any) -> zoneinfo.ZoneInfo:
    """The organisation's time zone (UTC when unset or unknown)."""
    org = getattr(window_or_org, "organization", window_or_org)
    try:
        return zoneinfo.ZoneInfo(getattr(org, "time_zone", "") or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def parse_rrule(text: str, dtstart: datetime) -> RRule:
    """The rule of `text` starting at `dtstart` (aware, local); ValueError says what is wrong."""
    text = (text or "").strip()
    body = text[6:] if text.upper().startswith("RRULE:") else text
    if not body:
        raise ValueError("The rule is empty.")
    if "\n" in body or "DTSTART" in body.upper():
        raise ValueError("Give one RRULE without DTSTART: the window's start is its start.")
    parts = dict(
        part.split("=", 1) if "=" in part else (part, "") for part in body.upper().split(";")
    )
    freq = parts.get("FREQ", "")
    if freq not in ALLOWED_FREQS:
        raise ValueError(f"FREQ must be one of {', '.join(ALLOWED_FREQS)}.")
    try:
        rule = rrulestr(body, dtstart=dtstart)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ValueError(f"Not a valid RFC 5545 rule: {exc}.") from None
    if not isinstance(rule, RRule):
        raise ValueError("Give one RRULE.")
    return rule


def normalise_rrule(text: str) -> str:
    text = (text or "").strip()
    return text[6:].strip() if text.upper().startswith("RRULE:") else text


def occurrences(
    window: ChangeWindow, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The (start, end) pairs of `window` that overlap [start, end), in UTC, earliest first.

    A one-off window is its own single occurrence. A recurring one keeps its duration in
    local wall-clock time (02:00-06:00 stays so on the day clocks change). Bounded by
    `MAX_OCCURRENCES` and `MAX_STEPS`; a rule that no longer parses yields nothing."""
    if end <= start:
        return []
    if not window.rrule:
        if window.starts_at < end and window.ends_at > start:
            return [(window.starts_at, window.ends_at)]
        return []
    zone = zone_of(window)
    local_start = window.starts_at.astimezone(zone)
    local_end = window.ends_at.astimezone(zone)
    wall = local_end.replace(tzinfo=None) - local_start.replace(tzinfo=None)
    if wall <= timedelta(0):
        wall = window.ends_at - window.starts_at
    try:
        rule = parse_rrule(window.rrule, local_start)
    except ValueError:
        return []
    found: list[tuple[datetime, datetime]] = []
    for steps, occ in enumerate(rule):
        if steps >= MAX_STEPS or len(found) >= MAX_OCCURRENCES:
            break
        occ_start = occ.astimezone(UTC)
        if occ_start >= end:
            break
        occ_end = (occ.replace(tzinfo=None) + wall).replace(tzinfo=zone).astimezone(UTC)
        if occ_end > start:
            found.append((occ_start, occ_end))
    return found


def _ids(items: Iterable[Any]) -> list[int]:
    return [getattr(item, "pk", item) for item in items if item is not None]


def reached_services(cis: Iterable[Any] = (), services: Iterable[Any] = ()) -> set[int]:
    """The ids of the business services a change touches: its service, any CI that is
    itself a service, and the services its CIs can take down upstream in the CMDB."""
    found = set(_ids(services))
    ci_ids = _ids(cis)
    if not ci_ids:
        return found
    for item in ConfigurationItem.objects.filter(pk__in=ci_ids).select_related("ci_class"):
        if item.ci_class.is_service:
            found.add(item.pk)
        found.update(s["id"] for s in upstream_services(item, depth=SERVICE_DEPTH)["services"])
    return found


def windows_of(
    organization_id: int, kind: str, covering: set[int] | None = None
) -> list[ChangeWindow]:
    """The active windows of `kind` in the organisation that cover the services `covering`
    (windows without services cover everything); all of them when `covering` is None."""
    rows = list(
        ChangeWindow.objects.filter(organization_id=organization_id, kind=kind, is_active=True)
        .select_related("organization")
        .prefetch_related("services")
    )
    if covering is None:
        return rows
    return _covering(rows, lambda: covering)


def _covering(rows: list[ChangeWindow], covering: Callable[[], set[int]]) -> list[ChangeWindow]:
    """The windows of `rows` without services, and those whose services meet `covering()`;
    the CMDB walk behind `covering` runs only when some window names services."""
    if all(not w.services.all() for w in rows):
        return rows
    reached = covering()
    return [w for w in rows if not w.services.all() or {s.pk for s in w.services.all()} & reached]


def freezes_overlapping(
    organization_id: int,
    start: datetime,
    end: datetime,
    cis: Iterable[Any] = (),
    services: Iterable[Any] = (),
) -> list[dict[str, Any]]:
    """The freeze-window occurrences overlapping [start, end) that cover a change with these
    CIs and services: ``{"window_id", "name", "starts_at", "ends_at", "services": [names]}``,
    earliest first."""
    if start is None or end is None or end <= start:
        return []
    overlapping = [
        (window, spans)
        for window in windows_of(organization_id, WindowKind.FREEZE)
        if (spans := occurrences(window, start, end))
    ]
    # Walk the CMDB only when a freeze that overlaps the range is limited to some services.
    covered = {
        w.pk
        for w in _covering([w for w, _ in overlapping], lambda: reached_services(cis, services))
    }
    found: list[dict[str, Any]] = []
    for window, spans in overlapping:
        if window.pk not in covered:
            continue
        names = sorted(s.name for s in window.services.all())
        for occ_start, occ_end in spans:
            found.append(
                {
                    "window_id": window.pk,
                    "name": window.name,
                    "starts_at": occ_start,
                    "ends_at": occ_end,
                    "services": names,
                }
            )
    found.sort(key=lambda f: (f["starts_at"], f["name"]))
    return found


def freezes_for_change(change: Change) -> list[dict[str, Any]]:
    if change.planned_start is None or change.planned_end is None:
        return []
    cis = list(change.cis.all()) if change.pk else []
    return freezes_overlapping(
        change.organization_id,
        change.planned_start,
        change.planned_end,
        cis=cis,
        services=[change.service_id] if change.service_id else [],
    )


def maintenance_windows_for(change: Change) -> list[ChangeWindow]:
    """The active maintenance windows that cover the change's services."""
    rows = windows_of(change.organization_id, WindowKind.MAINTENANCE)

    def covering() -> set[int]:
        cis = list(change.cis.all()) if change.pk else []
        return reached_services(cis, [change.service_id] if change.service_id else [])

    return _covering(rows, covering)


def maintenance_occurrences_for(change: Change) -> list[dict[str, Any]]:
    """The maintenance-window occurrences the change's planned window falls in (wholly)."""
    if change.planned_start is None or change.planned_end is None:
        return []
    found = []
    for window in maintenance_windows_for(change):
        for occ_start, occ_end in occurrences(window, change.planned_start, change.planned_end):
            if occ_start <= change.planned_start and occ_end >= change.planned_end:
                found.append(
                    {
                        "window_id": window.pk,
                        "name": window.name,
                        "starts_at": occ_start,
                        "ends_at": occ_end,
                        "services": sorted(s.name for s in window.services.all()),
                    }
                )
    return found


def in_maintenance_window(change: Change) -> bool | None:
    """True when the planned window lies wholly inside an occurrence of a maintenance window
    of the change's services; False when such windows exist and it does not; None when no
    maintenance window covers the change or it has no planned window."""
    if change.planned_start is None or change.planned_end is None:
        return None
    windows = maintenance_windows_for(change)
    if not windows:
        return None
    for window in windows:
        for occ_start, occ_end in occurrences(window, change.planned_start, change.planned_end):
            if occ_start <= change.planned_start and occ_end >= change.planned_end:
                return True
    return False


def describe_span(start: datetime, end: datetime, zone: zoneinfo.ZoneInfo) -> str:
    """``Sat 28 Mar 18:00 - Thu 2 Apr 06:00 Europe/London`` in the organisation's zone."""
    a, b = start.astimezone(zone), end.astimezone(zone)
    first = f"{a:%a} {a.day} {a:%b %H:%M}"
    second = f"{b:%H:%M}" if a.date() == b.date() else f"{b:%a} {b.day} {b:%b %H:%M}"
    return f"{first} - {second} {zone.key}"


# The hooks (freeze guard, conflict refresh) and the change-page section register when their
# modules are imported.
from opsdesk.changes import window_actions, windows_section  # noqa: E402, F401
