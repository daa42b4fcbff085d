"""Service-desk demo data: a few months of incidents in each demo organisation.

About 1,500 incidents per organisation opened over the last 120 days (more on weekdays and
office hours), mostly P3/P4 and a few P1, each routed to one of the demo teams and worked
by one of its members, on the organisation's CMDB services and CIs, with categories,
resolution times that follow the priority, some on hold, some reopened, comments and work
notes; a past major incident with its children and stakeholder updates; and the one happening
now: the database server ``<site>-dbs-07`` is down, taking Online banking with it.

Written with the bulk paths (one audit record per created row, timelines in one INSERT per
thousand entries) so `opsdesk demo` stays quick. Idempotent: an organisation that already has
demo incidents is left alone. Afterwards the other service-desk apps' ``seed_demo(organization,
people)`` functions run, when those modules exist.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from opsdesk.accounts.models import Membership, Team, User
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.audit import audited_bulk_create, audited_insert_rows
from opsdesk.core.bulk import insert_rows
from opsdesk.core.context import acting_as
from opsdesk.core.models import NUMBER_DIGITS, NumberSequence, Organization
from opsdesk.core.permissions import Role
from opsdesk.servicedesk.choices import (
    DEFAULT_PRIORITY_MATRIX,
    DEFAULT_RESOLUTION_CODES,
    ActivityKind,
    Channel,
    CommunicationAudience,
    HoldReason,
    IncidentState,
    SubjectType,
)
from opsdesk.servicedesk.models import (
    Activity,
    Category,
    CommunicationUpdate,
    Incident,
    ServiceDeskSettings,
)

SOURCE = "demo"
DAYS = 120
PER_ORG = 1500
#: Other apps' demo seeders, called as ``seed_demo(organization, people)`` when present.
SEEDERS = (
    "opsdesk.problems.demo",
    "opsdesk.knowledge.demo",
    "opsdesk.catalog.demo",
    "opsdesk.notify.demo",
    "opsdesk.sla.demo",
    "opsdesk.changes.demo",
    "opsdesk.events.demo",
)
S = IncidentState

#: priority -> share of incidents
PRIORITY_WEIGHTS = {1: 0.01, 2: 0.06, 3: 0.38, 4: 0.45, 5: 0.10}
#: priority -> median hours to resolve (log-normal around it)
RESOLVE_HOURS = {1: 4, 2: 14, 3: 30, 4: 70, 5: 160}
#: (category, subcategory, team, CI classes, services, titles)
CATALOGUE: list[tuple[str, str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = [
    (
        "Hardware",
        "Laptop",
        "Service Desk",
        ("end_user_device",),
        (),
        (
            "Laptop will not boot",
            "Laptop battery drains in an hour",
            "Docking station not detected",
        ),
    ),
    (
        "Hardware",
        "Printer",
        "Service Desk",
        ("network_device", "end_user_device"),
        (),
        (
            "Printer on floor 3 jams",
            "Cannot print to the finance printer",
            "Scanner sends no email",
        ),
    ),
    (
        "Access",
        "Password reset",
        "Service Desk",
        (),
        ("Email and collaboration",),
        ("Password expired, cannot log in", "Locked out after password change"),
    ),
    (
        "Access",
        "Permissions",
        "Application Support",
        ("application",),
        ("ERP", "HR and payroll", "Data warehouse"),
        ("Need access to the finance reports", "Missing role in ERP", "Cannot approve payroll run"),
    ),
    (
        "Software",
        "Email",
        "Platform",
        ("application", "saas_application"),
        ("Email and collaboration",),
        ("Outlook keeps asking for credentials", "Shared mailbox not visible", "Mail delayed"),
    ),
    (
        "Software",
        "Business application",
        "Application Support",
        ("application",),
        ("ERP", "Customer portal", "HR and payroll", "Intranet"),
        (
            "ERP posting fails with a timeout",
            "Customer portal shows error 500",
            "Payslips not generated",
            "Intranet search returns nothing",
        ),
    ),
    (
        "Software",
        "Banking",
        "Application Support",
        ("application",),
        ("Online banking", "Payments"),
        (
            "Customers report slow online banking",
            "Card payments declined intermittently",
            "Instant transfers stuck in pending",
        ),
    ),
    (
        "Network",
        "VPN",
        "Network",
        ("network_device",),
        (),
        ("VPN drops every few minutes", "Cannot connect to VPN from home"),
    ),
    (
        "Network",
        "Wi-Fi and LAN",
        "Network",
        ("network_device",),
        (),
        ("Wi-Fi slow in the meeting rooms", "No network on desk ports in building B"),
    ),
    (
        "Infrastructure",
        "Server",
        "Platform",
        ("server", "k8s_node", "k8s_pod"),
        ("Customer portal", "Intranet", "ERP"),
        ("Disk almost full on a server", "Server unreachable after patching", "Pod restarting"),
    ),
    (
        "Infrastructure",
        "Database",
        "Database",
        ("database",),
        ("Data warehouse", "ERP", "Payments"),
        ("Slow queries on the reporting database", "Database backup failed", "Replication lag"),
    ),
]
COMMENTS = (
    "Thanks, it works again.",
    "Could you try restarting and tell us if it happens again?",
    "We are looking into it and will update you within the hour.",
    "It happens every morning around nine.",
    "Attached a screenshot of the error.",
)
WORK_NOTES = (
    "Checked the logs: timeouts towards the backend since 08:40.",
    "Known behaviour after the last patch; applying the documented workaround.",
    "Escalated to the vendor, case opened.",
    "Cleared the cache and restarted the service.",
    "Reproduced on a test machine.",
)
RESOLUTION_NOTES = {
    "solved_permanently": "Root cause fixed; verified with the requester.",
    "solved_workaround": "Workaround applied; a problem record follows the root cause.",
    "solved_remotely": "Fixed over a remote session.",
    "not_reproducible": "Could not reproduce; the requester confirms it works now.",
    "duplicate": "Duplicate of an incident already being worked.",
    "user_error": "Explained the right steps to the requester.",
    "closed_by_caller": "The requester closed the incident.",
    "no_fault_found": "No fault found after checks.",
}
FIRST_NAMES = (
    "Sipho Dlamini",
    "Ngozi Eze",
    "Otieno Odhiambo",
    "Lerato Mokoena",
    "Kofi Boateng",
    "Zanele Khumalo",
    "Baraka Mwangi",
    "Jonas Schmidt",
    "Elif Yilmaz",
    "Mateo Garcia",
    "Ines Martin",
    "Lars Andersson",
    "Sofia Bianchi",
    "Bram Janssens",
    "Anna Kowalska",
)
REQUESTER_FIRST = (
    "Ayo",
    "Bongani",
    "Chiamaka",
    "Dineo",
    "Emeka",
    "Fatuma",
    "Gugu",
    "Hassan",
    "Imani",
    "Jabu",
    "Kemi",
    "Lindiwe",
    "Musa",
    "Nia",
    "Olu",
    "Palesa",
    "Rahel",
    "Sade",
    "Tariq",
    "Uche",
    "Anja",
    "Bastien",
    "Clara",
    "Dirk",
    "Emma",
    "Felix",
    "Greta",
    "Hugo",
    "Ida",
    "Jan",
    "Klara",
    "Luca",
    "Marta",
    "Nils",
    "Olga",
    "Piet",
)
REQUESTER_LAST = (
    "Adeyemi",
    "Banda",
    "Chukwu",
    "Dube",
    "Fischer",
    "Girard",
    "Hansen",
    "Jansen",
    "Kariuki",
    "Lambert",
    "Moreau",
    "Ndlovu",
    "Okonkwo",
    "Petersen",
    "Ricci",
    "Weber",
)


@dataclass
class _Desk:
    org: Organization
    rng: random.Random
    now: datetime
    teams: dict[str, Team]
    members: dict[str, list[int]]
    requesters: list[int]
    services: dict[str, int]
    cis: dict[str, list[int]]
    categories: dict[tuple[str, str], int]
    names: dict[int, str]
    incidents: list[dict[str, Any]] = field(default_factory=list)
    timelines: list[list[dict[str, Any]]] = field(default_factory=list)


def _domain(org: Organization) -> str:
    from opsdesk.core.demo import ORGS

    spec = next((o for o in ORGS if o.slug == org.slug), None)
    return spec.domain if spec else f"{org.slug}.example"


def _email(name: str, domain: str) -> str:
    first, _, last = name.partition(" ")
    return f"{slugify(first)}.{slugify(last)}@{domain}"


def _people(
    org: Organization, names: list[str], role: str, existing: dict[str, User]
) -> list[User]:
    """Users with `role` in `org`, created in bulk (they cannot log in: no password)."""
    domain = _domain(org)
    emails = [_email(n, domain) for n in names]
    found = {u.email: u for u in User.objects.filter(email__in=emails)}
    new = [
        User(
            email=email,
            full_name=name,
            password=UNUSABLE_PASSWORD_PREFIX + secrets.token_urlsafe(30),
        )
        for name, email in zip(names, emails, strict=True)
        if email not in found
    ]
    audited_bulk_create(User, new)
    found.update({u.email: u for u in new})
    users = [found[e] for e in emails]
    members = set(
        Membership.objects.filter(organization=org, user__in=users).values_list(
            "user_id", flat=True
        )
    )
    audited_insert_rows(
        Membership,
        [
            {"user_id": u.pk, "organization_id": org.pk, "role": role}
            for u in users
            if u.pk not in members
        ],
        lambda r: f"user {r['user_id']} — {r['role']}",
    )
    existing.update({u.email: u for u in users})
    return users


def _pick_weighted(rng: random.Random, weights: dict[int, float]) -> int:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _impact_urgency(rng: random.Random, priority: int) -> tuple[int, int]:
    pairs = [
        tuple(map(int, k.split(","))) for k, p in DEFAULT_PRIORITY_MATRIX.items() if p == priority
    ]
    return rng.choice(pairs)  # type: ignore[return-value]


def _opened_at(rng: random.Random, now: datetime) -> datetime:
    while True:
        moment = now - timedelta(seconds=rng.uniform(0, DAYS * 86400))
        weekday = moment.weekday() < 5
        office = 7 <= moment.hour < 18
        if rng.random() < (0.9 if weekday and office else 0.25 if weekday else 0.1):
            return moment.replace(microsecond=0)


def _duration(rng: random.Random, priority: int) -> timedelta:
    hours = RESOLVE_HOURS[priority] * math.exp(rng.gauss(0, 0.6))
    if priority >= 3 and rng.random() < 0.12:
        hours *= rng.uniform(3, 12)  # the long tail: waiting for parts, people, vendors
    return timedelta(minutes=max(10, int(hours * 60)))


def _entry(
    at: datetime, kind: str, actor: int | None, names: dict[int, str], **extra: Any
) -> dict[str, Any]:
    return {
        "at": at,
        "kind": kind,
        "actor_id": actor,
        "actor_name": names.get(actor, "OpsDesk") if actor else "OpsDesk",
        "public": extra.pop("public", kind in (ActivityKind.CREATED, ActivityKind.STATE)),
        "body": extra.pop("body", ""),
        "data": extra.pop("data", {}),
    }


def _incident(
    desk: _Desk,
    *,
    opened_at: datetime,
    priority: int,
    spec: tuple[str, str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...]],
    state: str | None = None,
    title: str | None = None,
    service: int | None = None,
    ci: int | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One incident row and its timeline, worked as a real one would be."""
    rng, names = desk.rng, desk.names
    category, subcategory, team_name, ci_classes, services, titles = spec
    team = desk.teams[team_name]
    assignee = rng.choice(desk.members[team_name]) if desk.members[team_name] else None
    requester = rng.choice(desk.requesters)
    impact, urgency = _impact_urgency(rng, priority)
    if service is None and services:
        service = desk.services.get(rng.choice(services))
    if ci is None and ci_classes:
        pool = [c for k in ci_classes for c in desk.cis.get(k, [])]
        ci = rng.choice(pool) if pool else None
    channel = rng.choices(
        [Channel.PORTAL, Channel.EMAIL, Channel.PHONE, Channel.CHAT, Channel.EVENT],
        weights=[40, 30, 18, 7, 5],
    )[0]
    row: dict[str, Any] = {
        "organization_id": desk.org.pk,
        "title": title or rng.choice(titles),
        "description": "Reported through the " + Channel(channel).label.lower() + ".",
        "requester_id": requester,
        "channel": channel,
        "service_id": service,
        "ci_id": ci,
        "category_id": desk.categories[(category, "")],
        "subcategory_id": desk.categories[(category, subcategory)],
        "impact": impact,
        "urgency": urgency,
        "priority": priority,
        "state": S.NEW,
        "hold_reason": "",
        "assignment_group_id": team.pk,
        "assignee_id": None,
        "opened_at": opened_at,
        "source": SOURCE,
        "reassignment_count": 0,
        "reopen_count": 0,
        "location": "",
    }
    events = [
        _entry(
            opened_at,
            ActivityKind.CREATED,
            requester,
            names,
            data={"state": S.NEW, "priority": priority, "channel": channel},
        )
    ]
    at = opened_at + timedelta(minutes=rng.randint(2, 25 if priority <= 2 else 180))
    elapsed = _duration(rng, priority)
    resolve_at = opened_at + elapsed
    if state is None:
        if resolve_at < desk.now:
            state = S.CLOSED if resolve_at + timedelta(days=7) < desk.now else S.RESOLVED
        else:
            state = rng.choices([S.NEW, S.IN_PROGRESS, S.ON_HOLD], weights=[15, 65, 20])[0]
    if state == S.NEW or at >= desk.now:
        row["assignee_id"] = None
        desk.incidents.append(row)
        desk.timelines.append(events)
        return row
    # Assigned, then worked.
    row["assignee_id"] = assignee
    row["first_assigned_at"] = at
    events.append(
        _entry(
            at,
            ActivityKind.ASSIGNED,
            None,
            names,
            data={
                "group": team.name,
                "group_id": team.pk,
                "assignee": names.get(assignee),
                "assignee_id": assignee,
                "from_group": None,
                "from_assignee": None,
            },
        )
    )
    at += timedelta(minutes=rng.randint(1, 30))
    events.append(
        _entry(
            at,
            ActivityKind.STATE,
            assignee,
            names,
            data={"from": S.NEW, "to": S.IN_PROGRESS, "transition": "start"},
        )
    )
    row["state"] = S.IN_PROGRESS
    if rng.random() < 0.6:
        note_at = at + (min(resolve_at, desk.now) - at) * rng.uniform(0.1, 0.5)
        events.append(
            _entry(note_at, ActivityKind.WORK_NOTE, assignee, names, body=rng.choice(WORK_NOTES))
        )
    if rng.random() < 0.5:
        comment_at = at + (min(resolve_at, desk.now) - at) * rng.uniform(0.2, 0.7)
        events.append(
            _entry(
                comment_at,
                ActivityKind.COMMENT,
                requester,
                names,
                public=True,
                body=rng.choice(COMMENTS),
            )
        )
    held = state == S.ON_HOLD or (state != S.IN_PROGRESS and rng.random() < 0.12)
    if held:
        hold_at = at + (min(resolve_at, desk.now) - at) * rng.uniform(0.2, 0.5)
        reason = rng.choice(HoldReason.values)
        events.append(
            _entry(
                hold_at,
                ActivityKind.STATE,
                assignee,
                names,
                data={
                    "from": S.IN_PROGRESS,
                    "to": S.ON_HOLD,
                    "transition": "hold",
                    "hold_reason": reason,
                },
            )
        )
        if state == S.ON_HOLD:
            row["state"], row["hold_reason"] = S.ON_HOLD, reason
        else:
            back = hold_at + (resolve_at - hold_at) * rng.uniform(0.3, 0.8)
            events.append(
                _entry(
                    back,
                    ActivityKind.STATE,
                    assignee,
                    names,
                    data={"from": S.ON_HOLD, "to": S.IN_PROGRESS, "transition": "start"},
                )
            )
    if state in (S.RESOLVED, S.CLOSED):
        code = rng.choices(DEFAULT_RESOLUTION_CODES, weights=[40, 15, 20, 6, 5, 8, 3, 3])[0]
        reopened = rng.random() < 0.04
        if reopened:
            first = opened_at + elapsed * 0.6
            events.append(
                _entry(
                    first,
                    ActivityKind.STATE,
                    assignee,
                    names,
                    body=RESOLUTION_NOTES[code],
                    data={
                        "from": S.IN_PROGRESS,
                        "to": S.RESOLVED,
                        "transition": "resolve",
                        "resolution_code": code,
                    },
                )
            )
            events.append(
                _entry(
                    first + elapsed * 0.2,
                    ActivityKind.STATE,
                    requester,
                    names,
                    body="It is broken again.",
                    data={
                        "from": S.RESOLVED,
                        "to": S.IN_PROGRESS,
                        "transition": "reopen",
                        "reason": "It is broken again.",
                    },
                )
            )
            row["reopen_count"] = 1
        events.append(
            _entry(
                resolve_at,
                ActivityKind.STATE,
                assignee,
                names,
                body=RESOLUTION_NOTES[code],
                data={
                    "from": S.IN_PROGRESS,
                    "to": S.RESOLVED,
                    "transition": "resolve",
                    "resolution_code": code,
                },
            )
        )
        row.update(
            state=S.RESOLVED,
            resolution_code=code,
            resolution_notes=RESOLUTION_NOTES[code],
            resolved_at=resolve_at,
            resolved_by_id=assignee,
            first_contact_resolution=(
                not reopened and team_name == "Service Desk" and rng.random() < 0.5
            ),
        )
        if state == S.CLOSED:
            closed_at = resolve_at + timedelta(days=7)
            events.append(
                _entry(
                    closed_at,
                    ActivityKind.STATE,
                    None,
                    names,
                    body="Closed automatically 7 days after resolution.",
                    data={
                        "from": S.RESOLVED,
                        "to": S.CLOSED,
                        "transition": "close",
                        "automatic": True,
                    },
                )
            )
            row.update(state=S.CLOSED, closed_at=closed_at)
    if extra:
        row.update(extra)
    desk.incidents.append(row)
    desk.timelines.append(events)
    return row


