"""Windows and conflicts: occurrence expansion, freeze coverage through the CMDB, the freeze
guard on the workflow and each kind of conflict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opsdesk.changes import actions, window_actions, windows
from opsdesk.changes.choices import ChangeState, ChangeType, WindowKind
from opsdesk.changes.conflicts import find_conflicts
from opsdesk.changes.tests import factories
from opsdesk.changes.tests.factories import topology, when
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.servicedesk.models import Activity

pytestmark = pytest.mark.django_db


def window(cast, kind=WindowKind.FREEZE, org=None, services=(), **fields):
    org = org or cast.org_a
    fields.setdefault("name", "Quarter-end freeze" if kind == WindowKind.FREEZE else "Sunday")
    fields.setdefault("starts_at", when(2, hour=0))
    fields.setdefault("ends_at", fields["starts_at"] + timedelta(days=3))
    user = cast.manager if org == cast.org_a else cast.admin_b
    return window_actions.create_window(
        acting_user=user, organization=org, kind=kind, services=services, **fields
    )


def change(cast, **fields):
    """A change with a change manager, so the default approval policy can ask someone."""
    fields.setdefault("change_manager", cast.manager)
    return factories.change(cast, **fields)


def to_authorise(c, user):
    actions.transition_change(acting_user=user, change=c, name="assess")
    return actions.transition_change(acting_user=user, change=c, name="request_authorisation")


# --- Occurrences ------------------------------------------------------------------------------


def test_a_weekly_window_keeps_its_local_time_across_the_clock_change(cast):
    org = cast.org_b  # Europe/Berlin: clocks go forward on 29 March 2026
    start = datetime(2026, 3, 15, 1, 0, tzinfo=UTC)  # Sunday 02:00 CET
    w = window(
        cast,
        WindowKind.MAINTENANCE,
        org=org,
        name="Sunday patching",
        starts_at=start,
        ends_at=start + timedelta(hours=4),
        rrule="RRULE:FREQ=WEEKLY;BYDAY=SU",
    )
    assert w.rrule == "FREQ=WEEKLY;BYDAY=SU"
    found = windows.occurrences(
        w, datetime(2026, 3, 14, tzinfo=UTC), datetime(2026, 4, 6, tzinfo=UTC)
    )
    assert [s for s, _ in found] == [
        datetime(2026, 3, 15, 1, 0, tzinfo=UTC),
        datetime(2026, 3, 22, 1, 0, tzinfo=UTC),
        # 02:00 CEST is 00:00 UTC; on the day itself 02:00 does not exist (03:00 CEST = 01:00).
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2026, 4, 5, 0, 0, tzinfo=UTC),
    ]
    # Each ends at 06:00 local time.
    assert found[0][1] == datetime(2026, 3, 15, 5, 0, tzinfo=UTC)
    assert found[3][1] == datetime(2026, 4, 5, 4, 0, tzinfo=UTC)


def test_occurrences_are_those_overlapping_the_range_and_bounded(cast):
    start = datetime(2026, 1, 5, 22, 0, tzinfo=UTC)
    w = window(
        cast,
        WindowKind.MAINTENANCE,
        starts_at=start,
        ends_at=start + timedelta(hours=4),
        rrule="FREQ=DAILY",
    )
    # A range that starts inside the 2026-01-09 occurrence includes it.
    found = windows.occurrences(
        w, datetime(2026, 1, 10, 1, 0, tzinfo=UTC), datetime(2026, 1, 11, 23, 0, tzinfo=UTC)
    )
    assert [s.day for s, _ in found] == [9, 10, 11]
    many = windows.occurrences(w, start, start + timedelta(days=5000))
    assert len(many) == windows.MAX_OCCURRENCES
    one_off = window(cast, starts_at=start, ends_at=start + timedelta(hours=1))
    assert windows.occurrences(one_off, start - timedelta(days=1), start) == []
    assert windows.occurrences(one_off, start, start + timedelta(minutes=1)) == [
        (start, start + timedelta(hours=1))
    ]


def test_window_input_errors_name_the_field(cast):
    cis = topology(cast.org_a)
    start = when(1)
    cases = [
        ({"ends_at": start - timedelta(hours=1)}, "ends_at"),
        ({"rrule": "FREQ=MINUTELY"}, "rrule"),
        ({"rrule": "FREQ=WEEKLY;BYDAY=XX"}, "rrule"),
        ({"rrule": "FREQ=WEEKLY;UNTIL=20260101"}, "rrule"),
        ({"name": "  "}, "name"),
        ({"services": [cis["app_srv"]]}, "service_ids"),
    ]
    for extra, field in cases:
        fields = {"starts_at": start, "ends_at": start + timedelta(hours=2), **extra}
        with pytest.raises(FieldError) as err:
            window(cast, **fields)
        assert field in err.value.errors, (extra, err.value.errors)
    foreign = topology(cast.org_b, prefix="b-")
    with pytest.raises(FieldError) as err:
        window(cast, services=[foreign["banking"]])
    assert "another organisation" in err.value.errors["service_ids"]
    with pytest.raises(FieldError):
        window(cast, kind="holiday")


def test_only_managers_write_windows_and_retiring_keeps_the_row(cast):
    with pytest.raises(PermissionDenied):
        window_actions.create_window(
            acting_user=cast.agent,
            organization=cast.org_a,
            kind=WindowKind.FREEZE,
            name="x",
            starts_at=when(1),
            ends_at=when(2),
        )
    w = window(cast)
    w = window_actions.update_window(acting_user=cast.manager, window=w, name="Year-end freeze")
    assert w.name == "Year-end freeze"
    window_actions.retire_window(acting_user=cast.manager, window=w)
    w.refresh_from_db()
    assert w.is_active is False
    assert windows.freezes_overlapping(cast.org_a.pk, when(0), when(10)) == []
    with pytest.raises(Conflict):
        window_actions.update_window(acting_user=cast.manager, window=w, name="again")


# --- Freeze coverage --------------------------------------------------------------------------


def test_a_freeze_of_a_service_covers_changes_to_cis_it_rests_on(cast):
    cis = topology(cast.org_a)
    f = window(cast, services=[cis["banking"]], name="Banking freeze")
    start, end = when(2, hour=8), when(2, hour=10)
    hit = windows.freezes_overlapping(cast.org_a.pk, start, end, cis=[cis["db_srv"]])
    assert [(x["window_id"], x["name"], x["services"]) for x in hit] == [
        (f.pk, "Banking freeze", ["Online Banking"])
    ]
    assert windows.freezes_overlapping(cast.org_a.pk, start, end, services=[cis["banking"]])
    assert windows.freezes_overlapping(cast.org_a.pk, start, end, cis=[cis["mail_srv"]]) == []
    assert windows.freezes_overlapping(cast.org_a.pk, when(8), when(9), cis=[cis["db_srv"]]) == []
    everything = window(cast, name="Org freeze")
    # Without CIs or services only the organisation-wide freeze applies.
    assert [x["name"] for x in windows.freezes_overlapping(cast.org_a.pk, start, end)] == [
        "Org freeze"
    ]
    both = windows.freezes_overlapping(cast.org_a.pk, start, end, cis=[cis["db_srv"]])
    assert sorted(x["name"] for x in both) == ["Banking freeze", "Org freeze"]
    assert [
        x["window_id"]
        for x in windows.freezes_overlapping(cast.org_a.pk, start, end, cis=[cis["mail_srv"]])
    ] == [everything.pk]
    assert windows.freezes_overlapping(cast.org_b.pk, start, end) == []


# --- The freeze guard -------------------------------------------------------------------------


def test_a_normal_change_in_a_freeze_is_refused_naming_the_window(cast):
    cis = topology(cast.org_a)
    window(cast, services=[cis["banking"]], name="Quarter-end freeze")
    c = change(cast, cis=[cis["db"]], planned_start=when(3), planned_end=when(3, hour=12))
    actions.transition_change(acting_user=cast.agent, change=c, name="assess")
    with pytest.raises(Conflict) as err:
        actions.transition_change(acting_user=cast.agent, change=c, name="request_authorisation")
    assert err.value.field == "planned_start"
    assert "Quarter-end freeze" in err.value.detail
    assert "only an emergency change with a freeze justification" in err.value.detail
    c.refresh_from_db()
    assert c.state == ChangeState.ASSESS
    # A justification does not help a normal change.
    c.refresh_from_db()
    with pytest.raises(Conflict):
        actions.transition_change(
            acting_user=cast.agent,
            change=c,
            name="request_authorisation",
            freeze_justification="Please",
        )


def test_an_emergency_needs_a_freeze_justification_and_then_passes(cast):
    cis = topology(cast.org_a)
    window(cast, name="Quarter-end freeze")
    c = change(
        cast,
        change_type=ChangeType.EMERGENCY,
        justification="Bank app is down",
        cis=[cis["app"]],
        planned_start=when(3),
        planned_end=when(3, hour=12),
    )
    with pytest.raises(FieldError) as err:
        actions.transition_change(acting_user=cast.agent, change=c, name="request_authorisation")
    assert set(err.value.errors) == {"planned_start", "freeze_justification"}
    assert "Quarter-end freeze" in err.value.errors["planned_start"]
    c.refresh_from_db()
    assert c.state == ChangeState.NEW
    c = actions.transition_change(
        acting_user=cast.agent,
        change=c,
        name="request_authorisation",
        freeze_justification="Outage of online banking; the fix cannot wait.",
    )
    assert c.state == ChangeState.AUTHORISE
    assert [x["kind"] for x in c.conflicts] == ["freeze"]
    assert "Quarter-end freeze" in c.conflicts[0]["reason"]
    note = Activity.objects.filter(subject_type="change", subject_id=c.pk, kind="field").last()
    assert "Quarter-end freeze" in note.body


def test_a_standard_change_cannot_be_scheduled_in_a_freeze(cast):
    from opsdesk.changes.tests.factories import template

    cis = topology(cast.org_a)
    window(cast, services=[cis["email"]], name="Mail freeze")
    tpl = template(cast, cis=[cis["mail_srv"]])
    c = actions.create_change(
        acting_user=cast.agent, organization=cast.org_a, template=tpl, planned_start=when(3)
    )
    with pytest.raises(Conflict) as err:
        actions.transition_change(acting_user=cast.agent, change=c, name="schedule")
    assert "Mail freeze" in err.value.detail


def test_moving_a_scheduled_change_into_a_freeze_is_refused(cast):
    from opsdesk.changes.tests.factories import template

    cis = topology(cast.org_a)
    window(cast, name="Quarter-end freeze", starts_at=when(10, hour=0), ends_at=when(12, hour=0))
    tpl = template(cast, cis=[cis["app_srv"]])
    c = actions.create_change(
        acting_user=cast.agent, organization=cast.org_a, template=tpl, planned_start=when(3)
    )
    c = actions.transition_change(acting_user=cast.agent, change=c, name="schedule")
    assert c.state == ChangeState.SCHEDULED
    with pytest.raises(Conflict) as err:
        actions.update_change(
            acting_user=cast.agent,
            change=c,
            planned_start=when(10, hour=8),
            planned_end=when(10, hour=9),
        )
    assert err.value.field == "planned_start" and "Quarter-end freeze" in err.value.detail
    c.refresh_from_db()
    assert c.planned_start == when(3)
    # Moving it elsewhere outside the freeze is fine.
    actions.update_change(
        acting_user=cast.agent, change=c, planned_start=when(5), planned_end=when(5, hour=11)
    )


# --- Conflicts --------------------------------------------------------------------------------


def test_same_ci_conflict_names_the_ci_and_the_other_change(cast):
    cis = topology(cast.org_a)
    other = change(cast, title="Patch the DB server", cis=[cis["db_srv"]])
    c = change(cast, cis=[cis["db_srv"]], planned_start=when(3, hour=11))
    found = find_conflicts(c)
    assert [(x["kind"], x["change_number"]) for x in found] == [("same_ci", other.number)]
    assert "db-srv-01" in found[0]["reason"] and other.number in found[0]["reason"]
    # Not overlapping in time: no conflict.
    late = change(cast, cis=[cis["db_srv"]], planned_start=when(4), planned_end=when(4, hour=12))
    assert find_conflicts(late) == []
    # A cancelled change no longer occupies the calendar.
    actions.transition_change(acting_user=cast.agent, change=other, name="cancel", reason="No")
    assert find_conflicts(c) == []


def test_dependent_ci_conflict_says_how_within_two_hops(cast):
    cis = topology(cast.org_a)
    other = change(cast, title="Reboot the app server", cis=[cis["app_srv"]])
    c = change(cast, cis=[cis["app"]])
    found = find_conflicts(c)
    assert [x["kind"] for x in found] == ["dependent_ci"]
    assert found[0]["reason"].startswith(f"bank-app runs on app-srv-01, changed by {other.number}")
    # Two hops: bank-app -> bank-db -> db-srv-01.
    far = change(cast, title="Patch the DB server", cis=[cis["db_srv"]])
    reasons = {x["change_number"]: x["reason"] for x in find_conflicts(c)}
    assert "bank-app depends on bank-db; bank-db runs on db-srv-01" in reasons[far.number]
    # Three hops away (Online Banking -> bank-app -> bank-db -> db-srv-01) is not a conflict.
    top = change(cast, title="Banking release", cis=[cis["banking"]])
    assert far.number not in {x["change_number"] for x in find_conflicts(top)}
    # The other way round: the server's change sees the app's change.
    back = {x["change_number"]: x for x in find_conflicts(other)}
    assert back[c.number]["kind"] == "dependent_ci"


def test_freeze_and_outside_maintenance_conflicts(cast):
    cis = topology(cast.org_a)
    start = datetime(2026, 1, 4, 2, 0, tzinfo=UTC)
    window(
        cast,
        WindowKind.MAINTENANCE,
        name="Banking Sunday window",
        services=[cis["banking"]],
        starts_at=start,
        ends_at=start + timedelta(hours=4),
        rrule="FREQ=WEEKLY",
    )
    sunday = datetime(2030, 1, 6, 3, 0, tzinfo=UTC)
    inside = change(
        cast, cis=[cis["db"]], planned_start=sunday, planned_end=sunday + timedelta(hours=1)
    )
    assert windows.in_maintenance_window(inside) is True
    assert find_conflicts(inside) == []
    monday = sunday + timedelta(days=1)
    outside = change(
        cast, cis=[cis["db"]], planned_start=monday, planned_end=monday + timedelta(hours=1)
    )
    assert windows.in_maintenance_window(outside) is False
    found = find_conflicts(outside)
    assert [x["kind"] for x in found] == ["outside_maintenance"]
    assert "Banking Sunday window" in found[0]["reason"]
    # Email has no maintenance window: nothing to be outside of.
    mail = change(
        cast, cis=[cis["mail_srv"]], planned_start=monday, planned_end=monday + timedelta(hours=1)
    )
    assert windows.in_maintenance_window(mail) is None
    f = window(cast, name="Year-end freeze", starts_at=monday - timedelta(hours=1))
    kinds = [(x["kind"], x.get("window_id")) for x in find_conflicts(mail)]
    assert kinds == [("freeze", f.pk)]


def test_conflicts_are_stored_on_scheduling_and_refreshed_on_both_sides(cast):
    cis = topology(cast.org_a)
    other = change(cast, title="Patch the DB server", cis=[cis["db_srv"]])
    c = change(cast, cis=[cis["db_srv"]])
    to_authorise(c, cast.agent)
    c.refresh_from_db()
    other.refresh_from_db()
    assert [x["change_id"] for x in c.conflicts] == [other.pk]
    assert [x["change_id"] for x in other.conflicts] == [c.pk]
    entry = Activity.objects.filter(subject_type="change", subject_id=c.pk, kind="field").last()
    assert entry.data["conflicts"][0]["kind"] == "same_ci" and "db-srv-01" in entry.body
    # Moving the change away clears both.
    actions.update_change(
        acting_user=cast.agent, change=c, planned_start=when(20), planned_end=when(20, hour=12)
    )
    c.refresh_from_db()
    other.refresh_from_db()
    assert c.conflicts == [] and other.conflicts == []
    # Changing the CIs of a live change looks again.
    actions.update_change(
        acting_user=cast.agent, change=c, planned_start=when(3), planned_end=when(3, hour=12)
    )
    actions.set_cis(acting_user=cast.agent, change=c, cis=[cis["app_srv"], cis["mail_srv"]])
    c.refresh_from_db()
    assert c.conflicts == []
    actions.set_cis(acting_user=cast.agent, change=c, cis=[cis["db"]])
    c.refresh_from_db()
    assert [x["kind"] for x in c.conflicts] == ["dependent_ci"]
