"""Demo problems and known errors on the demo CMDB (see `opsdesk.cmdb.demo`).

The story: the core banking database (``corebank-db`` on ``<site>-dbs-07``) stalls when its
archive log fills at month end, which takes Online banking and Payments down; Outlook loops
on password prompts after a password change; the main firewall drops long VPN sessions; an
expired certificate on the payments API was fixed and its known error retired.

`seed_demo` is idempotent: a problem or known error whose title already exists in the
organisation is left as it is. Everything goes through the actions, so the demo has real
timelines and an audit trail. Open incidents already on a problem's CI are linked to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from opsdesk.accounts.models import Membership, Team, User
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action, Role, has_permission
from opsdesk.problems import actions
from opsdesk.problems.models import KnownError, Problem
from opsdesk.servicedesk.choices import OPEN_STATES
from opsdesk.servicedesk.models import Incident


@dataclass
class DemoKnownError:
    title: str
    symptoms: str
    workaround: str
    root_cause: str = ""
    cis: list[str] = field(default_factory=list)  # names, or "*-suffix" for the site's host
    retired: bool = False


@dataclass
class DemoProblem:
    title: str
    description: str
    priority: int
    ci: str
    service: str
    team: str
    #: transitions to walk, with their values
    steps: list[tuple[str, dict[str, Any]]]
    rca_notes: str = ""
    root_cause: str = ""
    workaround: str = ""
    known_error: DemoKnownError | None = None


PROBLEMS = [
    DemoProblem(
        title="Core banking database stalls during the month-end batch",
        description="Online banking and Payments time out for 10-40 minutes on the last "
        "business day of each month while the batch runs.",
        priority=1,
        ci="corebank-db",
        service="Online banking",
        team="Database",
        rca_notes="Timeline of the last three month-ends matched ORA-00257 in the alert log. "
        "Archive log destination at 100% each time; the batch writes ~400 GB of redo.",
        root_cause="The archive log destination is sized for daily load; the month-end batch "
        "fills it and the database suspends writes until logs are purged.",
        workaround="Purge archived logs already backed up (RMAN delete archivelog backed up 1 "
        "times) and move the destination to the spare LUN; service resumes within minutes.",
        steps=[("assess", {}), ("analyse", {}), ("fix", {})],
        known_error=DemoKnownError(
            title="Online banking and payments hang: corebank-db archive log full",
            symptoms="Online banking timeout, payments timeout, transfers pending, "
            "ORA-00257 archiver error, month end batch.",
            workaround="Purge archived logs already backed up and switch the archive "
            "destination to the spare LUN (runbook DB-017).",
            cis=["corebank-db", "*-dbs-07"],
        ),
    ),
    DemoProblem(
        title="Outlook asks for the password again and again after a password change",
        description="Tens of calls after every password-expiry wave.",
        priority=3,
        ci="exchange-hybrid",
        service="Email and collaboration",
        team="Platform",
        rca_notes="Reproduced on Windows 11 23H2 with cached credentials of the old password.",
        workaround="Remove the Outlook entries from Windows Credential Manager, then restart "
        "Outlook and sign in once.",
        steps=[("analyse", {})],
        known_error=DemoKnownError(
            title="Outlook password prompt loop after password change",
            symptoms="Outlook keeps asking for password, disconnected, credentials prompt, "
            "password change.",
            workaround="Remove the Outlook entries from Windows Credential Manager, then "
            "restart Outlook and sign in once.",
            cis=["exchange-hybrid", "Microsoft 365"],
        ),
    ),
    DemoProblem(
        title="VPN sessions drop every 30 minutes through the main firewall",
        description="Remote staff lose VPN and Citrix sessions on the half hour.",
        priority=2,
        ci="*-fw-01",
        service="",
        team="Network",
        steps=[("assess", {})],
    ),
    DemoProblem(
        title="Payments API certificate expired",
        description="Card payments failed for 25 minutes: TLS handshake errors.",
        priority=1,
        ci="payments-db",
        service="Payments",
        team="Application Support",
        root_cause="The certificate was renewed in the vault but not rolled out to the API "
        "gateway; no expiry monitoring on that endpoint.",
        workaround="Deploy the renewed certificate by hand.",
        steps=[
            ("analyse", {}),
            ("resolve", {"resolution_notes": "Certificate automation and expiry alerts added."}),
            ("close", {}),
        ],
        known_error=DemoKnownError(
            title="Payments fail with TLS handshake errors: certificate expired",
            symptoms="Card payments fail, TLS handshake error, certificate expired.",
            workaround="Deploy the renewed certificate to the API gateway by hand.",
            cis=["payments-db"],
            retired=True,
        ),
    ),
]

STANDALONE = [
    DemoKnownError(
        title="VPN disconnects with error 809 on home routers",
        symptoms="VPN timeout, disconnected, error 809, home Wi-Fi, cannot connect.",
        workaround="Switch the VPN client to the SSL profile (port 443) instead of IKEv2.",
        root_cause="Some home routers drop IPsec NAT-T keepalives.",
        cis=["*-fw-01"],
    ),
]


def _acting_user(organization: Organization, people: Any) -> User:
    """Someone of `people` who may work problems here, else the organisation's first agent,
    manager or admin."""
    candidates: list[Any] = []
    if isinstance(people, Mapping):
        candidates = list(people.values())
    elif isinstance(people, Iterable) and not isinstance(people, str | bytes):
        candidates = list(people)
    for person in candidates:
        if isinstance(person, User) and has_permission(
            person, Problem, Action.CHANGE, organization.pk
        ):
            return person
    for role in (Role.AGENT, Role.MANAGER, Role.ADMIN):
        membership = (
            Membership.objects.filter(organization=organization, role=role)
            .select_related("user")
            .order_by("pk")
            .first()
        )
        if membership is not None:
            return membership.user
    raise ValueError(f"{organization.name} has nobody who may work problems.")


def _ci(organization: Organization, name: str) -> ConfigurationItem | None:
    if not name:
        return None
    qs = ConfigurationItem.objects.filter(organization=organization).select_related("ci_class")
    if name.startswith("*"):
        return qs.filter(name__endswith=name[1:]).order_by("name").first()
    return qs.filter(name=name).first()


def _known_error(
    organization: Organization, user: User, spec: DemoKnownError, problem: Problem | None
) -> None:
    if KnownError.objects.filter(organization=organization, title=spec.title).exists():
        return
    cis = [c for c in (_ci(organization, name) for name in spec.cis) if c is not None]
    ke = actions.create_known_error(
        acting_user=user,
        organization=organization,
        title=spec.title,
        symptoms=spec.symptoms,
        root_cause=spec.root_cause or (problem.root_cause if problem else ""),
        workaround=spec.workaround,
        problem=problem,
        cis=cis,
    )
    if spec.retired:
        actions.retire_known_error(
            acting_user=user, known_error=ke, reason="The cause is fixed for good."
        )


@transaction.atomic
def seed_demo(organization: Organization, people: Any = None) -> dict[str, int]:
    """Create the demo problems and known errors of `organization` (idempotent); returns how
    many of each were created."""
    user = _acting_user(organization, people)
    created = {"problems": 0, "known_errors": 0}
    before_ke = KnownError.objects.filter(organization=organization).count()
    for spec in PROBLEMS:
        problem = Problem.objects.filter(organization=organization, title=spec.title).first()
        if problem is None:
            ci = _ci(organization, spec.ci)
            service = _ci(organization, spec.service)
            if service is not None and not service.ci_class.is_service:
                service = None
            team = Team.objects.filter(organization=organization, name=spec.team).first()
            problem = actions.create_problem(
                acting_user=user,
                organization=organization,
                title=spec.title,
                description=spec.description,
                priority=spec.priority,
                ci=ci,
                service=service,
                assignment_group=team,
                assignee=user
                if team is not None and team.members.filter(pk=user.pk).exists()
                else None,
                rca_notes=spec.rca_notes,
                root_cause=spec.root_cause,
                workaround=spec.workaround,
            )
            if ci is not None:
                incidents = list(
                    Incident.objects.filter(
                        organization=organization,
                        ci=ci,
                        state__in=OPEN_STATES,
                        problem__isnull=True,
                    ).order_by("-opened_at")[:5]
                )
                if incidents:
                    actions.link_incidents(acting_user=user, problem=problem, incidents=incidents)
            for transition, values in spec.steps:
                actions.transition_problem(
                    acting_user=user, problem=problem, transition=transition, **values
                )
            created["problems"] += 1
        if spec.known_error is not None:
            _known_error(organization, user, spec.known_error, problem)
    for spec in STANDALONE:
        _known_error(organization, user, spec, None)
    created["known_errors"] = (
        KnownError.objects.filter(organization=organization).count() - before_ke
    )
    return created