def _setup(organization: Organization, people: dict[str, User], now: datetime) -> _Desk:
    rng = random.Random(f"servicedesk-{organization.slug}")  # noqa: S311 (demo data)
    teams = {t.name: t for t in Team.objects.filter(organization=organization)}
    wanted = {spec[2] for spec in CATALOGUE}
    missing = sorted(wanted - set(teams))
    if missing:
        created = [Team(organization=organization, name=n, slug=slugify(n)) for n in missing]
        audited_bulk_create(Team, created)
        teams.update({t.name: t for t in created})
    existing: dict[str, User] = {}
    # Three more agents per team, so queues have several people; the named demo agent is on
    # the service desk and the manager everywhere.
    pool = list(FIRST_NAMES)
    rng.shuffle(pool)
    members: dict[str, list[int]] = {}
    for i, name in enumerate(sorted(wanted)):
        agents = _people(
            organization, pool[(i * 3) % len(pool) : (i * 3) % len(pool) + 3], Role.AGENT, existing
        )
        team = teams[name]
        have = set(team.members.values_list("pk", flat=True))
        add = [a for a in agents if a.pk not in have]
        if add:
            team.members.add(*add)
        members[name] = sorted(have | {a.pk for a in agents})
    requester_names = sorted(
        {f"{rng.choice(REQUESTER_FIRST)} {rng.choice(REQUESTER_LAST)}" for _ in range(90)}
    )
    requesters = [u.pk for u in _people(organization, requester_names, Role.REQUESTER, existing)]
    for role in (Role.REQUESTER,):
        if role in people:
            requesters.extend([people[role].pk] * 8)  # the demo requester raises a few more
    names = {u.pk: u.full_name for u in existing.values()}
    names.update({u.pk: u.full_name for u in people.values()})
    names.update(
        dict(
            User.objects.filter(pk__in={m for ms in members.values() for m in ms}).values_list(
                "pk", "full_name"
            )
        )
    )
    cis: dict[str, list[int]] = {}
    services: dict[str, int] = {}
    for pk, name, key, is_service in ConfigurationItem.objects.filter(
        organization=organization
    ).values_list("pk", "name", "ci_class__key", "ci_class__is_service"):
        cis.setdefault(key, []).append(pk)
        if is_service:
            services[name] = pk
    known: dict[tuple[str, str], int] = {}
    rows = list(
        Category.objects.filter(organization=organization).values_list("pk", "name", "parent_id")
    )
    by_pk = {pk: name for pk, name, _ in rows}
    for pk, name, parent in rows:
        known[(by_pk[parent], name) if parent else (name, "")] = pk
    tops = sorted({c for c, *_ in CATALOGUE if (c, "") not in known})
    new = [Category(organization=organization, name=n) for n in tops]
    audited_bulk_create(Category, new)
    known.update({(c.name, ""): c.pk for c in new})
    subs = sorted({(c, s) for c, s, *_ in CATALOGUE if (c, s) not in known})
    new_subs = [
        Category(organization=organization, name=s, parent_id=known[(c, "")]) for c, s in subs
    ]
    audited_bulk_create(Category, new_subs)
    known.update({(c, s): cat.pk for (c, s), cat in zip(subs, new_subs, strict=True)})
    return _Desk(
        org=organization,
        rng=rng,
        now=now,
        teams=teams,
        members=members,
        requesters=requesters,
        services=services,
        cis=cis,
        categories=known,
        names=names,
    )


