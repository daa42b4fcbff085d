"""`opsdesk import servicenow-incidents`: a slice of the real ServiceNow event log rebuilt into
incidents with their state and assignment history, idempotently."""

from __future__ import annotations

import csv
import io
import zipfile
from collections import defaultdict
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from opsdesk.accounts.models import Membership, Team, User
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.models import AuditRecord, NumberSequence
from opsdesk.core.permissions import Role
from opsdesk.servicedesk.actions import create_incident
from opsdesk.servicedesk.importers.servicenow import (
    SOURCE,
    ImportFileError,
    import_incidents,
)
from opsdesk.servicedesk.models import Activity, Category, Incident

pytestmark = pytest.mark.django_db
SLICE = Path(__file__).parent / "fixtures" / "servicenow_incident_event_log-3000.csv.zip"


def slice_rows() -> list[dict[str, str]]:
    with zipfile.ZipFile(SLICE) as archive:
        text = archive.read("incident_event_log.csv").decode()
    return list(csv.DictReader(io.StringIO(text)))


def run(org, user, path=SLICE, **kwargs):  # type: ignore[no-untyped-def]
    return import_incidents(acting_user=user, organization=org, path=path, **kwargs)


def timeline(incident: Incident, kind: str) -> list[Activity]:
    return list(
        Activity.objects.filter(
            subject_type="incident", subject_id=incident.pk, kind=kind
        ).order_by("at", "id")
    )


def utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def test_slice_rebuilds_every_incident_with_its_history(cast):  # type: ignore[no-untyped-def]
    rows = slice_rows()
    numbers = {r["number"] for r in rows}
    result = run(cast.org_a, cast.admin)
    assert result.rows == len(rows) == 3000
    assert result.incidents == result.created == len(numbers) == 447
    assert result.problems == 0
    imported = Incident.objects.filter(organization=cast.org_a, source=SOURCE)
    assert imported.count() == len(numbers)
    assert set(imported.values_list("external_id", flat=True)) == numbers
    # One audit record per created incident.
    assert AuditRecord.objects.filter(
        object_type="servicedesk.incident", action="create", organization_id=cast.org_a.pk
    ).count() == len(numbers)

    # INC0000045: New -> Resolved -> Closed, each change at its sys_updated_at, by its updater.
    inc = imported.get(external_id="INC0000045")
    assert inc.number == "INC0000045"  # the ServiceNow number is kept (free in this org)
    assert inc.title == "Symptom 72 — Category 55 / Subcategory 170"
    assert (inc.state, inc.priority, inc.impact, inc.urgency) == ("closed", 3, 2, 2)
    assert inc.opened_at == utc("2016-02-29 01:16")
    assert inc.resolved_at == utc("2016-02-29 11:29")
    assert inc.closed_at == utc("2016-03-05 12:00")
    assert inc.resolution_code == "code 5"
    assert inc.channel == "phone"
    states = [(a.data["from"], a.data["to"], a.at, a.actor_name) for a in timeline(inc, "state")]
    assert states == [
        ("new", "resolved", utc("2016-02-29 08:53"), "Updated by 642"),
        ("resolved", "closed", utc("2016-03-05 12:00"), "Updated by 908"),
    ]
    (created,) = timeline(inc, "created")
    assert created.at == inc.opened_at
    assert created.data["made_sla"] is True
    assert created.data["external_id"] == "INC0000045"
    # Caller -> requester who is a member of the organisation.
    assert inc.requester.email == "caller-2403@acme-africa.servicenow.invalid"
    assert inc.requester.full_name == "Caller 2403"
    assert not inc.requester.has_usable_password()
    assert (
        Membership.objects.get(user=inc.requester, organization=cast.org_a).role == Role.REQUESTER
    )
    # Categories: the subcategory is a child of the category.
    assert inc.category.name == "Category 55" and inc.category.parent_id is None
    assert inc.subcategory.name == "Subcategory 170"
    assert inc.subcategory.parent_id == inc.category_id
    assert inc.assignment_group.name == "Group 56"

    # Priority, impact and urgency from "1 - Critical" / "1 - High".
    critical = imported.get(external_id="INC0000261")
    assert (critical.priority, critical.impact, critical.urgency) == (1, 1, 1)

    # Every change of assignment is an "assigned" entry; assignees are agents and members of
    # the teams they worked for.
    last = {}
    for r in rows:
        if r["number"] not in last or int(r["sys_mod_count"]) >= int(
            last[r["number"]]["sys_mod_count"]
        ):
            last[r["number"]] = r
    groups = {r["assignment_group"] for r in last.values()} - {"?"}
    assert groups <= set(
        Team.objects.filter(organization=cast.org_a).values_list("name", flat=True)
    )
    for incident in (
        imported.exclude(assignee=None)
        .exclude(assignment_group=None)
        .select_related("assignee", "assignment_group")[:50]
    ):
        assert incident.assignment_group.members.filter(pk=incident.assignee_id).exists()
        assert (
            Membership.objects.get(user=incident.assignee, organization=cast.org_a).role
            == Role.AGENT
        )
    reassigned = imported.filter(reassignment_count__gt=0).first()
    assert reassigned is not None
    assert len(timeline(reassigned, "assigned")) >= 2

    # Every state change of every incident is in its timeline, in order.
    by_number: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        by_number[r["number"]].append(r)
    changes = 0
    for events in by_number.values():
        events.sort(key=lambda r: int(r["sys_mod_count"]))
        previous = "New"
        for r in events:
            if r["incident_state"] != previous and r["incident_state"] != "-100":
                changes += 1
                previous = r["incident_state"]
    assert (
        Activity.objects.filter(organization=cast.org_a, kind="state", data__source=SOURCE).count()
        == changes
    )
    # Nothing leaks into the other organisation.
    assert not Incident.objects.filter(organization=cast.org_b).exists()


