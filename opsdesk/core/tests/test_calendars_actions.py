"""Actions on business calendars: validation naming the field, permission, audit, and every
change bumping versions and recomputing the open clocks (with the move recorded)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.test import TestCase

from opsdesk.core import calendar_actions as actions
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.models import AuditRecord, BusinessCalendar
from opsdesk.servicedesk import actions as desk
from opsdesk.servicedesk.models import Activity
from opsdesk.sla.models import Clock, Definition, Recompute

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_compiled_calendars():
    """Compiled calendars are cached by (id, version); test databases reuse both."""
    from opsdesk.sla import calendars

    calendars._COMPILED.clear()
    yield
    calendars._COMPILED.clear()


def _create(cast, name="Office", **fields):
    fields.setdefault("time_zone", "Africa/Johannesburg")
    return actions.create_calendar(
        acting_user=cast.admin, organization=cast.org_a, name=name, **fields
    )


def _errors(excinfo) -> set[str]:
    return set(excinfo.value.errors)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"time_zone": "CEST"}, "time_zone"),
        ({"holiday_country": "XX"}, "holiday_country"),
        ({"holiday_country": "DE", "holiday_subdivision": "ZZ"}, "holiday_subdivision"),
        ({"holiday_subdivision": "BY"}, "holiday_subdivision"),
        ({"working_hours": {"mon": [["17:00", "08:00"]]}}, "working_hours"),
        ({"working_hours": {"funday": [["08:00", "17:00"]]}}, "working_hours"),
        ({"working_hours": {"mon": [["08:00", "12:00"], ["11:00", "13:00"]]}}, "working_hours"),
        ({"working_hours": {"mon": [["8am", "5pm"]]}}, "working_hours"),
        ({"country": "QQ"}, "country"),
        ({"combine_mode": "xor"}, "combine_mode"),
        ({"combine_mode": "union"}, "member_ids"),
    ],
)
def test_bad_input_names_the_field(cast, fields, field):
    with pytest.raises(FieldError) as excinfo:
        _create(cast, **fields)
    assert field in _errors(excinfo)
    assert not BusinessCalendar.objects.exists()


def test_subdivisions_and_lower_case_codes_are_accepted(cast):
    calendar = _create(cast, holiday_country="de", holiday_subdivision="by")
    assert (calendar.holiday_country, calendar.holiday_subdivision) == ("DE", "BY")


def test_only_admins_change_calendars(cast):
    calendar = _create(cast)
    for user in (cast.agent, cast.manager, cast.auditor, cast.requester):
        with pytest.raises(PermissionDenied):
            actions.update_calendar(acting_user=user, calendar=calendar, name="Mine")
        with pytest.raises(PermissionDenied):
            actions.set_exception(
                acting_user=user, calendar=calendar, date=date(2026, 12, 24), name="x"
            )
    with pytest.raises(PermissionDenied):
        actions.create_calendar(acting_user=cast.admin_b, organization=cast.org_a, name="B in A")


def test_members_same_organisation_combined_only_and_no_cycles(cast):
    a = _create(cast, "Europe", time_zone="Europe/Berlin")
    b = _create(cast, "Americas", time_zone="America/Sao_Paulo")
    b_org = actions.create_calendar(acting_user=cast.admin_b, organization=cast.org_b, name="B")
    with pytest.raises(FieldError) as excinfo:
        _create(cast, "Mixed", combine_mode="union", members=[a, b_org])
    assert _errors(excinfo) == {"member_ids"}
    with pytest.raises(FieldError) as excinfo:
        _create(cast, "Plain", members=[a])
    assert _errors(excinfo) == {"member_ids"}
    sun = _create(cast, "Follow the sun", combine_mode="union", members=[a, b])
    outer = _create(cast, "Outer", combine_mode="intersection", members=[sun])
    with pytest.raises(FieldError) as excinfo:
        actions.update_calendar(acting_user=cast.admin, calendar=sun, members=[a, b, outer])
    assert "cycle" in excinfo.value.errors["member_ids"]
    with pytest.raises(FieldError) as excinfo:
        actions.update_calendar(acting_user=cast.admin, calendar=sun, members=[sun])
    assert _errors(excinfo) == {"member_ids"}
    # Exceptions belong on members, not on the combination.
    with pytest.raises(FieldError) as excinfo:
        actions.set_exception(
            acting_user=cast.admin, calendar=sun, date=date(2026, 12, 24), name="Closed"
        )
    assert _errors(excinfo) == {"date"}


def test_one_default_per_organisation(cast):
    first = _create(cast, "First", is_default=True)
    second = _create(cast, "Second", is_default=True)
    first.refresh_from_db()
    assert not first.is_default and second.is_default
    b = actions.create_calendar(
        acting_user=cast.admin_b, organization=cast.org_b, name="B", is_default=True
    )
    actions.update_calendar(acting_user=cast.admin, calendar=first, is_default=True)
    second.refresh_from_db()
    b.refresh_from_db()
    assert not second.is_default
    assert b.is_default  # another organisation's default is not touched


def test_every_change_bumps_the_version_of_the_calendar_and_of_those_including_it(cast):
    berlin = _create(cast, "Berlin", time_zone="Europe/Berlin")
    sun = _create(cast, "Follow the sun", combine_mode="union", members=[berlin])
    _create(cast, "Outer", combine_mode="union", members=[sun])
    versions = {c.name: c.version for c in BusinessCalendar.objects.all()}

    def bumped() -> dict[str, int]:
        now = {c.name: c.version for c in BusinessCalendar.objects.all()}
        out = {k: now[k] - versions[k] for k in now}
        versions.update(now)
        return out

    berlin = actions.update_calendar(
        acting_user=cast.admin, calendar=berlin, working_hours={"mon": [["09:00", "17:00"]]}
    )
    assert bumped() == {"Berlin": 1, "Follow the sun": 1, "Outer": 1}
    row, created = actions.set_exception(
        acting_user=cast.admin, calendar=berlin, date=date(2026, 12, 24), name="Christmas Eve"
    )
    assert created and row.hours == []
    assert bumped() == {"Berlin": 1, "Follow the sun": 1, "Outer": 1}
    _, created = actions.set_exception(
        acting_user=cast.admin,
        calendar=berlin,
        date=date(2026, 12, 24),
        name="Christmas Eve",
        hours=[["08:00", "12:00"]],
    )
    assert not created
    assert bumped() == {"Berlin": 1, "Follow the sun": 1, "Outer": 1}
    # The same again changes nothing and bumps nothing.
    actions.set_exception(
        acting_user=cast.admin,
        calendar=berlin,
        date=date(2026, 12, 24),
        name="Christmas Eve",
        hours=[["08:00", "12:00"]],
    )
    assert bumped() == {"Berlin": 0, "Follow the sun": 0, "Outer": 0}
    actions.remove_exception(acting_user=cast.admin, exception=row)
    assert bumped() == {"Berlin": 1, "Follow the sun": 1, "Outer": 1}
    actions.update_calendar(acting_user=cast.admin, calendar=sun, members=[berlin])
    assert bumped() == {"Berlin": 0, "Follow the sun": 0, "Outer": 0}  # nothing changed
    assert AuditRecord.objects.filter(object_type="core.calendarexception").count() >= 3


def _commits():
    return TestCase.captureOnCommitCallbacks(execute=True)


def test_a_calendar_change_recomputes_open_clocks_and_records_the_move(cast):
    # One hour a week: the 8 business hours run for weeks.
    calendar = _create(cast, "Sundays", working_hours={"sun": [["00:00", "01:00"]]})
    Definition.objects.create(
        organization=cast.org_a,
        name="Standard",
        response_minutes={"4": 60},
        resolution_minutes={"4": 480},
        calendar=calendar,
    )
    with _commits():
        incident = desk.create_incident(
            acting_user=cast.agent, organization=cast.org_a, title="Printer", impact=2, urgency=3
        )
    before = Clock.objects.get(subject_id=incident.pk, metric="resolution")
    assert before.due_at >= incident.opened_at + timedelta(weeks=7)
    recomputes = Recompute.objects.count()

    actions.update_calendar(acting_user=cast.admin, calendar=calendar, always_open=True)

    after = Clock.objects.get(subject_id=incident.pk, metric="resolution")
    assert after.due_at == incident.opened_at + timedelta(hours=8)
    log = Recompute.objects.latest("pk")
    assert Recompute.objects.count() == recomputes + 1
    assert log.reason.startswith("Calendar 'Sundays' changed: 24x7 False -> True")
    assert log.actor == cast.admin
    assert log.changed >= 1
    assert (log.object_type, log.object_id) == ("core.businesscalendar", str(calendar.pk))
    moved = Activity.objects.filter(subject_id=incident.pk, kind="sla").latest("pk")
    assert "Calendar 'Sundays' changed" in moved.body

    # An exception on the incident's day moves it again (its first eight hours close).
    local = incident.opened_at.astimezone(calendar.compiled().tz)
    actions.update_calendar(
        acting_user=cast.admin,
        calendar=calendar,
        always_open=False,
        working_hours={
            d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        },
    )
    actions.set_exception(
        acting_user=cast.admin, calendar=calendar, date=local.date(), name="Closed"
    )
    last = Clock.objects.get(subject_id=incident.pk, metric="resolution")
    assert last.due_at > after.due_at
    assert "exception created for" in Recompute.objects.latest("pk").reason


def test_deleting_a_calendar_in_use_is_refused_naming_the_user(cast):
    calendar = _create(cast, "Office")
    Definition.objects.create(organization=cast.org_a, name="Gold", calendar=calendar)
    with pytest.raises(Conflict) as excinfo:
        actions.delete_calendar(acting_user=cast.admin, calendar=calendar)
    assert "Gold" in excinfo.value.detail
    member = _create(cast, "Member")
    _create(cast, "Combined", combine_mode="union", members=[member])
    with pytest.raises(Conflict) as excinfo:
        actions.delete_calendar(acting_user=cast.admin, calendar=member)
    assert "Combined" in excinfo.value.detail
    spare = _create(cast, "Spare")
    actions.set_exception(
        acting_user=cast.admin, calendar=spare, date=date(2026, 1, 2), name="Closed"
    )
    actions.delete_calendar(acting_user=cast.admin, calendar=spare)
    assert not BusinessCalendar.objects.filter(name="Spare").exists()
    assert Recompute.objects.latest("pk").reason == "Calendar 'Spare' deleted"


@pytest.mark.parametrize(
    ("day", "name", "hours", "field"),
    [
        (date(1900, 1, 1), "Old", [], "date"),
        (date(2026, 1, 1), " ", [], "name"),
        (date(2026, 1, 1), "x", [["12:00", "08:00"]], "hours"),
        (date(2026, 1, 1), "x", [["08:00"]], "hours"),
        (date(2026, 1, 1), "x", [["25:00", "26:00"]], "hours"),
    ],
)
def test_bad_exceptions_name_the_field(cast, day, name, hours, field):
    calendar = _create(cast)
    with pytest.raises(FieldError) as excinfo:
        actions.set_exception(
            acting_user=cast.admin, calendar=calendar, date=day, name=name, hours=hours
        )
    assert field in _errors(excinfo)
