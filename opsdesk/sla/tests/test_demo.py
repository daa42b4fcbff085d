"""The demo service levels: calendars, vendors, SLAs/OLAs/UCs, and clocks computed for the
demo incidents (some met, some breached, some running); loading twice adds nothing."""

from __future__ import annotations

from typing import Any

import pytest

from opsdesk.accounts.models import Team
from opsdesk.cmdb.demo import load_cmdb_demo
from opsdesk.core.demo import TEAMS
from opsdesk.core.models import BusinessCalendar, CalendarException
from opsdesk.core.permissions import Role
from opsdesk.servicedesk import demo as desk_demo
from opsdesk.sla.demo import seed_demo
from opsdesk.sla.models import Clock, Definition
from opsdesk.vendors.models import Vendor

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_calendars():  # type: ignore[no-untyped-def]
    """Compiled calendars are cached by (id, version); a rolled-back test's ids come back."""
    from opsdesk.sla import calendars

    calendars._COMPILED.clear()
    yield
    calendars._COMPILED.clear()


@pytest.fixture
def desk(cast, monkeypatch):  # type: ignore[no-untyped-def]
    for name, description in TEAMS:
        team = Team.objects.create(
            organization=cast.org_a,
            name=name,
            slug=name.lower().replace(" ", "-"),
            description=description,
        )
        team.members.add(cast.manager)
    load_cmdb_demo(organization=cast.org_a, acting_user=cast.admin)
    monkeypatch.setattr(desk_demo, "SEEDERS", ())
    desk_demo.load_servicedesk_demo(
        organization=cast.org_a, acting_user=cast.admin, people=people(cast), per_org=150
    )
    return cast.org_a


def people(cast: Any) -> dict[str, Any]:
    return {Role.AGENT: cast.agent, Role.MANAGER: cast.manager, Role.ADMIN: cast.admin}


def test_demo_service_levels(cast, desk):  # type: ignore[no-untyped-def]
    result = seed_demo(desk, people(cast))
    # Acme Africa is in ZA, KE and NG: three offices, 24x7 and their union.
    assert result["calendars"] == 5 and result["vendors"] == 3
    names = dict(BusinessCalendar.objects.filter(organization=desk).values_list("name", "country"))
    assert names == {
        "Johannesburg office": "ZA",
        "Nairobi office": "KE",
        "Lagos office": "NG",
        "24x7": "",
        "Follow the sun": "",
    }
    default = BusinessCalendar.objects.get(organization=desk, is_default=True)
    assert default.name == "Johannesburg office" and default.holiday_country == "ZA"
    assert CalendarException.objects.filter(calendar=default, date__month=12).count() == 1
    sun = BusinessCalendar.objects.get(organization=desk, name="Follow the sun")
    assert sun.combine_mode == "union" and sun.members.count() == 3
    assert Vendor.objects.filter(organization=desk).count() == 3
    kinds = dict(
        (k, Definition.objects.filter(organization=desk, kind=k).count())
        for k in ("sla", "ola", "uc")
    )
    assert kinds == {"sla": 2, "ola": 10, "uc": 3}
    p1 = Definition.objects.get(organization=desk, kind="sla", priorities=[1])
    assert (p1.response_minutes, p1.resolution_minutes, p1.calendar.name) == (
        {"1": 15},
        {"1": 240},
        "24x7",
    )
    standard = Definition.objects.get(organization=desk, name__startswith="Standard")
    assert standard.resolution_minutes == {"2": 480, "3": 1620, "4": 2700, "5": 5400}
    app_ola = Definition.objects.get(organization=desk, name="Application Support OLA")
    # Deliberately longer than the SLA, for the chain check.
    assert app_ola.resolution_minutes["2"] > standard.resolution_minutes["2"]
    ucs = Definition.objects.filter(organization=desk, kind="uc")
    assert all(d.run_when == ["on_hold:awaiting_vendor"] for d in ucs)
    clocks = Clock.objects.filter(organization=desk)
    assert result["clocks"] == clocks.count() > 150
    assert clocks.filter(breached=True).exists()
    assert clocks.filter(status="stopped", breached=False).exists()  # met
    assert clocks.filter(status="running").exists()
    assert clocks.filter(kind="ola").exists()
    # Again: nothing new.
    again = seed_demo(desk, people(cast))
    assert again == {"calendars": 0, "vendors": 0, "definitions": 0, "clocks": 0}
