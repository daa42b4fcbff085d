"""Demo data of the catalogue: ten catalogue items with forms, approvals and tasks, and a few
hundred requests over the last 90 days in every state, made through the actions so each has
its approvals, tasks and timeline. Also satisfaction surveys (some answered) for fulfilled
requests and resolved demo incidents, for the CSAT figures.

`seed_demo(organization, people)` is idempotent: it does nothing for an organisation that
already has demo requests.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from opsdesk.accounts.actions import create_team
from opsdesk.accounts.models import Membership, Team, User
from opsdesk.catalog import actions
from opsdesk.catalog.choices import ApprovalState, ItemState, TaskState
from opsdesk.catalog.models import Approval, CatalogItem, FulfilmentTask, ServiceRequest
from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Role

DAYS = 90
REQUESTS = 60
#: The department whose manager approves the demo requesters' orders.
BUSINESS_TEAM = "Finance and Operations"

SURVEY_COMMENTS = {
    5: ["Quick and friendly, thank you!", "Perfect.", "Sorted the same day."],
    4: ["Good, a bit slow to start.", "Thanks, works now."],
    3: ["OK in the end.", "Took a few reminders."],
    2: ["Too long without news.", "Had to call twice."],
    1: ["Still waiting for a proper answer.", "Nobody told me anything."],
}


def _items(teams: dict[str, Team], approver_ids: list[int]) -> list[dict[str, Any]]:
    desk = teams.get("Service Desk")
    platform = teams.get("Platform", desk)
    network = teams.get("Network", desk)
    apps = teams.get("Application Support", desk)
    t = {
        k: v.pk
        for k, v in {"desk": desk, "platform": platform, "network": network, "apps": apps}.items()
        if v
    }
    named = {"kind": "users", "user_ids": approver_ids, "rule": "any", "label": "IT management"}
    return [
        {
            "name": "New laptop",
            "category": "Hardware",
            "description": "A standard or developer laptop, imaged with our software and ready.",
            "delivery_days": 5,
            "form": [
                {
                    "name": "model",
                    "label": "Model",
                    "type": "choice",
                    "required": True,
                    "choices": ['Standard 14"', 'Developer 16"', 'Ultralight 13"'],
                },
                {"name": "needed_by", "label": "Needed by", "type": "date", "required": True},
                {
                    "name": "reason",
                    "label": "Why do you need it?",
                    "type": "textarea",
                    "required": True,
                },
            ],
            "approval_steps": [{"kind": "manager"}],
            "tasks": [
                {"title": "Image the laptop", "team_id": t["desk"], "order": 1},
                {"title": "Hand over the laptop", "team_id": t["desk"], "order": 2},
            ],
        },
        {
            "name": "Monitor or accessories",
            "category": "Hardware",
            "description": "Monitor, docking station, headset, keyboard or mouse.",
            "delivery_days": 3,
            "form": [
                {
                    "name": "items",
                    "label": "What do you need?",
                    "type": "multichoice",
                    "required": True,
                    "choices": ['27" monitor', "Docking station", "Headset", "Keyboard", "Mouse"],
                },
                {"name": "desk", "label": "Desk or office", "type": "text"},
            ],
            "approval_steps": [],
            "tasks": [{"title": "Deliver the accessories", "team_id": t["desk"], "order": 1}],
        },
        {
            "name": "Mobile phone",
            "category": "Hardware",
            "description": "A company smartphone with a business line.",
            "delivery_days": 7,
            "form": [
                {
                    "name": "model",
                    "label": "Model",
                    "type": "choice",
                    "required": True,
                    "choices": ["Standard Android", "Standard iPhone"],
                },
                {"name": "roaming", "label": "I travel abroad for work", "type": "checkbox"},
            ],
            "approval_steps": [{"kind": "manager"}, named],
            "tasks": [
                {"title": "Order the phone and SIM", "team_id": t["network"], "order": 1},
                {"title": "Enrol the phone in device management", "team_id": t["desk"], "order": 2},
            ],
        },
        {
            "name": "Software access",
            "category": "Access",
            "description": "Access to a business application (ERP, CRM, HR and payroll...).",
            "delivery_days": 2,
            "form": [
                {
                    "name": "system",
                    "label": "Application",
                    "type": "choice",
                    "required": True,
                    "choices": ["ERP", "CRM", "HR and payroll", "Intranet"],
                },
                {
                    "name": "access",
                    "label": "Access level",
                    "type": "choice",
                    "required": True,
                    "choices": ["Read only", "Standard user", "Power user"],
                },
                {"name": "like", "label": "Same access as (colleague)", "type": "user"},
            ],
            "approval_steps": [{"kind": "manager"}, {"kind": "group", "team_id": t["apps"]}],
            "tasks": [{"title": "Grant the access", "team_id": t["apps"], "order": 1}],
        },
        {
            "name": "VPN access",
            "category": "Access",
            "description": "Work from home or on the road through the company VPN.",
            "delivery_days": 1,
            "form": [
                {"name": "until", "label": "Needed until (leave empty: permanent)", "type": "date"},
                {
                    "name": "accept",
                    "label": "I have read the remote-access policy",
                    "type": "checkbox",
                    "required": True,
                },
            ],
            "approval_steps": [{"kind": "manager"}],
            "tasks": [{"title": "Add to the VPN group", "team_id": t["network"], "order": 1}],
        },
        {
            "name": "Administrator rights",
            "category": "Access",
            "description": "Local administrator rights on your computer, for a limited time.",
            "delivery_days": 2,
            "form": [
                {"name": "device", "label": "Computer", "type": "ci"},
                {"name": "days", "label": "For how many days?", "type": "number", "required": True},
                {"name": "reason", "label": "What for?", "type": "textarea", "required": True},
            ],
            "approval_steps": [
                {"kind": "manager"},
                {**named, "rule": "all", "label": "Security and IT management"},
            ],
            "tasks": [{"title": "Grant temporary admin rights", "team_id": t["desk"], "order": 1}],
        },
        {
            "name": "Shared mailbox",
            "category": "Communication",
            "description": "A mailbox a team shares, e.g. invoices@ or support@.",
            "delivery_days": 2,
            "form": [
                {"name": "address", "label": "Address wanted", "type": "text", "required": True},
                {
                    "name": "members",
                    "label": "Who needs access? (one per line)",
                    "type": "textarea",
                    "required": True,
                },
            ],
            "approval_steps": [],
            "tasks": [{"title": "Create the mailbox", "team_id": t["platform"], "order": 1}],
        },
        {
            "name": "New starter",
            "category": "People",
            "description": "Everything a new colleague needs on day one.",
            "delivery_days": 10,
            "form": [
                {"name": "full_name", "label": "Full name", "type": "text", "required": True},
                {"name": "start_date", "label": "Start date", "type": "date", "required": True},
                {"name": "role", "label": "Job title", "type": "text", "required": True},
                {
                    "name": "laptop",
                    "label": "Laptop",
                    "type": "choice",
                    "required": True,
                    "choices": ['Standard 14"', 'Developer 16"'],
                },
                {
                    "name": "systems",
                    "label": "Systems",
                    "type": "multichoice",
                    "choices": ["ERP", "CRM", "HR and payroll", "Intranet"],
                },
            ],
            "approval_steps": [{"kind": "manager"}],
            "tasks": [
                {"title": "Create the account and mailbox", "team_id": t["desk"], "order": 1},
                {"title": "Prepare the laptop", "team_id": t["desk"], "order": 1},
                {"title": "Grant application access", "team_id": t["apps"], "order": 2},
                {"title": "Welcome session on day one", "team_id": t["desk"], "order": 3},
            ],
        },
        {
            "name": "Leaver",
            "category": "People",
            "description": "Close the accounts and collect the equipment of someone leaving.",
            "delivery_days": 3,
            "form": [
                {"name": "full_name", "label": "Full name", "type": "text", "required": True},
                {"name": "last_day", "label": "Last working day", "type": "date", "required": True},
                {"name": "forward_to", "label": "Forward their mail to", "type": "user"},
            ],
            "approval_steps": [],
            "tasks": [
                {"title": "Disable accounts", "team_id": t["desk"], "order": 1},
                {"title": "Collect the laptop and phone", "team_id": t["desk"], "order": 2},
            ],
        },
        {
            "name": "Meeting room equipment",
            "category": "Facilities",
            "description": "Video-conferencing set-up or support for an event.",
            "delivery_days": 2,
            "form": [
                {"name": "room", "label": "Room", "type": "text", "required": True},
                {"name": "date", "label": "Date", "type": "date", "required": True},
                {"name": "attendees", "label": "Expected attendees", "type": "number"},
            ],
            "approval_steps": [],
            "tasks": [{"title": "Set up the room", "team_id": t["desk"], "order": 1}],
        },
    ]


def _answers(
    rng: random.Random, item: CatalogItem, when: Any, people: list[User], cis: list[int]
) -> dict:
    answers: dict[str, Any] = {}
    for field in item.form:
        kind, name = field["type"], field["name"]
        if not field.get("required") and rng.random() < 0.4:
            continue
        if kind == "choice":
            answers[name] = rng.choice(field["choices"])
        elif kind == "multichoice":
            answers[name] = rng.sample(
                field["choices"], k=rng.randint(1, min(3, len(field["choices"])))
            )
        elif kind == "date":
            answers[name] = (when + timedelta(days=rng.randint(3, 30))).date().isoformat()
        elif kind == "number":
            answers[name] = rng.randint(1, 20)
        elif kind == "checkbox":
            answers[name] = True
        elif kind == "user":
            answers[name] = rng.choice(people).pk
        elif kind == "ci":
            if cis:
                answers[name] = rng.choice(cis)
        elif kind == "textarea":
            answers[name] = rng.choice(
                [
                    "Needed for the new project.",
                    "My current one is broken.",
                    "Replacing a colleague who left.",
                    "Requested by my manager.",
                ]
            )
        else:
            answers[name] = rng.choice(["Room 3.14", "support@", "Lerato Dlamini", "Sales"])
    return answers


def _ensure_business_team(organization: Organization, people: dict[str, User]) -> None:
    """Requesters belong to a department whose manager approves their orders."""
    if Team.objects.filter(organization=organization, name=BUSINESS_TEAM).exists():
        return
    manager = people.get(Role.MANAGER)
    requester = people.get(Role.REQUESTER)
    admin = people.get(Role.ADMIN) or manager
    if manager is None or requester is None or admin is None:
        return
    create_team(
        acting_user=admin,
        organization=organization,
        name=BUSINESS_TEAM,
        description="Business department (its manager approves requests).",
        manager=manager,
        members=[requester],
    )


def _people(organization: Organization, people: dict[str, User] | None) -> dict[str, User]:
    found = dict(people or {})
    for role in Role.values:
        if role not in found:
            member = (
                Membership.objects.filter(organization=organization, role=role)
                .select_related("user")
                .order_by("pk")
                .first()
            )
            if member is not None:
                found[role] = member.user
    return found


@transaction.atomic
def seed_demo(organization: Organization, people: dict[str, User] | None = None) -> dict[str, int]:
    """The demo catalogue and requests of `organization` (idempotent); returns counts."""
    made = {"items": 0, "requests": 0, "surveys": 0}
    people = _people(organization, people)
    admin = people.get(Role.ADMIN)
    if admin is None:
        return made
    teams = {t.name: t for t in Team.objects.filter(organization=organization)}
    if "Service Desk" not in teams:
        return made
    _ensure_business_team(organization, people)
    approvers = [u.pk for u in (people.get(Role.ADMIN), people.get(Role.MANAGER)) if u]
    for spec in _items(teams, approvers):
        if not CatalogItem.objects.filter(organization=organization, name=spec["name"]).exists():
            actions.create_catalog_item(acting_user=admin, organization=organization, **spec)
            made["items"] += 1
    if ServiceRequest.objects.filter(organization=organization).exists():
        return made
    made["requests"] = _requests(organization, people)
    made["surveys"] = _surveys(organization, people)
    return made


def _requests(organization: Organization, people: dict[str, User]) -> int:
    rng = random.Random(f"catalog-{organization.slug}")  # noqa: S311 (demo data, not secrets)
    items = list(CatalogItem.objects.filter(organization=organization, active=True))
    requesters = [u for r, u in people.items() if r in (Role.REQUESTER, Role.AGENT, Role.MANAGER)]
    requesters += [people[Role.REQUESTER]] * 3 if Role.REQUESTER in people else []
    members = list(User.objects.filter(memberships__organization=organization))
    from opsdesk.cmdb.models import ConfigurationItem

    cis = list(
        ConfigurationItem.objects.filter(
            organization=organization, ci_class__key="end_user_device"
        ).values_list("pk", flat=True)[:200]
    )
    now = timezone.now().replace(microsecond=0)
    count = 0
    for _ in range(REQUESTS):
        item = rng.choice(items)
        requester = rng.choice(requesters)
        age = timedelta(days=DAYS * rng.random() ** 1.3)
        opened = now - age
        try:
            with transaction.atomic():
                req = actions.submit_request(
                    acting_user=requester,
                    organization=organization,
                    items=[
                        {
                            "catalog_item": item,
                            "answers": _answers(rng, item, opened, members, cis),
                            "quantity": 1,
                        }
                    ],
                    opened_at=opened,
                )
                _progress(rng, req, opened, now, people)
        except (FieldError, Conflict):
            continue  # e.g. a requester without a manager for this item
        count += 1
    return count


def _progress(rng: random.Random, req: ServiceRequest, opened: Any, now: Any, people: dict) -> None:
    """Move a request along as far as its age allows: approvals, then tasks."""
    age_days = (now - opened).total_seconds() / 86400
    # Older requests are mostly finished; a few stay stuck to make the queues real.
    finish = rng.random() < min(0.95, 0.15 + age_days / 12)
    reject = rng.random() < 0.08
    cancel = rng.random() < 0.04
    clock = opened
    item = req.items.get()
    if cancel:
        clock += timedelta(hours=rng.uniform(1, 48))
        if clock < now:
            actions.cancel_request(
                acting_user=req.requester, request=req, reason="No longer needed.", at=clock
            )
        return
    for _step in range(5):
        item.refresh_from_db()
        if item.state != ItemState.AWAITING_APPROVAL:
            break
        pending = list(Approval.objects.filter(item=item, state=ApprovalState.REQUESTED))
        if not pending or (not finish and rng.random() < 0.5):
            return
        for approval in pending:
            clock += timedelta(hours=rng.uniform(0.5, 30))
            if clock >= now:
                return
            approval.refresh_from_db()
            if approval.state != ApprovalState.REQUESTED:
                continue
            if reject:
                actions.decide_approval(
                    acting_user=approval.approver,
                    approval=approval,
                    approve=False,
                    comment=rng.choice(
                        [
                            "Not in this year's budget.",
                            "Please use the standard model.",
                            "Talk to me first.",
                        ]
                    ),
                    at=clock,
                )
                return
            actions.decide_approval(
                acting_user=approval.approver,
                approval=approval,
                approve=True,
                comment=rng.choice(["", "", "OK.", "Approved."]),
                at=clock,
            )
    for _round in range(6):
        tasks = list(
            FulfilmentTask.objects.filter(
                item=item, state__in=(TaskState.OPEN, TaskState.IN_PROGRESS)
            ).select_related("team")
        )
        if not tasks:
            return
        for task in tasks:
            worker = task.team.members.order_by("?").first() or people.get(Role.AGENT)
            if worker is None:
                return
            clock += timedelta(hours=rng.uniform(0.5, 20))
            if clock >= now:
                return
            if task.state == TaskState.OPEN:
                actions.transition_task(acting_user=worker, task=task, transition="start", at=clock)
            if not finish and rng.random() < 0.6:
                return
            clock += timedelta(hours=rng.uniform(0.5, 30))
            if clock >= now:
                return
            actions.transition_task(
                acting_user=worker, task=task, transition="complete", notes="Done.", at=clock
            )


def _surveys(organization: Organization, people: dict[str, User]) -> int:
    """Surveys (about two thirds answered) for fulfilled requests and resolved incidents."""
    from opsdesk.portal.actions import answer_survey, send_survey
    from opsdesk.servicedesk.models import Incident

    rng = random.Random(f"surveys-{organization.slug}")  # noqa: S311 (demo data, not secrets)
    count = 0
    tickets: list[Any] = list(
        ServiceRequest.objects.filter(organization=organization, state="fulfilled")
    )
    tickets += list(
        Incident.objects.filter(
            organization=organization, requester__isnull=False, resolved_at__isnull=False
        ).order_by("-resolved_at")[:300]
    )
    for ticket in tickets:
        sent_at = getattr(ticket, "resolved_at", None) or ticket.closed_at
        survey = send_survey(ticket, at=sent_at)
        if survey is None:
            continue
        count += 1
        if survey.answered_at is None and rng.random() < 0.65:
            rating = rng.choices([5, 4, 3, 2, 1], weights=[45, 30, 12, 8, 5])[0]
            requester = User.objects.get(pk=survey.requester_id)
            with acting_as(requester):
                answer_survey(
                    acting_user=requester,
                    survey=survey,
                    rating=rating,
                    comment=rng.choice(SURVEY_COMMENTS[rating] + ["", ""]),
                    at=sent_at + timedelta(hours=rng.uniform(1, 72)) if sent_at else None,
                )
    return count
