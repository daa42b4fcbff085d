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
    # What each column is, worked out once: (index, header, kind, key) with kind one of
    # "rel" (key: relationship type), "field" (key: CI field) or "attr" (key: attribute).
    plan: list[tuple[int, str, str, str]] = []
    for index, column in enumerate(columns):
        low = lowered[index]
        if low in {"class", "name"}:
            continue
        if low.startswith("rel:"):
            plan.append((index, column, "rel", column[4:].strip()))
        elif low in COMMON_FIELDS:
            plan.append((index, column, "field", low))
        else:
            plan.append(
                (index, column, "attr", column[5:].strip() if low.startswith("attr:") else column)
            )
    # (A header naming a column twice: the last one counts.)
    class_index = max(i for i, low in enumerate(lowered) if low == "class")
    name_index = max(i for i, low in enumerate(lowered) if low == "name")
    width = len(columns)
    for number, cells in iterator:
        values = ["" if c is None else str(c) for c in cells]
        if not any(v.strip() for v in values):
            continue
        if len(values) > width and any(v.strip() for v in values[width:]):
            report(errors, number, "file", "More cells than header columns.")
            continue
        count = len(values)
        class_key = values[class_index].strip() if class_index < count else ""
        class_types = types.get(class_key, types.get(class_key.lower(), {}))
        item = DiscoveredCI(
            key=f"row:{number}",
            class_key=class_key,
            name=values[name_index] if name_index < count else "",
            row=number,
        )
        bad = False
        for index, column, kind, key in plan:
            if index >= count:
                break
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
            if kind == "field":
                item.fields[key] = (
                    [p.strip() for p in cell.split(";") if p.strip()]
                    if key in LIST_FIELDS
                    else cell
                )
            elif kind == "attr":
                if not key:
                    report(errors, number, column, "An attribute column needs a name.")
                    bad = True
                    continue
                item.attributes[key] = coerce(cell, class_types.get(key, ""))
            else:
                for target in filter(None, (t.strip() for t in cell.split(";"))):
                    rels.append(DiscoveredRelationship(item.key, key, f"name:{target}", number))
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
