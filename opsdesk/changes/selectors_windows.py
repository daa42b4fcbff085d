"""Reads of the windows part, always tenant- and permission-restricted: windows, the change
calendar of a period (changes and window occurrences), and a change's conflicts and
windows for its page."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet

from opsdesk.changes import conflicts, windows
from opsdesk.changes.choices import ChangeState, WindowKind
from opsdesk.changes.models import Change, ChangeWindow
from opsdesk.core.errors import FieldError
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access

#: The longest period one calendar read covers.
MAX_PERIOD = timedelta(days=400)
#: The most changes one calendar read returns (earliest first).
MAX_CHANGES = 2000

KIND_LABEL = {WindowKind.MAINTENANCE: "maintenance window", WindowKind.FREEZE: "freeze window"}


def change_windows(
    user: Any, action: str = Action.VIEW, kind: str | None = None
) -> QuerySet[ChangeWindow]:
    qs = ChangeWindow.objects.restrict(user, action).select_related("organization")
    if kind:
        qs = qs.filter(kind=kind)
    return qs.prefetch_related("services").order_by("starts_at", "id")


def access_window(
    user: Any, window_id: int, kind: str | None = None, action: str = Action.VIEW
) -> ChangeWindow:
    """The window if `user` may `action` it (and it is of `kind`), else NotFound."""
    return access(change_windows(user, action, kind), window_id, KIND_LABEL.get(kind, "window"))


def check_period(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    if start is None:
        raise FieldError({"from": "Give the start of the period."})
    if end is None:
        raise FieldError({"to": "Give the end of the period."})
    if end <= start:
        raise FieldError({"to": "The end of the period must be after its start."})
    if end - start > MAX_PERIOD:
        raise FieldError({"to": f"A period covers at most {MAX_PERIOD.days} days."})
    return start, end


@dataclass
class Occurrence:
    window: ChangeWindow
    starts_at: datetime
    ends_at: datetime

    @property
    def kind(self) -> str:
        return self.window.kind


@dataclass
class Calendar:
    organization: Organization
    start: datetime
    end: datetime
    changes: list[Change] = field(default_factory=list)
    occurrences: list[Occurrence] = field(default_factory=list)
    truncated: bool = False


def calendar(
    user: Any,
    organization: Organization,
    start: datetime,
    end: datetime,
    *,
    include_cancelled: bool = False,
) -> Calendar:
    """The changes planned to overlap [start, end) that `user` may view, and the occurrences
    of the organisation's active windows in the period."""
    start, end = check_period(start, end)
    qs = (
        Change.objects.restrict(user, Action.VIEW)
        .filter(organization=organization, planned_start__lt=end, planned_end__gt=start)
        .select_related("service", "organization")
        .prefetch_related("cis")
        .order_by("planned_start", "id")
    )
    if not include_cancelled:
        qs = qs.exclude(state=ChangeState.CANCELLED)
    rows = list(qs[: MAX_CHANGES + 1])
    result = Calendar(organization, start, end, rows[:MAX_CHANGES], [], len(rows) > MAX_CHANGES)
    for window in change_windows(user).filter(organization=organization, is_active=True):
        for occ_start, occ_end in windows.occurrences(window, start, end):
            result.occurrences.append(Occurrence(window, occ_start, occ_end))
    result.occurrences.sort(key=lambda o: (o.starts_at, o.window.name))
    return result


def change_windows_report(change: Change) -> dict[str, Any]:
    """For the change page: its conflicts computed now, the freeze and maintenance windows
    its planned window falls in, and whether maintenance windows apply at all."""
    return {
        "conflicts": conflicts.find_conflicts(change),
        "freezes": windows.freezes_for_change(change),
        "maintenance": windows.maintenance_occurrences_for(change),
        "in_maintenance": windows.in_maintenance_window(change),
        "zone": windows.zone_of(change.organization),
    }