def test_second_run_creates_nothing_and_a_changed_row_updates(cast, tmp_path):  # type: ignore[no-untyped-def]
    first = run(cast.org_a, cast.admin, limit=1000)
    counts = (
        Incident.objects.count(),
        Activity.objects.count(),
        User.objects.count(),
        Team.objects.count(),
        Category.objects.count(),
        AuditRecord.objects.count(),
    )
    second = run(cast.org_a, cast.admin, limit=1000)
    assert (second.created, second.updated, second.unchanged) == (0, 0, first.created)
    assert second.activities_created == 0
    assert (
        Incident.objects.count(),
        Activity.objects.count(),
        User.objects.count(),
        Team.objects.count(),
        Category.objects.count(),
        AuditRecord.objects.count(),
    ) == counts

    # A later export: INC0000045 got a higher priority and one more update.
    rows = slice_rows()[:1000]
    header = list(rows[0])
    extra = dict(rows[3], sys_mod_count="5", priority="2 - High", impact="1 - High")
    extra["sys_updated_at"] = "6/3/2016 09:30"
    extra["sys_updated_by"] = "Updated by 7"
    extra["incident_state"] = "Closed"
    extra["assignment_group"] = "Group 99"
    path = tmp_path / "later.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows([*rows, extra])
    third = run(cast.org_a, cast.admin, path=path)
    assert (third.created, third.updated, third.unchanged) == (0, 1, first.created - 1)
    inc = Incident.objects.get(organization=cast.org_a, external_id="INC0000045")
    assert (inc.priority, inc.impact, inc.assignment_group.name) == (2, 1, "Group 99")
    assert AuditRecord.objects.filter(
        object_type="servicedesk.incident", object_id=str(inc.pk), action="update"
    ).exists()
    (moved,) = [a for a in timeline(inc, "assigned") if a.data["group"] == "Group 99"]
    assert moved.at == utc("2016-03-06 09:30")
    assert moved.data["from_group"] == "Group 56"
    assert Incident.objects.filter(external_id="INC0000045").count() == 1


