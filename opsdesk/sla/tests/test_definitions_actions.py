"""Definition actions: who may write, every rule names its field, every change bumps the
version and replays open clocks with a reason; the preview on a known calendar."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from opsdesk.cmdb.tests.factories import ci
from opsdesk.core.errors import FieldError, PermissionDenied
from opsdesk.core.models import AuditRecord, BusinessCalendar
from opsdesk.sla import definition_actions as actions
from opsdesk.sla.models import Clock, Definition, Recompute
from opsdesk.vendors.actions import create_vendor

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_calendars():  # type: ignore[no-untyped-def]
    """Compiled calendars are cached by (id, version); a rolled-back test's ids come back."""
    from opsdesk.sla import calendars

    calendars._COMPILED.clear()
    yield
    calendars._COMPILED.clear()


JHB = ZoneInfo("Africa/Johannesburg")


def office(org, **fields):  # type: ignore[no-untyped-def]
    fields.setdefault("name", "Johannesburg office")
    return BusinessCalendar.objects.create(
        organization=org,
        time_zone="Africa/Johannesburg",
        working_hours={d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
        holiday_country="ZA",
        **fields,
    )


def sla(cast, **fields):  # type: ignore[no-untyped-def]
    fields.setdefault("name", "Standard")
    fields.setdefault("resolution_minutes", {"2": 480})
    return actions.create_definition(acting_user=cast.admin, organization=cast.org_a, **fields)


def field_of(exc: pytest.ExceptionInfo) -> set[str]:
    return set(exc.value.errors)


def test_only_admins_write(cast):
    for user in (cast.agent, cast.manager, cast.auditor, cast.admin_b):
        with pytest.raises(PermissionDenied):
            actions.create_definition(
                acting_user=user, organization=cast.org_a, name="x", resolution_minutes={"1": 5}
            )
    definition = sla(cast)
    assert AuditRecord.objects.filter(object_type="sla.definition", action="create").exists()
    with pytest.raises(PermissionDenied):
        actions.update_definition(acting_user=cast.manager, definition=definition, name="y")
    with pytest.raises(PermissionDenied):
        actions.delete_definition(acting_user=cast.agent, definition=definition)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": " "}, "name"),
        ({"kind": "ola"}, "team"),
        ({"kind": "uc"}, "vendor"),
        ({"priorities": [0, 6]}, "priorities"),
        ({"resolution_minutes": {"7": 60}}, "resolution_minutes"),
        ({"response_minutes": {"1": -5}}, "response_minutes"),
        ({"response_minutes": {"1": "soon"}}, "response_minutes"),
        ({"resolution_minutes": {}, "response_minutes": {}}, "resolution_minutes"),
        ({"conditions": [{"field": "colour", "op": "eq", "value": "red"}]}, "conditions"),
        ({"conditions": [{"field": "channel", "op": "like", "value": "x"}]}, "conditions"),
        ({"conditions": [{"field": "channel", "op": "in", "value": "email"}]}, "conditions"),
        ({"start_when": ["in_progress", "sleeping"]}, "start_when"),
        ({"pause_when": ["on_hold:awaiting_godot"]}, "pause_when"),
        ({"stop_when": ["done"]}, "stop_when"),
        ({"run_when": [3]}, "run_when"),
        ({"reset_when": ["resolved"]}, "reset_when"),
        ({"warning_thresholds": [0, 50]}, "warning_thresholds"),
        ({"warning_thresholds": [100]}, "warning_thresholds"),
        ({"escalations": [{"at": 60, "action": "notify", "to": "group"}]}, "escalations"),
        ({"escalations": [{"at": 75, "action": "explode"}]}, "escalations"),
        ({"escalations": [{"at": 75, "action": "notify", "to": "everyone"}]}, "escalations"),
        ({"escalations": [{"at": 100, "action": "reassign"}]}, "escalations"),
    ],
)
def test_each_rule_names_its_field(cast, fields, field):
    with pytest.raises(FieldError) as exc:
        sla(cast, **fields)
    assert field in field_of(exc), exc.value.errors
    assert not Definition.objects.exists()


