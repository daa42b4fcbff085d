"""Constructed clocks and incidents for the reporting tests (clocks are derived data, so
reporting tests write them directly instead of replaying ticket history)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from opsdesk.sla.models import Clock, Definition

JHB = ZoneInfo("Africa/Johannesburg")


def at(*args: int) -> datetime:
    """A datetime in Johannesburg (organisation A's zone)."""
    return datetime(*args, tzinfo=JHB)


def definitions(cast: Any) -> dict[str, Definition]:
    """An SLA, an OLA of team A and a UC with a supplier, in organisation A."""
    from opsdesk.vendors.models import Vendor

    vendor = Vendor.objects.create(organization=cast.org_a, name="Fibre Co")
    return {
        "sla": Definition.objects.create(
            organization=cast.org_a,
            name="Gold",
            kind="sla",
            customer="Acme retail",
            response_minutes={"1": 15, "2": 30},
            resolution_minutes={"1": 240, "2": 480},
        ),
        "ola": Definition.objects.create(
            organization=cast.org_a,
            name="Desk OLA",
            kind="ola",
            team=cast.team_a,
            resolution_minutes={"1": 120, "2": 240},
        ),
        "uc": Definition.objects.create(
            organization=cast.org_a,
            name="Fibre UC",
            kind="uc",
            vendor=vendor,
            resolution_minutes={"1": 120, "2": 240},
        ),
    }


_subject = iter(range(900_000, 10_000_000))


def clock(
    definition: Definition,
    *,
    stopped: datetime | None,
    breached: bool = False,
    metric: str = "resolution",
    priority: int = 2,
    service: Any = None,
    team: Any = None,
    subject_id: int | None = None,
    number: str = "",
    status: str | None = None,
    started: datetime | None = None,
    elapsed: int | None = None,
    target: int = 8 * 3600,
    due: datetime | None = None,
) -> Clock:
    sid = subject_id if subject_id is not None else next(_subject)
    if elapsed is None:
        elapsed = target + 3600 if breached else target // 2
    if started is None and stopped is not None:
        started = stopped - timedelta(seconds=elapsed)
    return Clock.objects.create(
        organization_id=definition.organization_id,
        definition=definition,
        kind=definition.kind,
        metric=metric,
        subject_id=sid,
        number=number or f"INC{sid}",
        service=service,
        team=team if team is not None else definition.team,
        vendor=definition.vendor,
        priority=priority,
        status=status or ("stopped" if stopped else "running"),
        target_seconds=target,
        elapsed_seconds=elapsed,
        started_at=started,
        stopped_at=stopped,
        due_at=due,
        breached=breached,
        breached_at=(started + timedelta(seconds=target)) if breached and started else None,
    )


def incident(org: Any, *, opened: datetime, resolved: datetime | None = None, **fields: Any) -> Any:
    """An incident saved directly (no timeline, so no clock is recomputed)."""
    from opsdesk.servicedesk.models import Incident

    found = Incident(
        organization=org,
        title=fields.pop("title", "Constructed"),
        opened_at=opened,
        resolved_at=resolved,
        state="resolved" if resolved else "in_progress",
        **fields,
    )
    found.save()
    return found
