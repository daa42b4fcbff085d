"""Service-level reporting on constructed clocks: compliance by every grouping, month
boundaries in the organisation's time zone, MTTA/MTTR percentiles and histograms."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from opsdesk.cmdb.tests.factories import ci
from opsdesk.sla import reports
from opsdesk.sla.models import Definition
from opsdesk.sla.tests.reporting import at, clock, definitions, incident

pytestmark = pytest.mark.django_db

OCT = date(2026, 10, 1)


def _rows(rows: list[reports.ComplianceRow]) -> dict:
    return {r.label: (r.met, r.breached, r.compliance) for r in rows}


@pytest.fixture
def october(cast):
    """October 2026 in organisation A (Johannesburg), with known outcomes."""
    d = definitions(cast)
    banking = ci(cast.org_a, "Online banking", "business_service")
    email = ci(cast.org_a, "Email", "business_service")
    mid = at(2026, 10, 15, 12)
    # SLA resolution: banking P1 met + breached, P2 met x2; email P2 met + breached.
    clock(d["sla"], stopped=mid, service=banking, priority=1, team=cast.team_a)
    clock(d["sla"], stopped=mid, service=banking, priority=1, breached=True, team=cast.team_a)
    clock(d["sla"], stopped=mid, service=banking, priority=2)
    clock(d["sla"], stopped=mid, service=banking, priority=2)
    clock(d["sla"], stopped=mid, service=email, priority=2)
    clock(d["sla"], stopped=mid, service=email, priority=2, breached=True)
    # Never counted: a cancelled ticket's clock, a running clock, a response clock.
    clock(d["sla"], stopped=mid, service=email, status="cancelled", breached=True)
    clock(d["sla"], stopped=None, service=email, breached=True)
    clock(d["sla"], stopped=mid, service=email, metric="response", breached=True, elapsed=2000)
    # OLA of team A: one of two met; UC of the supplier: both met.
    clock(d["ola"], stopped=mid, breached=True)
    clock(d["ola"], stopped=mid)
    clock(d["uc"], stopped=mid)
    clock(d["uc"], stopped=mid)
    # Organisation B's breach in the same month.
    b_def = Definition.objects.create(
        organization=cast.org_b, name="B", kind="sla", resolution_minutes={"2": 60}
    )
    clock(b_def, stopped=mid, breached=True)
    return {"defs": d, "banking": banking, "email": email}


def _compliance(cast, group_by, **kw):
    return reports.compliance([cast.org_a.pk], OCT, date(2026, 10, 31), group_by, **kw)


def test_compliance_by_service_counts_stopped_clocks_only(cast, october):
    rows = _compliance(cast, "service", kind="sla")
    assert _rows(rows) == {"Email": (1, 1, 50.0), "Online banking": (3, 1, 75.0)}


def test_compliance_by_priority(cast, october):
    rows = _compliance(cast, "priority", kind="sla")
    assert [(r.key, r.label, r.met, r.breached) for r in rows] == [
        (1, "P1 Critical", 1, 1),
        (2, "P2 High", 3, 1),
    ]


def test_compliance_by_team_is_the_ola_team_or_the_assignment_group(cast, october):
    # OLA clocks carry their own team; SLA clocks the group that resolved the ticket.
    assert _rows(_compliance(cast, "team", kind="ola")) == {"Service Desk A": (1, 1, 50.0)}
    assert _rows(_compliance(cast, "team", kind="sla")) == {
        "Service Desk A": (1, 1, 50.0),
        "No team": (3, 1, 75.0),
    }
    every = _compliance(cast, "team")
    assert _rows(every)["Service Desk A"] == (2, 2, 50.0)


def test_compliance_by_supplier_reads_uc_clocks(cast, october):
    assert _rows(_compliance(cast, "supplier")) == {"Fibre Co": (2, 0, 100.0)}


def test_compliance_by_definition_and_metric(cast, october):
    assert _rows(_compliance(cast, "definition")) == {
        "Desk OLA": (1, 1, 50.0),
        "Fibre UC": (2, 0, 100.0),
        "Gold": (4, 2, 66.7),
    }
    assert _rows(_compliance(cast, "definition", metric="response")) == {"Gold": (0, 1, 0.0)}
    assert _rows(_compliance(cast, "definition", metric=None))["Gold"] == (4, 3, 57.1)


def test_compliance_by_month(cast, october):
    d = october["defs"]
    clock(d["sla"], stopped=at(2026, 9, 10, 9), breached=True)
    rows = reports.compliance(
        [cast.org_a.pk], date(2026, 9, 1), date(2026, 10, 31), "month", kind="sla"
    )
    assert [(r.key, r.label, r.met, r.breached) for r in rows] == [
        ("2026-09", "Sep 2026", 0, 1),
        ("2026-10", "Oct 2026", 4, 2),
    ]


def test_other_organisations_are_counted_only_when_asked(cast, october):
    both = reports.compliance(
        [cast.org_a.pk, cast.org_b.pk], OCT, date(2026, 10, 31), "definition", kind="sla"
    )
    assert _rows(both) == {"B": (0, 1, 0.0), "Gold": (4, 2, 66.7)}


def test_month_boundaries_are_the_organisations_midnights(cast):
    d = definitions(cast)
    # 00:30 on 1 October in Johannesburg is still 30 September in UTC, and 00:30 on
    # 1 November is 31 October in UTC.
    clock(d["sla"], stopped=at(2026, 10, 1, 0, 30), number="FIRST")
    clock(d["sla"], stopped=at(2026, 10, 31, 23, 59), number="LAST", breached=True)
    clock(d["sla"], stopped=at(2026, 9, 30, 23, 59), number="SEPTEMBER", breached=True)
    clock(d["sla"], stopped=at(2026, 11, 1, 0, 30), number="NOVEMBER", breached=True)
    report = reports.compliance_report(organization_id=cast.org_a.pk, month=OCT)
    assert (report.overall.met, report.overall.breached) == (1, 1)
    assert [b.number for b in report.breaches] == ["LAST"]
    months = reports.compliance(
        [cast.org_a.pk], date(2026, 9, 1), date(2026, 11, 30), "month", kind="sla"
    )
    assert [(r.key, r.met, r.breached) for r in months] == [
        ("2026-09", 0, 1),
        ("2026-10", 1, 1),
        ("2026-11", 0, 1),
    ]
    assert report.period.start.isoformat() == "2026-10-01T00:00:00+02:00"
    assert report.period.end.isoformat() == "2026-11-01T00:00:00+02:00"


def test_bad_choices_name_the_field(cast):
    from opsdesk.core.errors import FieldError

    for kwargs, name in (
        ({"group_by": "colour"}, "group_by"),
        ({"group_by": "service", "kind": "xla"}, "kind"),
        ({"group_by": "service", "metric": "speed"}, "metric"),
    ):
        with pytest.raises(FieldError) as exc:
            reports.compliance([cast.org_a.pk], OCT, date(2026, 10, 31), **kwargs)
        assert name in exc.value.errors
    with pytest.raises(FieldError) as exc:
        reports.parse_month("2026-13")
    assert "month" in exc.value.errors
    with pytest.raises(FieldError) as exc:
        reports.date_period("UTC", date(2026, 10, 2), date(2026, 10, 1))
    assert "end" in exc.value.errors


# --- MTTA / MTTR ---------------------------------------------------------------------------

#: Wall times to resolve, one in every histogram bucket: P2 30 min, 2 h, 5 h, 10 h, 2 d;
#: P1 4 d, 8 d.
P2_SECONDS = [1800, 7200, 18000, 36000, 172800]
P1_SECONDS = [345600, 691200]


@pytest.fixture
def resolved(cast):
    resolved_at = at(2026, 10, 20, 12)
    for prio, durations in ((2, P2_SECONDS), (1, P1_SECONDS)):
        for seconds in durations:
            incident(
                cast.org_a,
                opened=resolved_at - timedelta(seconds=seconds),
                resolved=resolved_at,
                priority=prio,
            )
    # Resolved in November (Johannesburg), and an open incident: neither counts.
    incident(cast.org_a, opened=at(2026, 10, 31, 20), resolved=at(2026, 11, 1, 0, 30))
    incident(cast.org_a, opened=at(2026, 10, 2, 9))
    incident(cast.org_b, opened=at(2026, 10, 2, 9), resolved=at(2026, 10, 2, 10))


def test_percentile_interpolates_like_percentile_cont():
    assert reports.percentile([], 0.5) is None
    assert reports.percentile([7.0], 0.9) == 7.0
    assert reports.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert reports.percentile([10.0, 20.0], 0.9) == pytest.approx(19.0)


def test_mttr_wall_time_mean_median_p90_and_histogram(cast, resolved):
    period = reports.month_period("Africa/Johannesburg", OCT)
    wall, business = reports.mttr([cast.org_a.pk], period.start, period.end)
    overall = wall.overall
    assert overall.count == 7
    assert overall.mean == pytest.approx(sum(P2_SECONDS + P1_SECONDS) / 7)
    assert overall.median == pytest.approx(36000)
    assert overall.p90 == pytest.approx(345600 + 0.4 * (691200 - 345600))
    assert overall.histogram == [1, 1, 1, 1, 1, 1, 1]
    p2, p1 = wall.by_priority[2], wall.by_priority[1]
    assert (p2.count, p2.median, p2.p90) == (5, pytest.approx(18000), pytest.approx(118080))
    assert p2.histogram == [1, 1, 1, 1, 1, 0, 0]
    assert (p1.median, p1.p90) == (pytest.approx(518400), pytest.approx(656640))
    assert p1.histogram == [0, 0, 0, 0, 0, 1, 1]
    assert business.overall.count == 0 and business.overall.median is None
    only_p1 = reports.mttr([cast.org_a.pk], period.start, period.end, priority=1)[0]
    assert only_p1.overall.count == 2 and set(only_p1.by_priority) == {1}


def test_bucket_edges_are_lower_bound_inclusive(cast):
    resolved_at = at(2026, 10, 20, 12)
    for seconds in (3599, 3600, 4 * 3600, 7 * 86400):
        incident(cast.org_a, opened=resolved_at - timedelta(seconds=seconds), resolved=resolved_at)
    period = reports.month_period("Africa/Johannesburg", OCT)
    wall = reports.mttr([cast.org_a.pk], period.start, period.end)[0]
    assert wall.overall.histogram == [1, 1, 1, 0, 0, 0, 1]


def test_mttr_in_business_time_reads_sla_resolution_clocks(cast):
    d = definitions(cast)
    stopped = at(2026, 10, 9, 16)
    for elapsed, prio in ((600, 2), (7200, 2), (20000, 1)):
        clock(d["sla"], stopped=stopped, elapsed=elapsed, priority=prio)
    clock(d["ola"], stopped=stopped, elapsed=99999)  # not an SLA
    period = reports.month_period("Africa/Johannesburg", OCT)
    business = reports.mttr([cast.org_a.pk], period.start, period.end)[1]
    assert business.overall.count == 3
    assert business.overall.median == pytest.approx(7200)
    assert business.by_priority[2].mean == pytest.approx(3900)
    assert business.overall.histogram == [1, 1, 1, 0, 0, 0, 0]


def test_mtta_from_response_clocks_else_first_assignment(cast):
    d = definitions(cast)
    period = reports.month_period("Africa/Johannesburg", OCT)
    opened = at(2026, 10, 5, 9)
    assigned = [600, 3000, 7200]
    for seconds in assigned:
        incident(
            cast.org_a,
            opened=opened,
            resolved=opened + timedelta(days=1),
            first_assigned_at=opened + timedelta(seconds=seconds),
        )
    fallback = reports.mtta([cast.org_a.pk], period.start, period.end)
    assert [m.basis for m in fallback] == ["wall time, opened to first assignment"]
    assert fallback[0].overall.median == pytest.approx(3000)
    # With response clocks, they are the measure: wall from start to stop, and business.
    clock(
        d["sla"],
        metric="response",
        started=opened,
        stopped=opened + timedelta(minutes=10),
        elapsed=600,
    )
    clock(
        d["sla"],
        metric="response",
        started=opened,
        stopped=opened + timedelta(hours=15),
        elapsed=3600,
    )
    wall, business = reports.mtta([cast.org_a.pk], period.start, period.end)
    assert wall.overall.count == 2
    assert wall.overall.mean == pytest.approx((600 + 15 * 3600) / 2)
    assert wall.overall.histogram == [1, 0, 0, 1, 0, 0, 0]
    assert business.overall.median == pytest.approx(2100)


# --- the report ----------------------------------------------------------------------------


def test_the_month_report(cast, october, resolved):
    d = october["defs"]
    clock(d["sla"], stopped=at(2026, 7, 1, 9))  # in the trend, not in the month
    report = reports.compliance_report(organization_id=cast.org_a.pk, month=date(2026, 10, 17))
    assert report.period.label == "October 2026"
    assert [k.kind for k in report.kinds] == ["sla", "ola", "uc"]
    assert report.overall.as_dict() == {
        "key": "sla",
        "label": "SLA",
        "met": 4,
        "breached": 2,
        "total": 6,
        "compliance": 66.7,
    }
    assert (report.kinds[0].response.met, report.kinds[0].response.breached) == (0, 1)
    assert [r.label for r in report.by_service] == ["Email", "Online banking"]
    assert _rows(report.by_team) == {"Service Desk A": (1, 1, 50.0)}
    assert _rows(report.by_supplier) == {"Fibre Co": (2, 0, 100.0)}
    assert [p.label for p in report.trend] == [
        "May 2026",
        "Jun 2026",
        "Jul 2026",
        "Aug 2026",
        "Sep 2026",
        "Oct 2026",
    ]
    assert report.trend[2].by_kind["sla"].met == 1
    assert report.trend[5].by_kind["sla"].compliance == 66.7
    assert report.trend[5].by_kind["uc"].compliance == 100.0
    # SLA breaches (resolution and response), the worst overrun first.
    assert report.breach_count == 3
    overruns = [b.over_seconds for b in report.breaches]
    assert overruns == sorted(overruns, reverse=True) and overruns[0] == 3600
    assert sorted(b.metric for b in report.breaches) == ["resolution", "resolution", "response"]
    assert {b.service for b in report.breaches} == {"Email", "Online banking"}
    names = {x["name"] for x in report.definitions}
    assert names == {"Gold", "Desk OLA", "Fibre UC"}
    assert report.mttr[0].overall.count == 7
    as_json = report.as_dict()
    assert as_json["overall"]["compliance"] == 66.7
    assert as_json["mttr"][0]["overall"]["histogram"][0] == {"bucket": "< 1 h", "count": 1}


def test_breaches_say_how_much_and_who_held_it(cast):
    d = definitions(cast)
    stopped = at(2026, 10, 12, 10)
    sla = clock(
        d["sla"],
        stopped=stopped,
        breached=True,
        elapsed=10 * 3600,
        target=8 * 3600,
        subject_id=4242,
        number="INC4242",
        team=cast.team_a,
    )
    clock(d["uc"], stopped=stopped, breached=True, subject_id=4242, number="INC4242")
    clock(
        d["sla"],
        stopped=stopped,
        breached=True,
        elapsed=9 * 3600,
        target=8 * 3600,
        number="INC7",
        team=cast.team_a,
    )
    period = reports.month_period("Africa/Johannesburg", OCT)
    count, found = reports.breaches(cast.org_a.pk, period.start, period.end)
    assert count == 2
    first, second = found
    assert first.clock_id == sla.pk
    assert (first.over_seconds, first.over_percent, first.over_text) == (7200, 25.0, "2 h 00 m")
    assert first.held_by == ["Fibre Co (UC)"]  # its supplier breached too
    assert second.held_by == ["Service Desk A"]  # else the group that resolved it
