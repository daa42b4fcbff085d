"""The bulk recompute writes exactly the clocks the per-ticket path writes.

A few hundred tickets with generated histories (every kind of timeline entry the service
desk writes: creation, assignment and reassignment, start, holds for each reason, public
replies by requester and agent, priority changes, resolve, reopen, close, cancel; and
imported history naming the group) are replayed by `recompute_incidents(..., live=False)`
and by `recompute_all`; the stored rows must be identical, also after definitions change
(rows updated, deleted, created) and with two worker processes (PostgreSQL). On PostgreSQL
this covers both ways the bulk path computes (numpy arrays, and the per-ticket arithmetic
for what they do not cover) and both ways it writes (a rebuild of an empty clock table,
outside a transaction; a merge into a filled one).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from opsdesk.cmdb.tests.factories import ci as make_ci
from opsdesk.core.bulk import insert_rows
from opsdesk.core.models import BusinessCalendar
from opsdesk.core.permissions import Role
from opsdesk.core.testing.factories import TeamFactory, member
from opsdesk.servicedesk.models import Activity, Incident
from opsdesk.sla.bulk import recompute_all
from opsdesk.sla.clocks import incidents_for_recompute, recompute_incidents
from opsdesk.sla.models import Clock, Definition
from opsdesk.vendors.models import Vendor

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=3)
HOLDS = ("awaiting_requester", "awaiting_vendor", "awaiting_change")


def _entry(org: int, pk: int, at: datetime, kind: str, actor: int | None, **data: Any) -> dict:
    public = data.pop("_public", kind in ("created", "state"))
    return {
        "organization_id": org,
        "subject_type": "incident",
        "subject_id": pk,
        "kind": kind,
        "at": at,
        "actor_id": actor,
        "actor_name": "",
        "public": public,
        "body": data.pop("_body", ""),
        "data": data,
    }


def _state(org: int, pk: int, at: datetime, actor: int, source: str, to: str, how: str, **extra):
    return _entry(
        org, pk, at, "state", actor, **{"from": source, "to": to, "transition": how}, **extra
    )


def generate(world: dict[str, Any], count: int, seed: int = 7) -> None:
    """`count` incidents of organisation A with varied histories, as rows."""
    rng = random.Random(seed)
    org, teams, agents, requester, cis = (
        world["org"],
        world["teams"],
        world["agents"],
        world["requester"],
        world["cis"],
    )
    rows = []
    for n in range(count):
        opened = NOW - timedelta(days=rng.uniform(0, 40), minutes=rng.randint(0, 600))
        priority = rng.choices([1, 2, 3, 4, 5], [1, 6, 38, 45, 10])[0]
        ci = rng.choice([None, *cis])
        rows.append(
            {
                "organization_id": org.pk,
                "number": f"INC{n + 1:07d}",
                "title": "Generated",
                "description": "",
                "requester_id": requester.pk,
                "requester_email": "",
                "channel": rng.choice(["portal", "email", "phone"]),
                "ci_id": ci.pk if ci else None,
                "service_id": None,
                "impact": 2,
                "urgency": 2,
                "priority": priority,
                "state": "new",
                "hold_reason": "",
                "resolution_code": "",
                "resolution_notes": "",
                "assignment_group_id": teams[0].pk,
                "reassignment_count": 0,
                "reopen_count": 0,
                "opened_at": opened,
                "first_contact_resolution": False,
                "location": "",
                "is_major": False,
                "source": "",
                "external_id": "",
                "created_at": opened,
                "updated_at": opened,
            }
        )
    keys = insert_rows(Incident, rows, returning=True)
    entries = []
    for row, pk in zip(rows, keys, strict=True):
        o, at, prio = org.pk, row["opened_at"], row["priority"]
        agent = rng.choice(agents)
        imported = rng.random() < 0.1
        entries.append(
            _entry(o, pk, at, "created", requester.pk, state="new", priority=prio, channel="email")
        )
        step = lambda: timedelta(minutes=rng.randint(1, 900))  # noqa: E731
        group = teams[0]
        assigned = {"from_group": None, "from_assignee": None, "group": group.name}
        if imported:
            entries.append(_entry(o, pk, at, "assigned", None, **assigned, assignee=None))
        else:
            entries.append(
                _entry(o, pk, at, "assigned", None, **assigned, group_id=group.pk, assignee=None)
            )
        at += step()
        if rng.random() < 0.15:
            entries.append(
                _entry(o, pk, at, "comment", requester.pk, _public=True, _body="Any news?")
            )
        if rng.random() < 0.08:
            continue  # still new
        entries.append(
            _entry(
                o, pk, at, "assigned", agent, from_group=group.name, from_assignee=None,
                group=group.name, group_id=group.pk, assignee="Agent", assignee_id=agent,
            )
        )  # fmt: skip
        entries.append(_state(o, pk, at + step(), agent, "new", "in_progress", "start"))
        at += step() * 2
        state = "in_progress"
        if rng.random() < 0.4:
            entries.append(_entry(o, pk, at, "comment", agent, _public=True, _body="On it."))
        if rng.random() < 0.3:
            entries.append(_entry(o, pk, at, "work_note", agent, _body="Looked at logs."))
        if rng.random() < 0.25:
            new = rng.choice([p for p in (1, 2, 3, 4, 5) if p != prio])
            entries.append(
                _entry(o, pk, at, "field", agent, changes={"urgency": ["2", "1"], "priority": [prio, new]})
            )  # fmt: skip
            prio = new
        if rng.random() < 0.3:
            old, group = group, rng.choice(teams[1:])
            entries.append(
                _entry(
                    o, pk, at + step(), "assigned", agent, from_group=old.name,
                    from_assignee="Agent", group=group.name, group_id=group.pk,
                    assignee=None, assignee_id=None,
                )
            )  # fmt: skip
        at += step()
        for _ in range(rng.choice([0, 0, 1, 2])):
            reason = rng.choice(HOLDS)
            entries.append(_state(o, pk, at, agent, state, "on_hold", "hold", hold_reason=reason))
            at += step() * 3
            entries.append(_state(o, pk, at, agent, "on_hold", "in_progress", "start"))
            at += step()
        end = rng.random()
        if end < 0.1:
            entries.append(_state(o, pk, at, agent, state, "cancelled", "cancel", reason="Dup"))
            continue
        if end < 0.25:
            continue  # still in progress
        entries.append(
            _state(o, pk, at, agent, state, "resolved", "resolve", resolution_code="solved")
        )
        if rng.random() < 0.15:
            at += step()
            entries.append(
                _state(o, pk, at, requester.pk, "resolved", "in_progress", "reopen", reason="No")
            )
            at += step()
            entries.append(
                _state(o, pk, at, agent, "in_progress", "resolved", "resolve", resolution_code="ok")
            )
        if at + timedelta(days=7) < NOW:
            entries.append(
                _state(o, pk, at + timedelta(days=7), None, "resolved", "closed", "close", automatic=True)
            )  # fmt: skip
    insert_rows(Activity, entries)


@pytest.fixture
def world(cast):
    org = cast.org_a
    office = BusinessCalendar.objects.create(
        organization=org,
        name="Office ZA",
        time_zone="Africa/Johannesburg",
        working_hours={d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
        holiday_country="ZA",
        is_default=True,
    )
    always = BusinessCalendar.objects.create(organization=org, name="24x7", always_open=True)
    BusinessCalendar.objects.create(
        organization=org,
        name="Kenya",
        time_zone="Africa/Nairobi",
        working_hours={d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
        holiday_country="KE",
        country="KE",
    )
    second = TeamFactory(organization=org, name="Network", slug="network")
    third = TeamFactory(organization=org, name="Apps", slug="apps")
    vendor = Vendor.objects.create(organization=org, name="Fibre Co")
    cis = [make_ci(org, "ZA server", country="ZA"), make_ci(org, "KE server", country="KE")]
    minutes = {"1": 240, "2": 480, "3": 1440, "4": 2880, "5": 4800}
    Definition.objects.create(
        organization=org,
        name="Standard",
        response_minutes={"1": 15, "2": 30, "3": 60, "4": 240},
        resolution_minutes=minutes,
        calendar=office,
    )
    Definition.objects.create(
        organization=org,
        name="Critical 24x7",
        priorities=[1, 2],
        resolution_minutes={"1": 120, "2": 360},
        calendar=always,
        reset_when=["reopen"],
    )
    Definition.objects.create(
        organization=org,
        name="By country",
        conditions=[{"field": "channel", "op": "in", "value": ["email", "phone"]}],
        resolution_minutes=minutes,
        pause_when=["on_hold"],
    )
    Definition.objects.create(
        organization=org, name="Network OLA", kind="ola", team=second, response_minutes={"3": 60},
        resolution_minutes=minutes, calendar=office,
    )  # fmt: skip
    Definition.objects.create(
        organization=org, name="Desk OLA", kind="ola", team=cast.team_a,
        resolution_minutes=minutes, reset_when=["priority_change"], calendar=office,
    )  # fmt: skip
    Definition.objects.create(
        organization=org, name="Fibre UC", kind="uc", vendor=vendor,
        resolution_minutes=minutes, calendar=always,
    )  # fmt: skip
    agents = [cast.agent.pk, member(org, Role.AGENT, email="a2@a.test").pk]
    return {
        "org": org,
        "teams": [cast.team_a, second, third],
        "agents": agents,
        "requester": cast.requester,
        "cis": cis,
        "cast": cast,
    }


def _snapshot() -> dict[tuple[int, int, str], dict[str, Any]]:
    return {
        (row["definition_id"], row["subject_id"], row["metric"]): row
        for row in Clock.objects.values()
        for _ in [row.pop("id")]
    }


def _per_ticket(now: datetime) -> None:
    recompute_incidents(
        incidents_for_recompute(Incident.objects.order_by("pk")), now=now, live=False
    )


def _assert_same(expected: dict, found: dict) -> None:
    assert set(found) == set(expected)
    differing = [key for key in expected if expected[key] != found[key]]
    assert not differing, (differing[:3], expected[differing[0]], found[differing[0]])


def _set(name: str, **values: Any) -> None:
    definition = Definition.objects.get(name=name)
    for key, value in values.items():
        setattr(definition, key, value)
    definition.save()


def _change_definitions() -> None:
    _set("Critical 24x7", is_active=False)
    _set("Standard", resolution_minutes={"1": 120, "2": 240, "3": 720, "4": 1440}, version=2)


def _restore_definitions() -> None:
    _set("Critical 24x7", is_active=True)
    _set(
        "Standard",
        resolution_minutes={"1": 240, "2": 480, "3": 1440, "4": 2880, "5": 4800},
        version=1,
    )


def _check(workers: int) -> None:
    _per_ticket(NOW)
    expected = _snapshot()
    assert len(expected) > 600
    statuses = {row["status"] for row in expected.values()}
    assert {"running", "paused", "stopped", "cancelled", "waiting"} <= statuses
    assert {row["kind"] for row in expected.values()} == {"sla", "ola", "uc"}
    assert any(row["breached"] for row in expected.values())
    Clock.objects.all().delete()

    stats = recompute_all(workers=workers, now=NOW)
    assert (stats.tickets, stats.clocks, stats.created) == (300, len(expected), len(expected))
    if connection.vendor == "postgresql":
        # The arrays cover most tickets; those whose imported history names the group
        # fall back to the per-ticket arithmetic (as does the definition with conditions).
        assert 0 < stats.fallback_tickets < 100
    _assert_same(expected, _snapshot())

    # Definitions change: the per-ticket path from here is what the bulk path must match.
    _change_definitions()
    _per_ticket(LATER)
    expected_later = _snapshot()
    _restore_definitions()
    stats = recompute_all(workers=workers, now=NOW)
    assert stats.created and stats.updated
    _assert_same(expected, _snapshot())
    _change_definitions()
    stats = recompute_all(workers=workers, now=LATER)
    assert stats.deleted and stats.updated and stats.unchanged
    _assert_same(expected_later, _snapshot())
    # Nothing changed since: nothing written.
    stats = recompute_all(workers=workers, now=LATER)
    assert stats.updated == 0 and stats.created == 0 and stats.deleted == 0
    _assert_same(expected_later, _snapshot())


@pytest.mark.django_db
def test_bulk_writes_what_the_per_ticket_path_writes(world):
    generate(world, 300)
    _check(workers=1)


@pytest.mark.django_db(transaction=True)
def test_two_workers_write_the_same_clocks(world):
    if connection.vendor != "postgresql":
        pytest.skip("Worker processes run on PostgreSQL only (SQLite runs in-process).")
    generate(world, 300)
    _check(workers=2)


@pytest.mark.django_db
def test_one_organisation_leaves_the_other_alone(world):
    generate(world, 40)
    other = world["cast"].org_b
    BusinessCalendar.objects.create(organization=other, name="24x7", always_open=True)
    Definition.objects.create(organization=other, name="B", resolution_minutes={"4": 60})
    stats = recompute_all(organization_id=other.pk, workers=1, now=NOW)
    assert stats.tickets == 0 and Clock.objects.count() == 0
    stats = recompute_all(organization_id=world["org"].pk, workers=1, now=NOW)
    assert stats.tickets == 40 and stats.clocks == Clock.objects.count() > 0


@pytest.mark.django_db
def test_command_reports_what_it_did(world):
    generate(world, 20)
    out = StringIO()
    call_command("sla_bulk", "recompute", "--workers", "1", stdout=out, stderr=StringIO())
    text = out.getvalue()
    assert "20 tickets" in text and f"{Clock.objects.count()} clocks" in text
