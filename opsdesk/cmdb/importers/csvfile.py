"""CSV import: a header row, then one CI per row.

Columns: ``class`` (CI class key or label), ``name``, the common CI fields (``status``,
``environment``, ``criticality``, ``country``, ``location``, ``tags``, ...; teams by name),
``attr:<key>`` (or any other column) for class-specific attributes, and ``rel:<type key>``
naming related CIs (``;``-separated) among the file's rows or the organisation's CIs.
List fields are ``;``-separated. An empty cell means "not given".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from opsdesk.cmdb.importers.common import attribute_types, coerce, report
from opsdesk.cmdb.reconcile import COMMON_FIELDS, DiscoveredCI, DiscoveredRelationship

LIST_FIELDS = frozenset({"tags", "allowed_residency"})
MAX_CELL = 5000


def parse_rows(
    rows: Iterable[tuple[int, list[Any]]], errors: list[dict[str, Any]]
) -> tuple[list[DiscoveredCI], list[DiscoveredRelationship]]:
    """Turn (row number, cells) pairs, the first being the header, into discovered rows."""
    items: list[DiscoveredCI] = []
    rels: list[DiscoveredRelationship] = []
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        report(errors, 1, "file", "The file is empty: a header row is required.")
        return items, rels
    header_row, header = first
    columns = [str(c or "").strip() for c in header]
    lowered = [c.lower() for c in columns]
    for required in ("class", "name"):
        if required not in lowered:
            report(errors, header_row, required, f"The header has no {required!r} column.")
    if errors:
        return items, rels
    types = attribute_types()
    for number, cells in iterator:
        values = ["" if c is None else str(c) for c in cells]
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(columns) and any(v.strip() for v in values[len(columns) :]):
            report(errors, number, "file", "More cells than header columns.")
            continue
        record = {lowered[i]: values[i] for i in range(min(len(columns), len(values)))}
        class_key = record.get("class", "").strip()
        class_types = types.get(class_key, types.get(class_key.lower(), {}))
        item = DiscoveredCI(
            key=f"row:{number}", class_key=class_key, name=record.get("name", ""), row=number
        )
        bad = False
        for index, column in enumerate(columns):
            low = lowered[index]
            if low in {"class", "name"} or index >= len(values):
                continue
            raw = values[index]
            if "\x00" in raw:
                report(errors, number, column, "Text must not contain NUL characters.")
                bad = True
                continue
            if len(raw) > MAX_CELL:
                report(errors, number, column, f"At most {MAX_CELL} characters.")
                bad = True
                continue
            cell = raw.strip()
            if not cell:
                continue
            if low.startswith("rel:"):
                type_key = column[4:].strip()
                for target in filter(None, (t.strip() for t in cell.split(";"))):
                    rels.append(
                        DiscoveredRelationship(item.key, type_key, f"name:{target}", number)
                    )
            elif low in COMMON_FIELDS:
                item.fields[low] = (
                    [p.strip() for p in cell.split(";") if p.strip()]
                    if low in LIST_FIELDS
                    else cell
                )
            else:
                key = column[5:].strip() if low.startswith("attr:") else column
                if not key:
                    report(errors, number, column, "An attribute column needs a name.")
                    bad = True
                    continue
                item.attributes[key] = coerce(cell, class_types.get(key, ""))
        if not bad:
            items.append(item)
    return items, rels


def parse(payload: bytes, *, options: dict[str, Any]) -> tuple[list, list, list]:
    errors: list[dict[str, Any]] = []
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        report(errors, 0, "file", f"Not UTF-8 text (byte {exc.start}); save the CSV as UTF-8.")
        return [], [], errors
    delimiter = options.get("delimiter") or ","
    try:
        sample = text[:4096]
        if (
            not options.get("delimiter")
            and sample.count(";") > sample.count(",")
            and "," not in sample.split("\n", 1)[0]
        ):
            delimiter = ";"
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        report(errors, 0, "file", f"Not a valid CSV file: {exc}.")
        return [], [], errors
    items, rels = parse_rows(rows, errors)
    return items, rels, errors
