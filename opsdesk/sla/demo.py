"""Demo service levels: calendars, vendors, SLAs, OLAs and UCs, and the clocks of every demo
incident computed from its history.

Per organisation (countries and time zone from the organisation):

- an office calendar per country (08:00-17:00 Monday to Friday, that country's public
  holidays, ``country`` set so tickets located there use it), the first one the default
  and closed for a company day in December; "24x7"; "Follow the sun", the union of the
  offices;
- three vendors: an ISP, a cloud provider and a hardware maintainer;
- SLAs: P1 response 15 min / resolution 4 h around the clock; P2-P5 in business time on the
  ticket's country calendar (P2 30 min / 8 h, P3 4 h / 3 days, P4 1 day / 5 days, P5 2 days /
  10 days; a business day is 9 hours);
- per demo team an OLA for P2-P5 in office hours and an on-call OLA for P1 around the clock,
  so that the usual path (Service Desk, a resolver team, a supplier) fits each SLA, except
  Application Support's P2 resolution (12 business hours against the SLA's 8), which the
  chain check flags;
- UCs for the vendors, counting only while a ticket is on hold awaiting the vendor.

Definitions are written through `opsdesk.sla.definition_actions` (validated, audited) without
a replay each; the clocks of all the organisation's incidents are then computed once, in
batches (``live=False``: no warnings scheduled for history). Idempotent: what exists by name
is left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone

from opsdesk.accounts.models import Membership, Team, User
from opsdesk.core.context import acting_as
from opsdesk.core.models import BusinessCalendar, CalendarException, Organization
from opsdesk.core.permissions import Action, Role, has_permission
from opsdesk.servicedesk.models import Incident
from opsdesk.sla import definition_actions as actions
from opsdesk.sla.choices import Kind
from opsdesk.sla.clocks import incidents_for_recompute, recompute_incidents
from opsdesk.sla.models import Definition
from opsdesk.vendors.models import Vendor

#: Tickets replayed per batch.
BATCH = 500
#: A business day on the office calendars, in minutes (08:00-17:00).
DAY = 9 * 60
OFFICE_HOURS = {d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
CLOSED = {d: [] for d in ("sat", "sun")}

#: country -> (office city, time zone)
OFFICES = {
    "ZA": ("Johannesburg", "Africa/Johannesburg"),
    "KE": ("Nairobi", "Africa/Nairobi"),
    "NG": ("Lagos", "Africa/Lagos"),
    "DE": ("Frankfurt", "Europe/Berlin"),
    "FR": ("Paris", "Europe/Paris"),
    "NL": ("Amsterdam", "Europe/Amsterdam"),
    "BE": ("Brussels", "Europe/Brussels"),
    "PL": ("Warsaw", "Europe/Warsaw"),
    "ES": ("Madrid", "Europe/Madrid"),
    "IT": ("Milan", "Europe/Rome"),
    "SE": ("Stockholm", "Europe/Stockholm"),
}

#: name, description, country offset into the organisation's countries
VENDORS = [
    ("Kestrel Networks", "Internet service provider: WAN circuits and internet breakout."),
    ("Nimbus Cloud", "Public cloud provider: virtual machines, storage, Kubernetes."),
    ("Ironbark Hardware Services", "Hardware maintenance: servers, storage, laptops."),
]

SLA_ESCALATIONS = [
    {"at": 75, "action": "notify", "to": "group_manager"},
    {"at": 90, "action": "notify", "to": "group"},
    {"at": 100, "action": "notify", "to": "group_manager"},
]

#: team -> (response, resolution) minutes per priority, P2-P5 on the office calendar; chosen
#: so that the usual path (Service Desk, then a resolver team, then a supplier) fits each SLA.
OLAS = {
    "Service Desk": (
        {"2": 15, "3": 60, "4": 240, "5": 480},
        {"2": 60, "3": 240, "4": 480, "5": DAY},
    ),
    "Network": (None, {"2": 180, "3": DAY, "4": 2 * DAY, "5": 4 * DAY}),
    "Platform": (None, {"2": 180, "3": DAY, "4": 2 * DAY, "5": 4 * DAY}),
    "Database": (None, {"2": 150, "3": DAY, "4": 2 * DAY, "5": 4 * DAY}),
    # Deliberately longer than the SLA's 8 business hours at P2: the chain check shows it.
    "Application Support": (None, {"2": 720, "3": DAY, "4": 2 * DAY, "5": 4 * DAY}),
}
#: team -> P1 resolution minutes, around the clock (on call)
ON_CALL = {
    "Service Desk": 30,
    "Network": 90,
    "Platform": 90,
    "Database": 90,
    "Application Support": 90,
}


def _acting_user(organization: Organization, people: Any) -> User:
    """An administrator of `people`, else the organisation's first admin."""
    candidates: list[Any] = []
    if isinstance(people, Mapping):
        candidates = list(people.values())
    elif isinstance(people, Iterable) and not isinstance(people, str | bytes):
        candidates = list(people)
    for person in candidates:
        if isinstance(person, User) and has_permission(
            person, Definition, Action.ADD, organization.pk
        ):
            return person
    membership = (
        Membership.objects.filter(organization=organization, role=Role.ADMIN)
        .select_related("user")
        .order_by("pk")
        .first()
    )
    if membership is None:
        raise ValueError(f"{organization.name} has no administrator for the demo SLAs.")
    return membership.user