def test_references_must_be_of_the_organisation(cast):
    theirs = create_vendor(acting_user=cast.admin_b, organization=cast.org_b, name="B net")
    with pytest.raises(FieldError) as exc:
        sla(cast, kind="uc", vendor=theirs)
    assert "vendor" in field_of(exc)
    with pytest.raises(FieldError) as exc:
        sla(cast, kind="ola", team=cast.team_b)
    assert "team" in field_of(exc)
    with pytest.raises(FieldError) as exc:
        sla(cast, team=cast.team_a)
    assert "team" in field_of(exc)  # only an OLA names a team
    server = ci(cast.org_a, "srv-01", "server")
    foreign = ci(cast.org_b, "Mail", "business_service")
    for services in ([server], [foreign]):
        with pytest.raises(FieldError) as exc:
            sla(cast, services=services)
        assert "services" in field_of(exc)
    with pytest.raises(FieldError) as exc:
        sla(cast, escalations=[{"at": 100, "action": "reassign", "team": cast.team_b.pk}])
    assert "escalations" in field_of(exc)
    with pytest.raises(FieldError) as exc:
        sla(cast, escalations=[{"at": 90, "action": "notify", "to": f"user:{cast.admin_b.pk}"}])
    assert "escalations" in field_of(exc)
    with pytest.raises(FieldError) as exc:
        sla(cast, calendar=office(cast.org_b))
    assert "calendar" in field_of(exc)


def test_valid_kinds_are_normalised(cast):
    vendor = create_vendor(acting_user=cast.admin, organization=cast.org_a, name="Fibre Co")
    mail = ci(cast.org_a, "Mail", "business_service")
    uc = sla(
        cast,
        name="Fibre repairs",
        kind="uc",
        vendor=vendor,
        services=[mail],
        priorities=["2", 1, 1],
        resolution_minutes={"1": "240", "2": 480.0, "3": ""},
        run_when=["on_hold:awaiting_vendor"],
        warning_thresholds=[90, "50"],
        escalations=[
            {"at": 100, "action": "reassign", "team": cast.team_a.pk},
            {"at": 90, "action": "notify", "to": f"user:{cast.manager.pk}"},
        ],
    )
    assert uc.priorities == [1, 2]
    assert uc.resolution_minutes == {"1": 240, "2": 480}
    assert uc.warning_thresholds == [50, 90]
    assert [e["at"] for e in uc.escalations] == [90, 100]
    assert list(uc.services.all()) == [mail]
    ola = sla(cast, name="Desk OLA", kind="ola", team=cast.team_a, response_minutes={"3": 30})
    assert ola.team == cast.team_a


def test_every_change_bumps_the_version_and_recomputes_with_a_reason(cast):
    definition = sla(cast, name="Gold")
    assert definition.version == 1
    assert Recompute.objects.get().reason == "SLA 'Gold' added (version 1)"
    updated = actions.update_definition(
        acting_user=cast.admin, definition=definition, resolution_minutes={"2": 240}
    )
    assert updated.version == 2
    log = Recompute.objects.order_by("-at", "-pk").first()
    assert log.reason == "SLA 'Gold' changed: resolution_minutes (version 2)"
    assert (log.object_type, log.object_id) == ("sla.definition", str(definition.pk))
    assert log.actor == cast.admin
    # Nothing changed: no new version, no replay.
    same = actions.update_definition(
        acting_user=cast.admin, definition=updated, resolution_minutes={"2": 240}
    )
    assert same.version == 2 and same.changed_fields == []
    assert Recompute.objects.count() == 2
    off = actions.deactivate_definition(acting_user=cast.admin, definition=same)
    assert off.version == 3 and not off.is_active
    assert "changed: is_active" in Recompute.objects.order_by("-at", "-pk").first().reason
    actions.delete_definition(acting_user=cast.admin, definition=off)
    assert not Definition.objects.exists()
    assert Recompute.objects.order_by("-at", "-pk").first().reason == "SLA 'Gold' deleted"
    assert AuditRecord.objects.filter(object_type="sla.definition", action="delete").exists()