def _major(
    desk: _Desk,
    *,
    title: str,
    service: str,
    ci: int | None,
    team: str,
    opened_at: datetime,
    state: str,
    manager: User | None,
    children: list[str],
    updates: list[str],
) -> None:
    spec = next((c for c in CATALOGUE if c[2] == team and service in c[4]), None) or next(
        c for c in CATALOGUE if c[2] == team
    )
    service_id = desk.services.get(service)
    declared = opened_at + timedelta(minutes=6)
    parent = _incident(
        desk,
        opened_at=opened_at,
        priority=1,
        spec=spec,
        state=state,
        title=title,
        service=service_id,
        ci=ci,
        extra={
            "is_major": True,
            "major_manager_id": manager.pk if manager else None,
            "major_declared_at": declared,
            "impact": 1,
            "urgency": 1,
        },
    )
    parent["_children"] = []
    parent["_updates"] = updates
    desk.timelines[-1].append(
        _entry(
            declared,
            ActivityKind.MAJOR,
            manager.pk if manager else None,
            desk.names,
            public=True,
            data={"declared": True, "manager": manager.full_name if manager else None},
        )
    )
    end = parent.get("resolved_at") or desk.now
    for i, child_title in enumerate(children):
        at = opened_at + (end - opened_at) * (0.05 + 0.6 * i / max(1, len(children)))
        child = _incident(
            desk,
            opened_at=at.replace(microsecond=0),
            priority=desk.rng.choice([2, 3, 3]),
            spec=spec,
            state=S.NEW if state != S.CLOSED else S.CLOSED,
            title=child_title,
            service=service_id,
            ci=ci,
        )
        if state == S.CLOSED:
            child.update(
                resolved_at=parent["resolved_at"],
                closed_at=parent["closed_at"],
                resolution_code="solved_permanently",
                resolution_notes=f"Resolved with the major incident: {title}.",
            )
        parent["_children"].append(child)


