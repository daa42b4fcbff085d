"""The SLA -> OLA -> UC chain: which agreements fit inside which SLA, and which segment of a
breached ticket consumed its time. Constructed data with fixed histories (Johannesburg,
office hours 08:00-17:00 Monday to Friday)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from opsdesk.accounts.models import Team
from opsdesk.cmdb.tests.factories import ci
from opsdesk.core.models import BusinessCalendar
from opsdesk.servicedesk import actions, timeline
from opsdesk.servicedesk.models import Activity, Incident
from opsdesk.sla.chain import DOES_NOT_FIT, FITS, GAP, attribute, check_chain
from opsdesk.sla.clocks import recompute_incidents
from opsdesk.sla.models import Clock, Definition
from opsdesk.vendors.models import Vendor

pytestmark = pytest.mark.django_db

JHB = ZoneInfo("Africa/Johannesburg")
#: "Now" of every check: Wednesday 18 November 2026, noon. The reference starts are then
#: Monday 23 November 09:00 and Friday 27 November 16:00.
NOW = datetime(2026, 11, 18, 12, 0, tzinfo=JHB)
MONDAY = datetime(2026, 11, 16, 9, 0, tzinfo=JHB)  # a Monday of the history


@dataclass
class World:
    cast: Any
    office: BusinessCalendar
    always: BusinessCalendar
    desk: Team
    network: Team
    database: Team
    fibreco: Vendor
    telco: Vendor
    payroll: Any
    email: Any
    warehouse: Any
    telephony: Any
    trading: Any
    gold: Definition
    breached: Incident | None = None


def _incident(w: World, service: Any, opened: datetime, title: str = "Broken") -> Incident:
    with timeline.silenced():
        return actions.create_incident(
            acting_user=w.cast.agent,
            organization=w.cast.org_a,
            title=title,
            service=service,
            impact=1,
            urgency=2,  # P2
            assignment_group=w.desk,
            opened_at=opened,
        )


def _event(incident: Incident, kind: str, at: datetime, **data: Any) -> None:
    Activity.objects.create(
        organization_id=incident.organization_id,
        subject_type="incident",
        subject_id=incident.pk,
        kind=kind,
        at=at,
        data=data,
    )


def _handled(w: World, service: Any, *teams: Team, opened: datetime = MONDAY) -> Incident:
    """An incident of `service` handed from the service desk along `teams`, an hour each."""
    incident = _incident(w, service, opened)
    _event(incident, "state", opened + timedelta(minutes=5), to="in_progress")
    at = opened
    for team in teams:
        at += timedelta(hours=1)
        _event(incident, "assigned", at, group=team.name, group_id=team.pk)
    _event(incident, "state", at + timedelta(minutes=30), to="resolved")
    return incident


def build_world(cast: Any) -> World:
    org = cast.org_a
    office = BusinessCalendar.objects.create(
        organization=org, name="Office hours", time_zone="Africa/Johannesburg"
    )
    always = BusinessCalendar.objects.create(
        organization=org, name="24x7", time_zone="Africa/Johannesburg", always_open=True
    )
    desk = cast.team_a
    network = Team.objects.create(organization=org, name="Network", slug="network")
    database = Team.objects.create(organization=org, name="Database", slug="database")
    fibreco = Vendor.objects.create(organization=org, name="FibreCo")
    telco = Vendor.objects.create(organization=org, name="Telco")
    services = {
        name: ci(org, name, "business_service")
        for name in ("Payroll", "Email", "Warehouse", "Telephony", "Trading")
    }
    gold = Definition.objects.create(
        organization=org,
        name="Gold",
        kind="sla",
        priorities=[2],
        response_minutes={"2": 60},
        resolution_minutes={"2": 480},
        calendar=office,
    )
    gold.services.set([services[n] for n in ("Payroll", "Email", "Warehouse", "Telephony")])
    around = Definition.objects.create(
        organization=org,
        name="Around the clock",
        kind="sla",
        priorities=[2],
        resolution_minutes={"2": 480},
        calendar=always,
    )
    around.services.set([services["Trading"]])
    Definition.objects.create(
        organization=org,
        name="Service desk triage",
        kind="ola",
        team=desk,
        response_minutes={"2": 30},
        resolution_minutes={"2": 60},
        calendar=office,
    )
    Definition.objects.create(
        organization=org,
        name="Network repairs",
        kind="ola",
        team=network,
        resolution_minutes={"2": 240},
        pause_when=["on_hold:awaiting_requester", "on_hold:awaiting_vendor"],
        calendar=office,
    )
    fibre = Definition.objects.create(
        organization=org,
        name="FibreCo support",
        kind="uc",
        vendor=fibreco,
        resolution_minutes={"2": 240},
        calendar=office,
    )
    fibre.services.set([services["Payroll"], services["Trading"]])
    telco_uc = Definition.objects.create(
        organization=org,
        name="Telco around the clock",
        kind="uc",
        vendor=telco,
        resolution_minutes={"2": 600},  # 10 h, 24x7
        calendar=always,
    )
    telco_uc.services.set([services["Telephony"]])
    w = World(
        cast,
        office,
        always,
        desk,
        network,
        database,
        fibreco,
        telco,
        services["Payroll"],
        services["Email"],
        services["Warehouse"],
        services["Telephony"],
        services["Trading"],
        gold,
    )
    # History: Email and Payroll go Service Desk -> Network; Warehouse reaches Database.
    for _ in range(3):
        _handled(w, w.email, desk, network)
        _handled(w, w.payroll, desk, network)
    _handled(w, w.email, desk)
    _handled(w, w.warehouse, desk, database)
    _handled(w, w.warehouse, desk, database)
    _handled(w, w.telephony, desk)
    return w


def breached_ticket(w: World) -> Incident:
    """Payroll P2, Monday 09:00: the desk passes it to Network at 09:30; Network waits on
    FibreCo 13:00-15:00 and resolves it Tuesday 08:40. The SLA (8 h) breaches Monday 17:00."""
    incident = _incident(w, w.payroll, MONDAY, "Payroll run fails")
    _event(incident, "state", MONDAY + timedelta(minutes=5), to="in_progress")
    _event(
        incident, "assigned", MONDAY + timedelta(minutes=30), group="Network", group_id=w.network.pk
    )
    _event(
        incident,
        "state",
        MONDAY.replace(hour=13),
        to="on_hold",
        hold_reason="awaiting_vendor",
    )
    _event(incident, "state", MONDAY.replace(hour=15), to="in_progress")
    _event(incident, "state", datetime(2026, 11, 17, 8, 40, tzinfo=JHB), to="resolved")
    recompute_incidents([incident], now=NOW, live=False)
    return incident


@pytest.fixture
def world(cast) -> World:
    return build_world(cast)


def _row(rows: list, service: Any, priority: int = 2) -> Any:
    return next(r for r in rows if r.service_id == service.pk and r.priority == priority)


# --- the chain check ------------------------------------------------------------------------


def test_a_chain_that_fits(world):
    row = _row(check_chain(world.cast.org_a.pk, now=NOW), world.email)
    assert row.verdict == FITS, row.reasons
    assert row.path == ["Service Desk A", "Network"]
    assert row.path_incidents == 3 and row.incidents == 4
    assert row.reasons[0] == (
        "Typical path Service Desk A → Network: OLA Service Desk A P2 1 h + OLA Network P2 4 h"
        " = 5 h ≤ SLA P2 8 h."
    )
    monday = row.walks[0]
    assert monday.start == datetime(2026, 11, 23, 9, 0, tzinfo=JHB)
    assert monday.end == datetime(2026, 11, 23, 14, 0, tzinfo=JHB)
    assert monday.sla_due == datetime(2026, 11, 23, 17, 0, tzinfo=JHB)


def test_a_chain_that_does_not_fit_names_the_culprit(world):
    row = _row(check_chain(world.cast.org_a.pk, now=NOW), world.payroll)
    assert row.verdict == DOES_NOT_FIT
    assert row.reasons[0] == (
        "Typical path Service Desk A → Network: OLA Service Desk A P2 1 h + OLA Network P2 4 h"
        " + UC FibreCo P2 4 h = 9 h > SLA P2 8 h; the largest part is OLA Network (4 h)."
    )
    assert [s.name for s in row.suppliers] == ["FibreCo"]
    assert all(not w.fits for w in row.walks)


def test_a_single_agreement_longer_than_the_sla_is_named(world):
    network_ola = Definition.objects.get(name="Network repairs")
    network_ola.resolution_minutes = {"2": 600}
    network_ola.save()
    row = _row(check_chain(world.cast.org_a.pk, world.email.pk, 2, now=NOW), world.email)
    assert row.verdict == DOES_NOT_FIT
    assert row.culprits == ["Network"]
    assert row.reasons[0].startswith("OLA Network P2 10 h > SLA P2 8 h: Network alone")


def test_a_team_without_an_ola_is_a_gap(world):
    row = _row(check_chain(world.cast.org_a.pk, now=NOW), world.warehouse)
    assert row.verdict == GAP
    assert row.gaps == ["Database"]
    assert row.reasons[0] == (
        "Gap: Database handled 2 of 2 incidents of Warehouse in the last 90 days and has no "
        "OLA at all."
    )
    # Network's OLA covers every service, so it is in the chain, but it never handled
    # Warehouse: the other services' history does not leak into this row.
    teams = {t.name: t for t in row.teams}
    assert set(teams) == {"Service Desk A", "Database", "Network"}
    assert (teams["Network"].handled, teams["Network"].on_path) == (0, False)
    assert (teams["Database"].handled, teams["Database"].on_path) == (2, True)


def test_a_team_whose_ola_covers_other_services_is_a_gap_here(world):
    Definition.objects.get(name="Network repairs").services.set([world.email])
    row = _row(check_chain(world.cast.org_a.pk, now=NOW), world.payroll)
    assert row.gaps == ["Network"]
    assert (
        "Gap: Network handled 3 of 3 incidents of Payroll in the last 90 days and has no OLA "
        "covering Payroll P2." in row.reasons
    )
    assert _row(check_chain(world.cast.org_a.pk, now=NOW), world.email).verdict == FITS


def test_imported_history_names_its_groups(world):
    incident = _incident(world, world.warehouse, MONDAY)
    Activity.objects.filter(subject_id=incident.pk, kind="assigned").delete()
    _event(incident, "assigned", MONDAY, group="Network")  # a team of that name
    _event(incident, "assigned", MONDAY.replace(hour=10), group="Old Mainframe Desk")
    row = _row(check_chain(world.cast.org_a.pk, now=NOW), world.warehouse)
    teams = {t.name: t for t in row.teams}
    assert teams["Network"].handled == 1 and not teams["Network"].gap
    assert teams["Old Mainframe Desk"].gap
    assert "Gap: Old Mainframe Desk handled 1 of 3 incidents of Warehouse" in " ".join(row.reasons)


def test_a_24x7_uc_against_a_business_hours_sla_is_compared_in_wall_clock_time(world):
    row = _row(check_chain(world.cast.org_a.pk, now=NOW), world.telephony)
    # From Monday 09:00 the 24x7 UC of 10 h runs to 19:00, after the SLA's 17:00; from
    # Friday 16:00 it would fit (Saturday 02:00 against Monday 15:00).
    assert row.verdict == DOES_NOT_FIT
    assert row.culprits == ["Telco"]
    assert row.reasons[0] == (
        "UC Telco P2 10 h (24x7) ends Mon 23 Nov 19:00 when started Mon 23 Nov 09:00, after "
        "the SLA P2 8 h (Office hours) is due Mon 23 Nov 17:00: Telco alone may take longer "
        "than the customer was promised."
    )
    assert any(r.startswith("Calendars differ (24x7, Office hours)") for r in row.reasons)
    friday = row.walks[1]
    assert friday.reference == "Friday 16:00"
    assert friday.sla_due == datetime(2026, 11, 30, 15, 0, tzinfo=JHB)


def test_a_business_hours_uc_can_break_a_24x7_sla_over_the_weekend(world):
    row = _row(check_chain(world.cast.org_a.pk, now=NOW), world.trading)
    # 4 h of office time is less than 8 h, yet from Friday 16:00 it lasts until Monday 11:00.
    assert row.verdict == DOES_NOT_FIT
    assert row.sla_calendar == "24x7"
    assert "FibreCo" in row.culprits
    assert (
        "UC FibreCo P2 4 h (Office hours) ends Mon 30 Nov 11:00 when started Fri 27 Nov 16:00,"
        " after the SLA P2 8 h (24x7) is due Sat 28 Nov 00:00" in " ".join(row.reasons)
    )
    assert "No incidents of Trading in the last 90 days" in " ".join(row.reasons)


def test_filters_and_other_organisations(world):
    rows = check_chain(world.cast.org_a.pk, service_id=world.payroll.pk, now=NOW)
    assert [(r.service_name, r.priority) for r in rows] == [("Payroll", 2)]
    assert check_chain(world.cast.org_a.pk, priority=1, now=NOW) == []
    assert check_chain(world.cast.org_b.pk, now=NOW) == []


def test_an_sla_for_all_services_uses_the_business_services(world):
    Definition.objects.create(
        organization=world.cast.org_a,
        name="Bronze",
        kind="sla",
        priorities=[4],
        resolution_minutes={"4": 2400},
        calendar=world.office,
    )
    rows = check_chain(world.cast.org_a.pk, priority=4, now=NOW)
    assert sorted(r.service_name for r in rows) == [
        "Email",
        "Payroll",
        "Telephony",
        "Trading",
        "Warehouse",
    ]


# --- breach attribution ---------------------------------------------------------------------


def test_attribution_of_a_breached_ticket_names_the_ola(world):
    incident = breached_ticket(world)
    sla_clock = Clock.objects.get(
        subject_id=incident.pk, definition=world.gold, metric="resolution"
    )
    assert sla_clock.breached
    found = attribute(incident, now=NOW)
    [clock] = [c for c in found.clocks if c.metric == "resolution"]
    assert clock.breached
    shares = {s.name: s for s in clock.shares}
    assert set(shares) == {"Service Desk A", "Network", "FibreCo"}
    assert shares["Service Desk A"].seconds == 30 * 60
    assert shares["FibreCo"].seconds == 2 * 3600
    assert shares["FibreCo"].definition_name == "FibreCo support"
    assert not shares["FibreCo"].breached
    assert shares["Network"].seconds == (6 * 60 + 10) * 60
    assert clock.culprit.name == "Network"
    assert clock.summary == (
        "Network held it 6 h 10 min of the 8 h; its OLA of 4 h was breached by 2 h 10 min."
    )
    assert clock.first_over.name == "Network"
    assert clock.first_over.breached_at == datetime(2026, 11, 16, 15, 30, tzinfo=JHB)
    assert clock.reasons[0] == (
        "First to exceed its own target: Network (OLA 4 h, breached Mon 16 Nov 15:30)."
    )


def test_attribution_of_a_ticket_within_its_sla_is_empty(world):
    incident = _handled(world, world.email, world.desk)
    assert attribute(incident, now=NOW).clocks == []
