"""XLSX import: the first worksheet, laid out like the CSV import (see ``csvfile``)."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from typing import Any

from opsdesk.cmdb.importers.common import report
from opsdesk.cmdb.importers.csvfile import parse_rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def parse(payload: bytes, *, options: dict[str, Any]) -> tuple[list, list, list]:
    from openpyxl import load_workbook

    errors: list[dict[str, Any]] = []
    try:
        workbook = load_workbook(io.BytesIO(payload), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        report(errors, 0, "file", f"Not a readable XLSX workbook: {exc}.")
        return [], [], errors
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is None:
            report(errors, 0, "file", "The workbook has no worksheet.")
            return [], [], errors
        rows = [
            (number, [_cell(v) for v in values])
            for number, values in enumerate(sheet.iter_rows(values_only=True), 1)
        ]
    except Exception as exc:  # a corrupt sheet inside a valid zip; report, never raise
        report(errors, 0, "file", f"Not a readable XLSX workbook: {exc}.")
        return [], [], errors
    finally:
        workbook.close()
    items, rels = parse_rows(rows, errors)
    return items, rels, errors
