"""The /sla/ overview and an organisation's report: figures, access, CSV and XLSX."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.test import Client

from opsdesk.cmdb.tests.factories import ci
from opsdesk.sla import views_reports
from opsdesk.sla.tests.reporting import at, clock, definitions, incident

pytestmark = pytest.mark.django_db

NOW = at(2026, 10, 20, 12)


def client_for(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def pinned_now(monkeypatch):
    monkeypatch.setattr(views_reports, "_now", lambda: NOW)


@pytest.fixture
def data(cast):
    d = definitions(cast)
    banking = ci(cast.org_a, "Online banking", "business_service")
    # October (this month): SLA 3 met of 4; September: SLA 1 met of 2.
    for breached in (False, False, False, True):
        clock(
            d["sla"],
            stopped=at(2026, 10, 5, 10),
            service=banking,
            breached=breached,
            number="INC0099" if breached else "",
        )
    clock(d["sla"], stopped=at(2026, 9, 5, 10), service=banking)
    clock(d["sla"], stopped=at(2026, 9, 5, 10), service=banking, breached=True)
    clock(d["ola"], stopped=at(2026, 10, 6, 10))
    # Live clocks: the one due soonest first.
    clock(d["sla"], stopped=None, number="INC0201", due=NOW + timedelta(hours=5))
    clock(d["sla"], stopped=None, number="INC0200", due=NOW - timedelta(hours=1))
    clock(d["sla"], stopped=None, number="INC0202", status="paused", due=NOW)
    incident(cast.org_a, opened=at(2026, 10, 5, 8), resolved=at(2026, 10, 5, 10), priority=2)
    return d


def test_overview_compares_this_month_with_last(cast, data):
    page = client_for(cast.agent).get("/sla/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "75.0%" in html and "▲ +25.0 pts vs Sep (50.0%)" in html
    assert "100.0%" in html  # the OLA
    assert html.index("INC0200") < html.index("INC0201")  # overdue first
    assert "overdue by 1 h 00 m" in html and "INC0202" not in html  # paused is not at risk
    assert "INC0099" in html  # this month's breach
    for link in ("/sla/definitions/", "/calendars/", "/sla/chain/", "/vendors/", "/sla/clocks/"):
        assert f'href="{link}"' in html
    assert 'href="/sla/reports/acme-africa/"' in html
    assert "<svg" in html and "style=" not in html


def test_overview_and_report_are_not_for_requesters_or_strangers(cast, data):
    assert client_for(cast.requester).get("/sla/").status_code == 403
    assert client_for(cast.requester).get("/sla/reports/acme-africa/").status_code == 403
    assert client_for(cast.agent).get("/sla/reports/borealis-europe/").status_code == 404
    assert client_for(cast.admin_b).get("/sla/reports/acme-africa/").status_code == 404
    assert Client().get("/sla/").status_code == 302  # to the login page


def test_report_page(cast, data):
    client = client_for(cast.manager)
    assert client.get("/sla/reports/").url == "/sla/reports/acme-africa/"
    page = client.get("/sla/reports/acme-africa/", {"month": "2026-10"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "October 2026" in html and "Online banking" in html
    assert "75.0%" in html and "INC0099" in html
    assert "Gold" in html and "Acme retail" in html  # the SLA in force and its customer
    assert 'href="?month=2026-09"' in html and 'href="?month=2026-11"' in html
    assert "?month=2026-10&amp;format=xlsx" in html
    september = client.get("/sla/reports/acme-africa/", {"month": "2026-9"}).content.decode()
    assert "September 2026" in september and "50.0%" in september
    default = client.get("/sla/reports/acme-africa/").content.decode()
    assert "October 2026" in default  # this month, in the organisation's time zone
    ranged = client.get(
        "/sla/reports/acme-africa/", {"start": "2026-09-01", "end": "2026-10-31"}
    ).content.decode()
    assert "01 Sep 2026 to 31 Oct 2026" in ranged and "66.7%" in ranged


def test_report_page_refuses_bad_periods(cast, data):
    client = client_for(cast.manager)
    for params, message in (
        ({"month": "2026-13"}, "YYYY-MM"),
        ({"month": "soon"}, "valid"),
        ({"start": "2026-10-05", "end": "2026-10-01"}, "before the start"),
        ({"format": "pdf"}, "valid choice"),
    ):
        page = client.get("/sla/reports/acme-africa/", params)
        assert page.status_code == 400, params
        assert message in page.content.decode(), params


def test_csv_has_the_figures_of_the_page(cast, data):
    response = client_for(cast.manager).get(
        "/sla/reports/acme-africa/", {"month": "2026-10", "format": "csv"}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="sla-report-acme-africa-2026-10.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["Service-level report", "Acme Africa", "October 2026"]

    def section(name: str) -> list[list[str]]:
        start = rows.index([name]) + 1
        end = rows.index([], start)
        return rows[start:end]

    summary = section("Summary")
    assert summary[0][:4] == ["Organisation", "Period", "Kind", "Metric"]
    assert summary[1] == ["Acme Africa", "October 2026", "SLA", "Resolution", "3", "1", "4", "75.0"]
    assert section("By service")[1] == ["Online banking", "3", "1", "4", "75.0"]
    breaches = section("Breaches")
    assert breaches[1][0] == "INC0099" and breaches[1][7] == "1.0"  # over by 1 h
    trend = section("Trend")
    assert trend[-2][:3] == ["Sep 2026", "50.0", "2"] and trend[-1][:3] == ["Oct 2026", "75.0", "4"]
    mttr = section("MTTR")
    assert mttr[1][:4] == ["wall time, opened to resolved", "All", "1", "2.0"]


def test_xlsx_has_one_typed_sheet_per_table(cast, data):
    from openpyxl import load_workbook

    response = client_for(cast.manager).get(
        "/sla/reports/acme-africa/", {"month": "2026-10", "format": "xlsx"}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == [
        "Summary",
        "Definitions",
        "By service",
        "By priority",
        "By team (OLA)",
        "By supplier (UC)",
        "By definition",
        "Trend",
        "Breaches",
        "MTTA",
        "MTTR",
    ]
    summary = book["Summary"]
    assert [c.value for c in summary[2]] == [
        "Acme Africa",
        "October 2026",
        "SLA",
        "Resolution",
        3,
        1,
        4,
        75.0,
    ]
    assert summary["A1"].font.bold and summary.freeze_panes == "A2"
    assert summary["H2"].data_type == "n" and summary["H2"].number_format == '0.0"%"'
    breaches = book["Breaches"]
    assert breaches["A2"].value == "INC0099"
    assert breaches["H2"].value == 1.0 and breaches["H2"].number_format == "0.00"
    stopped = breaches["J2"].value
    assert stopped.tzinfo is None and (stopped.day, stopped.hour) == (5, 10)  # Johannesburg
    service = book["By service"]
    assert [c.value for c in service[2]] == ["Online banking", 3, 1, 4, 75.0]