def test_a_change_moves_open_clocks(cast):
    from opsdesk.problems.tests.factories import incident

    office(cast.org_a, is_default=True)
    definition = sla(cast, name="Gold", resolution_minutes=dict.fromkeys("12345", 480))
    open_ticket = incident(cast, title="Slow mail")
    from opsdesk.servicedesk.models import Incident
    from opsdesk.sla.clocks import incidents_for_recompute, recompute_incidents

    recompute_incidents(incidents_for_recompute(Incident.objects.filter(pk=open_ticket.pk)))
    before = Clock.objects.get(subject_id=open_ticket.pk, metric="resolution").due_at
    actions.update_definition(
        acting_user=cast.admin,
        definition=definition,
        resolution_minutes=dict.fromkeys("12345", 960),
    )
    clock = Clock.objects.get(subject_id=open_ticket.pk, metric="resolution")
    assert clock.due_at > before and clock.definition_version == 2
    log = Recompute.objects.order_by("-at", "-pk").first()
    assert log.changed == 1 and log.details[0]["number"] == open_ticket.number


def test_preview_of_a_hypothetical_ticket_on_a_known_calendar(cast):
    calendar = office(cast.org_a)
    definition = sla(
        cast,
        name="Gold",
        calendar=calendar,
        response_minutes={"2": 30},
        resolution_minutes={"2": 480},
    )
    friday = datetime(2026, 11, 20, 15, 0, tzinfo=JHB)
    ticket = actions.hypothetical(organization_id=cast.org_a.pk, priority=2, opened_at=friday)
    result = actions.preview(definition, ticket=ticket)
    assert result.applies and result.calendar == "Johannesburg office"
    response, resolution = result.metrics
    assert response.due_at == datetime(2026, 11, 20, 15, 30, tzinfo=JHB)
    # Friday 15-17 (2 h), the weekend closed, Monday 08:00 + 6 h.
    assert resolution.due_at == datetime(2026, 11, 23, 14, 0, tzinfo=JHB)
    kinds = [(s["kind"], s["counted_seconds"]) for s in resolution.segments]
    assert kinds[0] == ("running", 2 * 3600)
    assert ("outside_hours", 0) in kinds
    assert kinds[-1] == ("running", 6 * 3600)
    assert sum(s for _, s in kinds) == 8 * 3600
    # P4 has no target; a P2 on another service is not covered.
    other = actions.preview(
        definition,
        ticket=actions.hypothetical(organization_id=cast.org_a.pk, priority=4, opened_at=friday),
    )
    assert not any(m.applies for m in other.metrics)
    assert other.metrics[1].reasons == ["no resolution target for P4"]


def test_preview_explains_why_not(cast):
    mail = ci(cast.org_a, "Mail", "business_service")
    payroll = ci(cast.org_a, "Payroll", "business_service")
    definition = sla(cast, name="Mail only", services=[mail], priorities=[1, 2])
    friday = datetime(2026, 11, 20, 15, 0, tzinfo=JHB)
    ticket = actions.hypothetical(
        organization_id=cast.org_a.pk, priority=2, opened_at=friday, service=payroll
    )
    result = actions.preview(definition, ticket=ticket)
    assert not result.applies
    assert result.calendar == "24x7" and "24x7" in result.calendar_why
    assert any("Payroll" in r for r in result.reasons)
    assert result.metrics[1].applies is False


def test_preview_of_an_ola_counts_only_with_its_team(cast):
    calendar = BusinessCalendar.objects.create(
        organization=cast.org_a, name="24x7", always_open=True
    )
    ola = sla(
        cast,
        name="Desk OLA",
        kind="ola",
        team=cast.team_a,
        calendar=calendar,
        resolution_minutes={"3": 120},
    )
    at = datetime(2026, 11, 20, 15, 0, tzinfo=JHB)
    other_team = cast.team_a.__class__.objects.create(
        organization=cast.org_a, name="Network", slug="network"
    )
    mine = actions.preview(
        ola, ticket=actions.hypothetical(organization_id=cast.org_a.pk, priority=3, opened_at=at)
    )
    assert mine.metrics[1].due_at == datetime(2026, 11, 20, 17, 0, tzinfo=JHB)
    assert mine.metrics[1].assumed
    theirs = actions.preview(
        ola,
        ticket=actions.hypothetical(
            organization_id=cast.org_a.pk, priority=3, opened_at=at, assignment_group=other_team
        ),
    )
    assert theirs.metrics[1].reasons == ["the ticket never reached the team"]
