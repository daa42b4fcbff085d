"""A service-level report as CSV and XLSX: the same tables, the same figures as the page.

``tables(report)`` is the one place the report becomes rows; CSV writes the tables one
after the other (a title row, a header row, the rows, a blank row) and XLSX writes one
sheet per table with typed cells (numbers, percentages, datetimes in the organisation's
time zone) and styled, frozen header rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opsdesk.sla.reports import BUCKETS, KIND_LABELS, PRIORITY_LABELS, ComplianceReport

TEXT, INT, PERCENT, HOURS, DATETIME = "text", "int", "percent", "hours", "datetime"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class Table:
    name: str
    columns: list[tuple[str, str]]
    rows: list[list[Any]] = field(default_factory=list)


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


def _compliance_table(name: str, first: str, rows: list[Any]) -> Table:
    return Table(
        name,
        [(first, TEXT), ("Met", INT), ("Breached", INT), ("Total", INT), ("Compliance %", PERCENT)],
        [[r.label, r.met, r.breached, r.total, r.compliance] for r in rows],
    )


def tables(report: ComplianceReport) -> list[Table]:
    zone = report.period.zone
    local: Callable[[datetime | None], datetime | None] = lambda v: (  # noqa: E731
        v.astimezone(zone).replace(tzinfo=None) if v else None
    )
    out = [
        Table(
            "Summary",
            [
                ("Organisation", TEXT),
                ("Period", TEXT),
                ("Kind", TEXT),
                ("Metric", TEXT),
                ("Met", INT),
                ("Breached", INT),
                ("Total", INT),
                ("Compliance %", PERCENT),
            ],
            [
                [
                    report.organization,
                    report.period.label,
                    k.label,
                    metric,
                    row.met,
                    row.breached,
                    row.total,
                    row.compliance,
                ]
                for k in report.kinds
                for metric, row in (("Resolution", k.resolution), ("Response", k.response))
            ],
        ),
        Table(
            "Definitions",
            [
                ("Definition", TEXT),
                ("Kind", TEXT),
                ("Customer, team or supplier", TEXT),
                ("Active", TEXT),
                ("Response targets (min)", TEXT),
                ("Resolution targets (min)", TEXT),
            ],
            [
                [
                    d["name"],
                    d["kind_label"],
                    d["party"],
                    "yes" if d["is_active"] else "no",
                    _targets(d["response_minutes"]),
                    _targets(d["resolution_minutes"]),
                ]
                for d in report.definitions
            ],
        ),
        _compliance_table("By service", "Service", report.by_service),
        _compliance_table("By priority", "Priority", report.by_priority),
        _compliance_table("By team (OLA)", "Team", report.by_team),
        _compliance_table("By supplier (UC)", "Supplier", report.by_supplier),
        _compliance_table("By definition", "Definition", report.by_definition),
        Table(
            "Trend",
            [("Month", TEXT)]
            + [
                col
                for label in KIND_LABELS.values()
                for col in ((f"{label} compliance %", PERCENT), (f"{label} clocks", INT))
            ],
            [
                [p.label] + [v for row in p.by_kind.values() for v in (row.compliance, row.total)]
                for p in report.trend
            ],
        ),
        Table(
            "Breaches",
            [
                ("Ticket", TEXT),
                ("Definition", TEXT),
                ("Metric", TEXT),
                ("Service", TEXT),
                ("Priority", TEXT),
                ("Target (h)", HOURS),
                ("Elapsed (h)", HOURS),
                ("Over by (h)", HOURS),
                ("Over by %", PERCENT),
                ("Stopped", DATETIME),
                ("Assignment group", TEXT),
                ("Held by", TEXT),
                ("Why", TEXT),
            ],
            [
                [
                    b.number,
                    b.definition,
                    b.metric,
                    b.service,
                    PRIORITY_LABELS.get(b.priority, f"P{b.priority}"),
                    _hours(b.target_seconds),
                    _hours(b.elapsed_seconds),
                    _hours(b.over_seconds),
                    b.over_percent,
                    local(b.stopped_at),
                    b.team,
                    ", ".join(b.held_by),
                    b.why,
                ]
                for b in report.breaches
            ],
        ),
    ]
    for measures in (report.mtta, report.mttr):
        if not measures:
            continue
        name = measures[0].name
        rows = []
        for m in measures:
            scopes = [("All", m.overall)] + [
                (PRIORITY_LABELS.get(p, f"P{p}"), d) for p, d in sorted(m.by_priority.items())
            ]
            for scope, d in scopes:
                rows.append(
                    [
                        m.basis,
                        scope,
                        d.count,
                        _hours(d.mean),
                        _hours(d.median),
                        _hours(d.p90),
                        *d.histogram,
                    ]
                )
        out.append(
            Table(
                name,
                [
                    ("Basis", TEXT),
                    ("Priority", TEXT),
                    ("Count", INT),
                    ("Mean (h)", HOURS),
                    ("Median (h)", HOURS),
                    ("90th percentile (h)", HOURS),
                ]
                + [(label, INT) for label, _lo, _hi in BUCKETS],
                rows,
            )
        )
    return out


def _targets(minutes: dict[str, Any]) -> str:
    return ", ".join(f"P{p}: {m}" for p, m in sorted(minutes.items()))


def filename(report: ComplianceReport, extension: str) -> str:
    p = report.period
    span = f"{p.first:%Y-%m}" if p.is_month else f"{p.first:%Y-%m-%d}_{p.last:%Y-%m-%d}"
    return f"sla-report-{report.slug}-{span}.{extension}"


def to_csv(report: ComplianceReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["Service-level report", report.organization, report.period.label])
    writer.writerow([])
    for table in tables(report):
        writer.writerow([table.name])
        writer.writerow([name for name, _kind in table.columns])
        for row in table.rows:
            writer.writerow([_csv_value(v) for v in row])
        writer.writerow([])
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value


def to_xlsx(report: ComplianceReport) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    header_font = Font(bold=True, color="FFFFFF")
    header_fill = PatternFill("solid", fgColor="2557D6")
    formats = {INT: "#,##0", PERCENT: '0.0"%"', HOURS: "0.00", DATETIME: "yyyy-mm-dd hh:mm"}
    for table in tables(report):
        sheet = book.create_sheet(_sheet_name(table.name))
        sheet.append([name for name, _kind in table.columns])
        for cell in sheet[1]:
            cell.font = header_font
            cell.fill = header_fill
            cell.alignment = Alignment(vertical="center", wrap_text=True)
        for row in table.rows:
            sheet.append(row)
        for index, (name, kind) in enumerate(table.columns, start=1):
            letter = get_column_letter(index)
            widest = max([len(name)] + [len(str(r[index - 1] or "")) for r in table.rows])
            sheet.column_dimensions[letter].width = min(max(widest + 2, 10), 60)
            if kind in formats:
                for (cell,) in sheet.iter_rows(
                    min_row=2, min_col=index, max_col=index, max_row=sheet.max_row
                ):
                    cell.number_format = formats[kind]
        sheet.freeze_panes = "A2"
        if table.rows:
            sheet.auto_filter.ref = sheet.dimensions
    book.properties.title = f"Service-level report {report.organization} {report.period.label}"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet_name(name: str) -> str:
    for bad in "[]:*?/\\":
        name = name.replace(bad, " ")
    return name[:31]
