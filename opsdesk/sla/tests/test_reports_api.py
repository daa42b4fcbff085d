"""The scorecard API: compliance, MTTA/MTTR and the month's report as JSON."""

from __future__ import annotations

from datetime import datetime

import pytest

from opsdesk.core.testing.api import ApiClient, assert_error
from opsdesk.sla.tests.reporting import at, clock, definitions, incident

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, cast):
    return ApiClient(client, cast.manager)


@pytest.fixture
def october(cast):
    d = definitions(cast)
    mid = at(2026, 10, 15, 12)
    clock(d["sla"], stopped=mid, priority=1)
    clock(d["sla"], stopped=mid, priority=1, breached=True, number="INC77")
    clock(d["sla"], stopped=mid, priority=2)
    clock(d["uc"], stopped=mid, breached=True)
    clock(d["sla"], stopped=at(2026, 9, 3, 12), priority=2, breached=True)
    incident(cast.org_a, opened=at(2026, 10, 15, 9), resolved=mid, priority=1)
    incident(cast.org_a, opened=at(2026, 10, 14, 12), resolved=mid, priority=2)
    return d


def test_compliance_grouped(api, cast, october):
    params = {"organization": cast.org_a.pk, "start": "2026-10-01", "end": "2026-10-31"}
    body = api.get("/sla/compliance", {**params, "group_by": "priority", "kind": "sla"}).json()
    assert datetime.fromisoformat(body["start"]) == at(2026, 10, 1)
    assert datetime.fromisoformat(body["end"]) == at(2026, 11, 1)
    assert [(r["key"], r["met"], r["breached"], r["compliance"]) for r in body["rows"]] == [
        (1, 1, 1, 50.0),
        (2, 1, 0, 100.0),
    ]
    body = api.get("/sla/compliance", {**params, "group_by": "supplier"}).json()
    assert body["kind"] == "uc"
    assert [(r["label"], r["breached"]) for r in body["rows"]] == [("Fibre Co", 1)]
    body = api.get(
        "/sla/compliance",
        {
            "organization": cast.org_a.pk,
            "start": "2026-09-01",
            "end": "2026-10-31",
            "group_by": "month",
            "kind": "sla",
        },
    ).json()
    assert [(r["key"], r["total"]) for r in body["rows"]] == [("2026-09", 1), ("2026-10", 3)]
    # A start alone runs to the end of its month.
    body = api.get(
        "/sla/compliance",
        {
            "organization": cast.org_a.pk,
            "start": "2026-09-01",
            "group_by": "definition",
            "kind": "sla",
        },
    ).json()
    assert [(r["label"], r["total"]) for r in body["rows"]] == [("Gold", 1)]


def test_compliance_refuses_bad_input_naming_the_field(api, cast):
    org = {"organization": cast.org_a.pk}
    assert_error(api.get("/sla/compliance", {**org, "group_by": "colour"}), 422, "group_by")
    assert_error(api.get("/sla/compliance", {**org, "kind": "xla"}), 422, "kind")
    assert_error(api.get("/sla/compliance", {**org, "metric": "speed"}), 422, "metric")
    assert_error(api.get("/sla/compliance", {**org, "start": "2026-13-01"}), 422, "start")
    assert_error(api.get("/sla/compliance", {**org, "end": "yesterday"}), 422, "end")
    assert_error(
        api.get("/sla/compliance", {**org, "start": "2026-10-02", "end": "2026-10-01"}), 422, "end"
    )
    assert_error(api.get("/sla/compliance", {**org, "start": "0001-01-01"}), 422, "start")
    assert_error(api.get("/sla/compliance"), 422, "organization")
    assert_error(api.get("/sla/mttr", {**org, "priority": 9}), 422, "priority")
    assert_error(api.get(f"/sla/reports/{cast.org_a.pk}", {"month": "2026-13"}), 422, "month")
    assert_error(api.get(f"/sla/reports/{cast.org_a.pk}", {"month": "October"}), 422, "month")


def test_other_organisations_are_not_found_and_requesters_forbidden(client, cast, october):
    api = ApiClient(client, cast.manager)
    b = {"organization": cast.org_b.pk}
    assert_error(api.get("/sla/compliance", b), 404)
    assert_error(api.get("/sla/mttr", b), 404)
    assert_error(api.get(f"/sla/reports/{cast.org_b.pk}"), 404)
    requester = ApiClient(client, cast.requester)
    a = {"organization": cast.org_a.pk}
    assert_error(requester.get("/sla/compliance", a), 403)
    assert_error(requester.get("/sla/mttr", a), 403)
    assert_error(requester.get(f"/sla/reports/{cast.org_a.pk}"), 403)
    for user in (cast.agent, cast.auditor, cast.admin):
        assert ApiClient(client, user).get("/sla/compliance", a).status_code == 200
    assert ApiClient(client, cast.admin_b).get("/sla/compliance", b).json()["rows"] == []


def test_mttr(api, cast, october):
    body = api.get(
        "/sla/mttr", {"organization": cast.org_a.pk, "start": "2026-10-01", "end": "2026-10-31"}
    ).json()
    wall = body["mttr"][0]
    assert wall["basis"].startswith("wall time")
    assert wall["overall"]["count"] == 2
    assert wall["overall"]["median_seconds"] == pytest.approx((3 * 3600 + 24 * 3600) / 2)
    assert [p["priority"] for p in wall["by_priority"]] == [1, 2]
    assert wall["by_priority"][1]["histogram"][4] == {"bucket": "1-3 d", "count": 1}
    business = body["mttr"][1]
    assert business["overall"]["count"] == 3
    only = api.get(
        "/sla/mttr",
        {"organization": cast.org_a.pk, "start": "2026-10-01", "end": "2026-10-31", "priority": 1},
    ).json()
    assert only["mttr"][0]["overall"]["count"] == 1
    assert only["mtta"][0]["basis"] == "wall time, opened to first assignment"


def test_month_report_as_json(api, cast, october):
    body = api.get(f"/sla/reports/{cast.org_a.pk}", {"month": "2026-10"}).json()
    assert body["organization"] == "Acme Africa"
    assert body["period"]["label"] == "October 2026"
    assert body["overall"] == {
        "key": "sla",
        "label": "SLA",
        "met": 2,
        "breached": 1,
        "total": 3,
        "compliance": 66.7,
    }
    assert body["breach_count"] == 1
    assert body["breaches"][0]["number"] == "INC77"
    assert body["breaches"][0]["over_seconds"] == 3600
    assert [p["month"] for p in body["trend"]][-2:] == ["2026-09", "2026-10"]
    assert body["trend"][-2]["sla"]["breached"] == 1
    assert {d["name"] for d in body["definitions"]} == {"Gold", "Desk OLA", "Fibre UC"}
    assert api.get(f"/sla/reports/{cast.org_a.pk}").status_code == 200  # this month