def _countries(organization: Organization) -> list[str]:
    found = [c for c in (organization.countries or []) if c in OFFICES]
    return found or ["ZA"]


def _calendars(organization: Organization, user: User) -> dict[str, BusinessCalendar]:
    have = {c.name: c for c in BusinessCalendar.objects.filter(organization=organization)}
    out: dict[str, BusinessCalendar] = {}
    offices: list[BusinessCalendar] = []
    has_default = any(c.is_default for c in have.values())
    with acting_as(user):
        for i, country in enumerate(_countries(organization)):
            city, tz = OFFICES[country]
            name = f"{city} office"
            cal = have.get(name)
            if cal is None:
                cal = BusinessCalendar.objects.create(
                    organization=organization,
                    name=name,
                    description=f"{city} office hours with {country} public holidays.",
                    time_zone=tz,
                    working_hours={**OFFICE_HOURS, **CLOSED},
                    holiday_country=country,
                    country=country,
                    is_default=i == 0 and not has_default,
                )
                if i == 0:
                    year = timezone.now().year
                    CalendarException.objects.create(
                        organization=organization,
                        calendar=cal,
                        date=date(year, 12, 24),
                        name="Year-end company closure",
                        hours=[],
                    )
            out[name] = cal
            offices.append(cal)
        always = have.get("24x7") or BusinessCalendar.objects.create(
            organization=organization,
            name="24x7",
            description="Every second counts: critical incidents and internet circuits.",
            time_zone=organization.time_zone or "UTC",
            always_open=True,
        )
        out["24x7"] = always
        sun = have.get("Follow the sun")
        if sun is None and len(offices) > 1:
            sun = BusinessCalendar.objects.create(
                organization=organization,
                name="Follow the sun",
                description="Open whenever any office is: "
                + ", ".join(c.name for c in offices)
                + ".",
                time_zone=organization.time_zone or "UTC",
                combine_mode="union",
            )
            sun.members.set(offices)
        if sun is not None:
            out["Follow the sun"] = sun
    out["office"] = offices[0]
    return out


def _vendors(organization: Organization, user: User) -> list[Vendor]:
    from opsdesk.vendors.actions import create_vendor

    country = _countries(organization)[0]
    found = []
    for name, notes in VENDORS:
        vendor = Vendor.objects.filter(organization=organization, name=name).first()
        if vendor is None:
            slug = name.split()[0].lower()
            vendor = create_vendor(
                acting_user=user,
                organization=organization,
                name=name,
                website=f"https://{slug}.example",
                email=f"support@{slug}.example",
                phone="+00 800 000 000",
                country=country,
                notes=notes,
            )
        found.append(vendor)
    return found