def _write(desk: _Desk, manager: User | None) -> dict[str, int]:
    org = desk.org
    order = sorted(range(len(desk.incidents)), key=lambda i: desk.incidents[i]["opened_at"])
    sequence, _ = NumberSequence.objects.select_for_update().get_or_create(
        organization=org, prefix=Incident.number_prefix
    )
    for i in order:
        sequence.last_value += 1
        row = desk.incidents[i]
        row["number"] = f"{Incident.number_prefix}{sequence.last_value:0{NUMBER_DIGITS}d}"
        row["created_at"] = row["opened_at"]
    sequence.save(update_fields=["last_value"])
    majors = [i for i, r in enumerate(desk.incidents) if "_children" in r]
    rest = [i for i in range(len(desk.incidents)) if i not in set(majors)]
    keys: dict[int, int] = {}
    extras = {
        i: (desk.incidents[i].pop("_children"), desk.incidents[i].pop("_updates")) for i in majors
    }
    describe = lambda r: f"{r['number']} {r['title']}"  # noqa: E731
    for i, key in zip(
        majors,
        audited_insert_rows(Incident, [desk.incidents[i] for i in majors], describe),
        strict=True,
    ):
        keys[i] = key
        for child in extras[i][0]:
            child["parent_id"] = key
    for start in range(0, len(rest), 1000):
        chunk = rest[start : start + 1000]
        for i, key in zip(
            chunk,
            audited_insert_rows(Incident, [desk.incidents[i] for i in chunk], describe),
            strict=True,
        ):
            keys[i] = key
    activities = [
        {
            "organization_id": org.pk,
            "subject_type": SubjectType.INCIDENT,
            "subject_id": keys[i],
            **entry,
        }
        for i in range(len(desk.incidents))
        for entry in desk.timelines[i]
        if entry["at"] <= desk.now
    ]
    insert_rows(Activity, activities)
    updates = []
    for i in majors:
        start_at = desk.incidents[i]["major_declared_at"]
        for n, body in enumerate(extras[i][1]):
            updates.append(
                CommunicationUpdate(
                    organization=org,
                    incident_id=keys[i],
                    audience=[
                        CommunicationAudience.STAKEHOLDERS,
                        CommunicationAudience.CUSTOMERS,
                        CommunicationAudience.EXECUTIVES,
                    ][n % 3],
                    channel="email" if n % 2 == 0 else "status page",
                    body=body,
                    sent_by=manager,
                    sent_at=min(desk.now, start_at + timedelta(minutes=15 + 40 * n)),
                )
            )
    audited_bulk_create(CommunicationUpdate, updates)
    return {"incidents": len(desk.incidents), "activities": len(activities)}