def test_malformed_rows_are_reported_with_row_and_field(cast, tmp_path):  # type: ignore[no-untyped-def]
    rows = slice_rows()[:12]  # INC0000045 (4 rows), INC0000047 (8 rows)
    header = list(rows[0])
    rows[1] = dict(rows[1], sys_updated_at="31/02/2016 25:61")  # line 3
    rows[5] = dict(rows[5], priority="9 - Unheard of")  # line 7
    rows[6] = dict(rows[6], opened_at="yesterday")  # line 8
    rows[7] = dict(rows[7], number="")  # line 9
    rows[8] = dict(rows[8], sys_mod_count="x")  # line 10
    rows[9] = dict(rows[9], impact="High-ish")  # line 11
    path = tmp_path / "bad.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows(rows)
    result = run(cast.org_a, cast.admin, path=path)
    found = {(r["row"], r["field"]) for r in result.report}
    assert found == {
        (3, "sys_updated_at"),
        (7, "priority"),
        (8, "opened_at"),
        (9, "number"),
        (10, "sys_mod_count"),
        (11, "impact"),
    }
    assert result.skipped_rows == 3
    assert result.created == 2  # both incidents still imported
    assert "9 - Unheard of" in next(r["message"] for r in result.report if r["row"] == 7)


def test_a_file_that_is_not_an_export_is_refused(cast, tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "other.csv"
    path.write_text("name,class\nweb-01,server\n")
    with pytest.raises(ImportFileError, match="incident_state"):
        run(cast.org_a, cast.admin, path=path)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ImportFileError, match="empty"):
        run(cast.org_a, cast.admin, path=empty)
    assert not Incident.objects.exists()


def test_taken_numbers_get_fresh_ones_and_the_sequence_moves_past_imports(cast):  # type: ignore[no-untyped-def]
    native = create_incident(acting_user=cast.agent, organization=cast.org_a, title="Printer jam")
    assert native.number == "INC0000001"
    NumberSequence.objects.filter(organization=cast.org_a, prefix="INC").update(last_value=44)
    squatter = create_incident(acting_user=cast.agent, organization=cast.org_a, title="Squatter")
    assert squatter.number == "INC0000045"
    run(cast.org_a, cast.admin, limit=200)
    imported = Incident.objects.get(organization=cast.org_a, external_id="INC0000045")
    assert imported.number != "INC0000045"  # taken: a fresh number, ServiceNow's kept aside
    highest = max(
        int(n[3:])
        for n in Incident.objects.filter(organization=cast.org_a).values_list("number", flat=True)
    )
    later = create_incident(acting_user=cast.agent, organization=cast.org_a, title="After import")
    assert int(later.number[3:]) == highest + 1


def test_only_admins_import(cast):  # type: ignore[no-untyped-def]
    from opsdesk.core.errors import PermissionDenied

    for user in (cast.requester, cast.agent, cast.manager, cast.admin_b):
        with pytest.raises(PermissionDenied):
            run(cast.org_a, user, limit=10)
    assert not Incident.objects.exists()


def test_cli_reads_the_zip_with_a_progress_bar(cast):  # type: ignore[no-untyped-def]
    out, err = StringIO(), StringIO()
    call_command(
        "import",
        "servicenow-incidents",
        str(SLICE),
        "--organization",
        cast.org_a.slug,
        "--limit",
        "600",
        "--as",
        cast.admin.email,
        stdout=out,
        stderr=err,
    )
    assert "writing incidents" in err.getvalue() and "100%" in err.getvalue()
    assert "600 rows" in out.getvalue() and "created" in out.getvalue()
    assert Incident.objects.filter(organization=cast.org_a).exists()
    again = StringIO()
    call_command(
        "import",
        "servicenow-incidents",
        str(SLICE),
        "--organization",
        cast.org_a.slug,
        "--limit",
        "600",
        "--as",
        cast.admin.email,
        stdout=again,
        stderr=StringIO(),
    )
    assert "created 0, updated 0" in again.getvalue()
    with pytest.raises(CommandError, match="No organisation"):
        call_command("import", "servicenow-incidents", str(SLICE), "--organization", "nope")
    with pytest.raises(CommandError, match="No such file"):
        call_command("import", "servicenow-incidents", "/nonexistent.csv")


def test_cmdb_ci_becomes_an_application_ci(cast, tmp_path):  # type: ignore[no-untyped-def]
    rows = slice_rows()[:4]
    header = list(rows[0])
    rows = [dict(r, cmdb_ci="payroll-engine") for r in rows]
    path = tmp_path / "ci.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows(rows)
    run(cast.org_a, cast.admin, path=path)
    inc = Incident.objects.get(organization=cast.org_a, external_id="INC0000045")
    ci = ConfigurationItem.objects.get(organization=cast.org_a, name="payroll-engine")
    assert inc.ci_id == ci.pk and ci.ci_class.key == "application"