def _definitions(
    organization: Organization,
    user: User,
    calendars: dict[str, BusinessCalendar],
    vendors: list[Vendor],
) -> list[dict[str, Any]]:
    teams = {t.name: t for t in Team.objects.filter(organization=organization)}
    isp, cloud, hardware = vendors
    specs: list[dict[str, Any]] = [
        {
            "name": "Critical incidents (P1, around the clock)",
            "kind": Kind.SLA,
            "customer": "All business units",
            "description": "Critical incidents are worked around the clock.",
            "priorities": [1],
            "calendar": calendars["24x7"],
            "response_minutes": {"1": 15},
            "resolution_minutes": {"1": 240},
            "warning_thresholds": [50, 75, 90],
            "escalations": [
                {"at": 50, "action": "notify", "to": "group_manager"},
                *SLA_ESCALATIONS[1:],
            ],
        },
        {
            "name": "Standard incidents (P2-P5, business hours)",
            "kind": Kind.SLA,
            "customer": "All business units",
            "description": "Business time on the calendar of the ticket's country.",
            "priorities": [2, 3, 4, 5],
            "response_minutes": {"2": 30, "3": 240, "4": DAY, "5": 2 * DAY},
            "resolution_minutes": {"2": 480, "3": 3 * DAY, "4": 5 * DAY, "5": 10 * DAY},
            "escalations": SLA_ESCALATIONS,
            "reset_when": [],
        },
    ]
    for team_name, (response, resolution) in OLAS.items():
        team = teams.get(team_name)
        if team is None:
            continue
        spec: dict[str, Any] = {
            "name": f"{team_name} OLA",
            "kind": Kind.OLA,
            "team": team,
            "priorities": [2, 3, 4, 5],
            "calendar": calendars["office"],
            "description": f"What {team_name} promises while it holds a ticket, in office hours.",
            "resolution_minutes": resolution,
            "escalations": [{"at": 90, "action": "notify", "to": "group_manager"}],
        }
        if response:
            spec["response_minutes"] = response
        specs.append(spec)
        specs.append(
            {
                "name": f"{team_name} on-call OLA (P1)",
                "kind": Kind.OLA,
                "team": team,
                "priorities": [1],
                "calendar": calendars["24x7"],
                "description": f"{team_name}'s on-call rota for critical incidents.",
                "response_minutes": {"1": 5} if team_name == "Service Desk" else {},
                "resolution_minutes": {"1": ON_CALL[team_name]},
                "escalations": [{"at": 75, "action": "notify", "to": "group_manager"}],
            }
        )
    vendor_wait = ["on_hold:awaiting_vendor"]
    specs += [
        {
            "name": f"{isp.name} circuit repair UC",
            "kind": Kind.UC,
            "vendor": isp,
            "calendar": calendars["24x7"],
            "description": "Circuit faults: restore within the contracted hours, day and night.",
            "run_when": vendor_wait,
            "pause_when": [],
            "resolution_minutes": {"1": 90, "2": 180, "3": 1440, "4": 2880, "5": 2880},
        },
        {
            "name": f"{cloud.name} support UC",
            "kind": Kind.UC,
            "vendor": cloud,
            "calendar": calendars.get("Follow the sun", calendars["office"]),
            "description": "Enterprise support plan: business-critical cases first.",
            "run_when": vendor_wait,
            "pause_when": [],
            "resolution_minutes": {"1": 60, "2": 180, "3": DAY, "4": 2 * DAY, "5": 3 * DAY},
        },
        {
            "name": f"{hardware.name} next-business-day UC",
            "kind": Kind.UC,
            "vendor": hardware,
            "calendar": calendars["office"],
            "description": "Parts and an engineer on site by the next business day.",
            "run_when": vendor_wait,
            "pause_when": [],
            "resolution_minutes": {"3": DAY, "4": DAY, "5": 2 * DAY},
        },
    ]
    return specs


def recompute_all(organization: Organization) -> int:
    """Compute the clocks of every incident of the organisation (in batches); returns how
    many clocks there are."""
    ids = list(
        Incident.objects.filter(organization=organization)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    clocks = 0
    now = timezone.now()
    for start in range(0, len(ids), BATCH):
        chunk = incidents_for_recompute(Incident.objects.filter(pk__in=ids[start : start + BATCH]))
        clocks += recompute_incidents(chunk, now=now, live=False).clocks
    return clocks


@transaction.atomic
def seed_demo(organization: Organization, people: Any = None) -> dict[str, int]:
    """Create the demo calendars, vendors and definitions of `organization` (idempotent)
    and compute its incidents' clocks; returns how many of each were created."""
    user = _acting_user(organization, people)
    calendars_before = BusinessCalendar.objects.filter(organization=organization).count()
    calendars = _calendars(organization, user)
    vendors_before = Vendor.objects.filter(organization=organization).count()
    vendors = _vendors(organization, user)
    existing = set(
        Definition.objects.filter(organization=organization).values_list("name", flat=True)
    )
    created = 0
    for spec in _definitions(organization, user, calendars, vendors):
        if spec["name"] in existing:
            continue
        name = spec.pop("name")
        actions.create_definition(
            acting_user=user, organization=organization, name=name, recompute=False, **spec
        )
        created += 1
    clocks = recompute_all(organization) if created else 0
    return {
        "calendars": BusinessCalendar.objects.filter(organization=organization).count()
        - calendars_before,
        "vendors": Vendor.objects.filter(organization=organization).count() - vendors_before,
        "definitions": created,
        "clocks": clocks,
    }