@transaction.atomic
def load_servicedesk_demo(
    *,
    organization: Organization,
    acting_user: Any,
    people: dict[str, User],
    per_org: int = PER_ORG,
    seed_other_apps: bool = True,
) -> dict[str, Any]:
    """Create the service-desk demo of `organization` (once); `people` are its named demo
    users by role. Then run the other apps' ``seed_demo(organization, people)``."""
    result: dict[str, Any] = {"incidents": 0, "activities": 0, "seeded": [], "missing": []}
    with acting_as(acting_user):
        ServiceDeskSettings.for_org(organization.pk)
        if not Incident.objects.filter(organization=organization, source=SOURCE).exists():
            now = timezone.now().replace(microsecond=0)
            desk = _setup(organization, people, now)
            manager = people.get(Role.MANAGER)
            for _ in range(per_org):
                priority = _pick_weighted(desk.rng, PRIORITY_WEIGHTS)
                spec = desk.rng.choice(CATALOGUE)
                _incident(desk, opened_at=_opened_at(desk.rng, now), priority=priority, spec=spec)
            # The named demo agent works part of the service-desk queue.
            agent = people.get(Role.AGENT)
            desk_team = desk.teams.get("Service Desk")
            if agent is not None and desk_team is not None:
                for row in desk.incidents[::9]:
                    if row["assignment_group_id"] == desk_team.pk and row["assignee_id"]:
                        row["assignee_id"] = agent.pk
            dbs = (
                ConfigurationItem.objects.filter(
                    organization=organization, name__endswith="-dbs-07"
                )
                .values_list("pk", "name")
                .first()
            )
            server_name = dbs[1] if dbs else "the core banking database server"
            _major(
                desk,
                title="Card payments failing across all channels",
                service="Payments",
                ci=None,
                team="Application Support",
                opened_at=(now - timedelta(days=40)).replace(hour=9, minute=12, second=0),
                state=S.CLOSED,
                manager=manager,
                children=[
                    "Card declined at checkout",
                    "Payment terminal shows error 05",
                    "Customers cannot pay online",
                    "Refunds not processed",
                    "Merchant reports failed settlements",
                ],
                updates=[
                    "We are investigating failures of card payments. Next update in 30 minutes.",
                    "Cause found in the payments switch; a fix is being deployed.",
                    "Card payments work again since 12:05. A review will follow.",
                ],
            )
            _major(
                desk,
                title=f"Online banking down: database server {server_name} not responding",
                service="Online banking",
                ci=dbs[0] if dbs else None,
                team="Database",
                opened_at=now - timedelta(minutes=45),
                state=S.IN_PROGRESS,
                manager=manager,
                children=[
                    "Cannot log in to online banking",
                    "Online banking shows 'service unavailable'",
                    "Transfers fail with a timeout",
                    "Business banking portal very slow",
                    "Mobile app cannot load accounts",
                    "Call centre flooded with online banking calls",
                ],
                updates=[
                    f"Online banking is unavailable. {server_name} does not respond; the "
                    "database team is on it. Next update in 30 minutes.",
                ],
            )
            result.update(_write(desk, manager))
    if seed_other_apps:
        for name in SEEDERS:
            try:
                found = importlib.util.find_spec(name)
            except ModuleNotFoundError:  # the app itself is not there
                found = None
            if found is None:
                result["missing"].append(name)
                continue
            seed = getattr(importlib.import_module(name), "seed_demo", None)
            if seed is None:
                result["missing"].append(name)
                continue
            seed(organization, people)
            result["seeded"].append(name)
    return result
