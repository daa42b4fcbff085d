"""Demo data that looks like our users: an African group in three countries and a European
group in eight, each with the usual teams and one person per role.

Everything is created through actions, so the demo also has a real audit trail. Loading is
idempotent: an organisation that already exists is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from opsdesk.accounts.actions import add_user, create_team, update_team
from opsdesk.accounts.models import Membership, User
from opsdesk.core.actions import create_organization
from opsdesk.core.context import acting_as
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Role

DEMO_PASSWORD = "opsdesk-demo"
PLATFORM_ADMIN = ("platform@opsdesk.example", "Platform Administrator")

TEAMS = [
    ("Service Desk", "First line: takes every call, chat and email."),
    ("Platform", "Servers, virtualisation, Kubernetes and cloud accounts."),
    ("Network", "WAN, LAN, firewalls, VPN and telephony."),
    ("Database", "PostgreSQL, SQL Server and Oracle estates."),
    ("Application Support", "ERP, CRM and line-of-business applications."),
]


@dataclass
class DemoOrg:
    name: str
    slug: str
    description: str
    countries: list[str]
    time_zone: str
    domain: str
    people: dict[str, str] = field(default_factory=dict)  # role -> full name


ORGS = [
    DemoOrg(
        name="Savanna Group",
        slug="savanna",
        description="A group running IT for its companies in South Africa, Kenya and Nigeria.",
        countries=["ZA", "KE", "NG"],
        time_zone="Africa/Johannesburg",
        domain="savanna.example",
        people={
            Role.REQUESTER: "Thandi Nkosi",
            Role.AGENT: "Wanjiru Kamau",
            Role.MANAGER: "Chinedu Okafor",
            Role.AUDITOR: "Pieter van der Merwe",
            Role.ADMIN: "Amina Abubakar",
        },
    ),
    DemoOrg(
        name="Nordlicht Europe",
        slug="nordlicht",
        description="A European group with operations in eight countries and one shared IT function.",
        countries=["DE", "FR", "NL", "BE", "PL", "ES", "IT", "SE"],
        time_zone="Europe/Berlin",
        domain="nordlicht.example",
        people={
            Role.REQUESTER: "Lukas Becker",
            Role.AGENT: "Camille Dubois",
            Role.MANAGER: "Sanne de Vries",
            Role.AUDITOR: "Katarzyna Nowak",
            Role.ADMIN: "Giulia Rossi",
        },
    ),
]

#: Someone who works for both groups, to show the organisation switcher.
HEAD_OF_OPS = ("head.ops@opsdesk.example", "Kwame Mensah")


@dataclass
class Login:
    email: str
    role: str
    organizations: str


def _email(name: str, domain: str) -> str:
    first, _, rest = name.partition(" ")
    return f"{first.lower()}.{rest.split()[-1].lower()}@{domain}"


@transaction.atomic
def load_demo() -> list[Login]:
    platform = User.objects.filter(email=PLATFORM_ADMIN[0]).first()
    if platform is None:
        platform = User.objects.create_superuser(
            PLATFORM_ADMIN[0], DEMO_PASSWORD, full_name=PLATFORM_ADMIN[1]
        )
    logins = [Login(platform.email, "platform admin (superuser)", "all")]
    for spec in ORGS:
        org = Organization.objects.filter(slug=spec.slug).first()
        if org is None:
            org = create_organization(
                acting_user=platform,
                name=spec.name,
                slug=spec.slug,
                description=spec.description,
                countries=spec.countries,
                time_zone=spec.time_zone,
            )
            _populate(org, spec, platform)
        for role, name in spec.people.items():
            logins.append(Login(_email(name, spec.domain), str(role), spec.name))
    logins.append(Login(HEAD_OF_OPS[0], "admin", "both groups"))
    return logins


def _populate(org: Organization, spec: DemoOrg, platform: User) -> None:
    users: dict[str, User] = {}
    for role, name in spec.people.items():
        membership = add_user(
            acting_user=platform,
            organization=org,
            email=_email(name, spec.domain),
            full_name=name,
            role=role,
            password=DEMO_PASSWORD,
        )
        users[role] = membership.user
    head = User.objects.filter(email=HEAD_OF_OPS[0]).first()
    if head is None or not Membership.objects.filter(user=head, organization=org).exists():
        add_user(
            acting_user=platform,
            organization=org,
            email=HEAD_OF_OPS[0],
            full_name=HEAD_OF_OPS[1],
            role=Role.ADMIN,
            password=DEMO_PASSWORD,
        )
    admin = users[Role.ADMIN]
    for name, description in TEAMS:
        members = (
            [users[Role.AGENT], users[Role.MANAGER]]
            if name == "Service Desk"
            else [users[Role.MANAGER]]
        )
        create_team(
            acting_user=admin,
            organization=org,
            name=name,
            description=description,
            email=f"{name.lower().replace(' ', '-')}@{spec.domain}",
            manager=users[Role.MANAGER],
            members=members,
        )
    # The CMDB: services, applications, servers, clusters and devices of the group.
    from opsdesk.cmdb.demo import load_cmdb_demo

    load_cmdb_demo(organization=org, acting_user=admin)
    # The service desk: months of incidents, then the other desk apps' demo rows.
    from opsdesk.servicedesk.demo import load_servicedesk_demo
    from opsdesk.servicedesk.timeline import silenced

    with silenced():  # months of history: nobody is mailed about it
        load_servicedesk_demo(organization=org, acting_user=admin, people=users)
    # A little history so the audit log reads like a working week.
    from opsdesk.accounts.models import Team

    desk = Team.objects.get(organization=org, name="Service Desk")
    with acting_as(admin):
        update_team(
            acting_user=admin,
            team=desk,
            description=desk.description + " Open 24x7 for P1 incidents.",
        )
