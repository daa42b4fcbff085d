"""The fixed cast every test can use: two organisations, one user per role in the first,
an admin of the second, and a team in each.

Organisation A ("Acme Africa") and organisation B ("Borealis Europe") never see each
other's rows; isolation tests rely on that.
"""

from __future__ import annotations

from dataclasses import dataclass

from opsdesk.accounts.models import Team, User
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Role
from opsdesk.core.testing.factories import OrganizationFactory, TeamFactory, member


@dataclass
class Cast:
    org_a: Organization
    org_b: Organization
    requester: User
    agent: User
    manager: User
    auditor: User
    admin: User
    admin_b: User
    agent_b: User
    team_a: Team
    team_b: Team


def make_cast() -> Cast:
    org_a = OrganizationFactory(
        name="Acme Africa", slug="acme-africa", countries=["ZA", "KE", "NG"]
    )
    org_b = OrganizationFactory(
        name="Borealis Europe",
        slug="borealis-europe",
        countries=["DE", "FR"],
        time_zone="Europe/Berlin",
    )
    cast = Cast(
        org_a=org_a,
        org_b=org_b,
        requester=member(
            org_a, Role.REQUESTER, email="requester@a.test", full_name="Rita Requester"
        ),
        agent=member(org_a, Role.AGENT, email="agent@a.test", full_name="Alex Agent"),
        manager=member(org_a, Role.MANAGER, email="manager@a.test", full_name="Mandla Manager"),
        auditor=member(org_a, Role.AUDITOR, email="auditor@a.test", full_name="Aisha Auditor"),
        admin=member(org_a, Role.ADMIN, email="admin@a.test", full_name="Ade Admin"),
        admin_b=member(org_b, Role.ADMIN, email="admin@b.test", full_name="Birgit Admin"),
        agent_b=member(org_b, Role.AGENT, email="agent@b.test", full_name="Bruno Agent"),
        team_a=TeamFactory(organization=org_a, name="Service Desk A", slug="service-desk-a"),
        team_b=TeamFactory(organization=org_b, name="Service Desk B", slug="service-desk-b"),
    )
    cast.team_a.members.add(cast.agent, cast.manager)
    cast.team_b.members.add(cast.agent_b)
    return cast
