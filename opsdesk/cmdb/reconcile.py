"""Identification and reconciliation: turn what an importer discovered into CIs.

Importers produce :class:`DiscoveredCI` and :class:`DiscoveredRelationship` rows;
:func:`reconcile` validates them, finds the CI each row already is (through its
identifiers, strongest first, looked up in bulk), applies source precedence, and writes
creates, updates, identifiers, "last seen" records and relationships in bulk inside one
transaction, with an audit record for every CI and relationship it creates or changes.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
from django.db import connection, transaction
from django.db.models import BooleanField, JSONField, Max, Q, QuerySet
from django.utils import timezone

from opsdesk.accounts.models import Team
from opsdesk.cmdb.models import (
    CIClass,
    CIIdentifier,
    CISourceRecord,
    ConfigurationItem,
    Relationship,
    RelationshipType,
)
from opsdesk.cmdb.validation import attribute_errors, field_errors, identifier_values
from opsdesk.core.audit import audited_bulk_update
from opsdesk.core.bulk import audited_insert_tuples, insert_tuples
from opsdesk.core.context import acting_as
from opsdesk.core.models import Organization

#: The common CI fields an import may set (besides name and class).
COMMON_FIELDS = (
    "description",
    "status",
    "environment",
    "criticality",
    "location",
    "country",
    "tags",
    "data_classification",
    "holds_personal_data",
    "allowed_residency",
    "owner_team",
    "support_team",
)
COMMON_SET = frozenset(COMMON_FIELDS)
TEAM_FIELDS = ("owner_team", "support_team")
PREVIEW_ROWS = 50
#: SQLite refuses statements with too many parameters; look-ups go in chunks of this size.
CHUNK = 900
#: Identifier look-ups bind one parameter per value (SQLite allows 32,766 per statement).
LOOKUP_CHUNK = 5000
#: The source name for edits made by people.
MANUAL = "manual"


@dataclass(slots=True)
class DiscoveredCI:
    """One CI as a source reports it. ``key`` is unique within the import."""

    key: str
    class_key: str
    name: str
    fields: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    row: int | str = 0


@dataclass(slots=True)
class DiscoveredRelationship:
    """``source_key`` / ``target_key`` name an item of the same import by its key, or an
    existing CI as ``name:<CI name>`` or ``id:<identifier kind>=<value>``. An ``optional``
    relationship whose ends do not resolve is skipped instead of being an error."""

    source_key: str
    type_key: str
    target_key: str
    row: int | str = 0
    optional: bool = False


@dataclass
class ReconcileResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    relationships_created: int = 0
    report: list[dict[str, Any]] = field(default_factory=list)
    preview: list[dict[str, Any]] = field(default_factory=list)
    applied: bool = False

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged + self.failed


@dataclass(eq=False)
class _Slot:
    """One CI-to-be: the merge of the rows of this import that identify the same CI."""

    item: DiscoveredCI
    ci_class: CIClass
    values: dict[str, Any]  # common fields (team fields as ids) and "name"
    attributes: dict[str, Any]
    pairs: list[tuple[str, str]]
    rows: list[int | str]
    current: dict[str, Any] | None = None  # the existing CI's stored values (`STORED`)
    ci_id: int | None = None  # the existing or, once written, the new CI's id
    action: str = ""
    changed: list[str] = field(default_factory=list)
    updates: dict[str, Any] = field(default_factory=dict)  # attname -> new value
    failed: bool = False
    source_only: bool = False


def _changed(slot: _Slot) -> list[str]:
    """The fields the slot's row sets on its CI (all of them for a new CI)."""
    if slot.action == "create":
        return sorted([*slot.values, *(f"attributes.{k}" for k in slot.attributes)])
    return slot.changed


def _identity(end: _Slot | int) -> _Slot | int:
    """What an end of a relationship is: a CI id, or the import's row for a CI still to be
    created (rows hash by identity)."""
    if isinstance(end, int):
        return end
    return end if end.ci_id is None else end.ci_id


def _rank(precedence: list[str], source: str | None) -> int:
    if source is None:
        return len(precedence) + 1  # nobody set it: anyone may
    try:
        return precedence.index(source)
    except ValueError:
        return len(precedence)


def _chunks(values: list[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _among(column: str, values: list[Any]) -> tuple[str, list[Any]]:
    """SQL for `column` being one of `values`, and its parameters: one array parameter on
    PostgreSQL (no placeholder per value for the driver to split), an IN list elsewhere."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(values)]
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


def _coerce_criticality(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip().lower().removeprefix("tier").strip()
        if text.isdigit():
            return int(text)
    return value


def _coerce_bool(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in {"yes", "true", "1", "y"}:
            return True
        if text in {"no", "false", "0", "n"}:
            return False
    return value


class _Reconciler:
    def __init__(
        self,
        *,
        organization: Organization,
        source: str,
        acting_user: Any,
        partial: bool,
        dry_run: bool,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.org = organization
        self.source = source
        self.acting_user = acting_user
        self.partial = partial
        self.dry_run = dry_run
        self.progress = progress
        self.result = ReconcileResult()
        self.classes = {c.key: c for c in CIClass.objects.all()}
        self.class_by_label = {c.label.lower(): c for c in self.classes.values()}
        self.rel_types = {t.key: t for t in RelationshipType.objects.all()}
        self.teams = {
            t.name.lower(): t.pk
            for t in Team.objects.filter(organization=organization).only("name")
        }
        self.class_by_name: dict[Any, CIClass | None] = {}
        self.field_checks: dict[tuple[str, type, Any], dict[str, str]] = {}
        self.failed_rows: set[Any] = set()
        self.now = timezone.now()

    # --- reporting -------------------------------------------------------------------------

    def error(self, row: Any, field_name: str, message: str) -> None:
        self.result.report.append({"row": row, "field": field_name, "message": message})
        self.failed_rows.add(row)

    def tick(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(done, total)

    # --- validation of one row -------------------------------------------------------------

    def ci_class(self, class_key: Any) -> CIClass | None:
        """The class a row names by key or label (looked up once per distinct spelling)."""
        try:
            return self.class_by_name[class_key]
        except KeyError:
            text = str(class_key or "").strip()
            found = self.classes.get(text) or self.class_by_label.get(text.lower())
            self.class_by_name[class_key] = found
            return found
        except TypeError:  # unhashable: not a class name
            return None

    def field_errors(self, values: dict[str, Any]) -> dict[str, str]:
        """``validation.field_errors``, whose checks each read one field, remembered per field
        and value: an import repeats a few statuses, environments, countries and tags."""
        errors: dict[str, str] = {}
        for name, value in values.items():
            try:
                key = (name, type(value), tuple(value) if isinstance(value, list) else value)
                found = self.field_checks.get(key) if name != "name" else None
            except TypeError:  # unhashable
                key, found = None, None
            if found is None:
                found = field_errors({name: value})
                if key is not None and name != "name":
                    self.field_checks[key] = found
            errors.update(found)
        return errors

    def validate(self, item: DiscoveredCI) -> _Slot | None:
        ci_class = self.ci_class(item.class_key)
        ok = True
        if ci_class is None:
            self.error(item.row, "class", f"Unknown CI class {item.class_key!r}.")
            return None
        fields = item.fields
        values: dict[str, Any] = {
            "name": item.name.strip() if isinstance(item.name, str) else item.name
        }
        if fields:
            for name in sorted(fields.keys() - COMMON_SET):
                self.error(item.row, name, "Not a CI field.")
                ok = False
            values.update((name, fields[name]) for name in COMMON_FIELDS if name in fields)
            if "criticality" in values:
                values["criticality"] = _coerce_criticality(values["criticality"])
            if "holds_personal_data" in values:
                values["holds_personal_data"] = _coerce_bool(values["holds_personal_data"])
                if not isinstance(values["holds_personal_data"], bool):
                    self.error(item.row, "holds_personal_data", "Yes or no.")
                    ok = False
            if "country" in values and isinstance(values["country"], str):
                values["country"] = values["country"].strip().upper()
        for name, message in self.field_errors(values).items():
            self.error(item.row, name, message)
            ok = False
        if fields:
            for name in ("location", "description"):
                if name in values and not isinstance(values[name], str):
                    self.error(item.row, name, "Text expected.")
                    ok = False
            if isinstance(values.get("location"), str) and len(values["location"]) > 200:
                self.error(item.row, "location", "At most 200 characters.")
                ok = False
            for name in TEAM_FIELDS:
                if name in values and values[name] is not None:
                    team_id = self.teams.get(str(values[name]).strip().lower())
                    if team_id is None:
                        self.error(
                            item.row, name, f"No team named {values[name]!r} in this organisation."
                        )
                        ok = False
                    values[name] = team_id
        attributes = dict(item.attributes)
        for name, message in attribute_errors(ci_class, attributes).items():
            self.error(item.row, name, message)
            ok = False
        if not ok:
            return None
        pairs = identifier_values(ci_class, values["name"], attributes)
        if not pairs:
            wanted = ", ".join(ci_class.identifiers)
            first = ci_class.identifiers[0] if ci_class.identifiers else "name"
            self.error(
                item.row,
                first if first == "name" else f"attributes.{first}",
                f"No identifier: a {ci_class.label} needs one of {wanted}.",
            )
            return None
        return _Slot(item, ci_class, values, attributes, pairs, [item.row])

    # --- the run -----------------------------------------------------------------------------

    def run(
        self, items: list[DiscoveredCI], relationships: list[DiscoveredRelationship]
    ) -> ReconcileResult:
        total = len(items)
        slots: list[_Slot] = []
        by_key: dict[str, _Slot] = {}
        by_pair: dict[tuple[str, str], _Slot] = {}
        for index, item in enumerate(items, 1):
            if index % 500 == 0:
                self.tick(index // 2, total)
            slot = self.validate(item)
            if slot is None:
                continue
            # Rows of the same file that identify the same CI are merged, later rows winning.
            seen = {by_pair[p] for p in slot.pairs if p in by_pair}
            if len(seen) > 1:
                self.error(item.row, "identifiers", "Matches two different rows of this file.")
                continue
            if seen:
                first = seen.pop()
                if first.ci_class != slot.ci_class:
                    self.error(
                        item.row,
                        "class",
                        f"Row {first.rows[0]} is the same CI as a {first.ci_class.label}.",
                    )
                    continue
                first.values.update(slot.values)
                first.attributes.update(slot.attributes)
                first.pairs += [p for p in slot.pairs if p not in first.pairs]
                first.rows.append(item.row)
                slot = first
            else:
                slots.append(slot)
            for pair in slot.pairs:
                by_pair[pair] = slot
            by_key[item.key] = slot

        self.match_existing(slots)
        for slot in slots:
            if not slot.failed:
                self.plan(slot)
        good = [s for s in slots if not s.failed]
        planned_rels = self.plan_relationships(relationships, by_key)
        self.tick(total // 2 + total // 4, total)

        failed_items = {row for row in self.failed_rows}
        self.result.failed = len(failed_items)
        self.result.preview = [
            {
                "row": s.rows[0],
                "name": s.values["name"],
                "class": s.ci_class.key,
                "action": s.action,
                "changed": _changed(s),
            }
            for s in slots[:PREVIEW_ROWS]
            if not s.failed
        ]
        apply = not self.dry_run and (self.partial or not self.failed_rows)
        counts = {"create": 0, "update": 0, "unchanged": 0}
        for slot in good:
            counts[slot.action] += 1
        self.result.created = counts["create"]
        self.result.updated = counts["update"]
        self.result.unchanged = counts["unchanged"]
        self.result.relationships_created = len(planned_rels)
        if not apply:
            if not self.dry_run:
                # All-or-nothing: nothing was written, so nothing counts as created or updated.
                self.result.created = self.result.updated = self.result.unchanged = 0
                self.result.relationships_created = 0
            return self.result
        with transaction.atomic(), acting_as(self.acting_user):
            self.write(good, planned_rels)
        self.result.applied = True
        self.tick(total, total)
        return self.result

    def match_existing(self, slots: list[_Slot]) -> None:
        """Find, in bulk, the CIs the slots' identifiers already point at."""
        found = self.lookup_identifiers({pair for slot in slots for pair in slot.pairs})
        ci_ids: dict[int, list[_Slot]] = {}
        for slot in slots:
            hits: list[tuple[str, int]] = [
                (k, found[(k, v)]) for k, v in slot.pairs if (k, v) in found
            ]
            if not hits:
                continue  # a new CI
            distinct = list(dict.fromkeys(ci for _, ci in hits))
            if len(distinct) > 1:
                other_kind = next(k for k, ci in hits if ci != distinct[0])
                first_kind = hits[0][0]
                label = (
                    other_kind.split(":")[0]
                    if other_kind.startswith("name:")
                    else f"attributes.{other_kind}"
                )
                self.error(
                    slot.rows[-1],
                    label,
                    f"{first_kind} and {other_kind} identify two different existing CIs.",
                )
                slot.failed = True
                continue
            if distinct:
                ci_ids.setdefault(distinct[0], []).append(slot)
        # The stored values only, as rows: no model instance (and its audit snapshot) per CI;
        # the few that change are loaded as instances when written.
        existing = self.stored_cis(list(ci_ids))
        for ci_id, matched in ci_ids.items():
            for slot in matched:
                current = existing.get(ci_id)
                if current is None:
                    continue
                if len(matched) > 1:
                    self.error(
                        slot.rows[-1], "identifiers", "Several rows of this file match the same CI."
                    )
                    slot.failed = True
                elif current["ci_class_id"] != slot.ci_class.pk:
                    self.error(
                        slot.rows[-1],
                        "class",
                        f"Identifies the existing CI {current['name']!r}, which is a "
                        f"{self.classes_by_pk()[current['ci_class_id']].label}.",
                    )
                    slot.failed = True
                else:
                    slot.current, slot.ci_id = current, ci_id
        self.known = found

    def lookup_identifiers(self, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """{(kind, value): CI id} for the pairs already stored, per kind so the unique
        (organization, kind, value) index answers each chunk. Plain SQL: the ORM would prepare
        every value of the IN lists, and a first import asks for tens of thousands."""
        by_kind: dict[str, list[str]] = {}
        for kind, value in pairs:
            by_kind.setdefault(kind, []).append(value)
        found: dict[tuple[str, str], int] = {}
        table = connection.ops.quote_name(CIIdentifier._meta.db_table)
        with connection.cursor() as cursor:
            for kind, values in by_kind.items():
                for chunk in _chunks(sorted(values), LOOKUP_CHUNK):
                    among, params = _among("value", chunk)
                    cursor.execute(
                        f"SELECT value, ci_id FROM {table} "  # noqa: S608 - a quoted table name
                        f"WHERE organization_id = %s AND kind = %s AND {among}",
                        [self.org.pk, kind, *params],
                    )
                    for value, ci_id in cursor.fetchall():
                        found[(kind, value)] = ci_id
        return found

    def stored_cis(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        """{id: {column: value}} of `STORED` for the organisation's CIs among `ids`. Plain
        SQL, JSON decoded with orjson: no model instance (and audit snapshot) per CI, and no
        placeholder list per chunk on PostgreSQL."""
        quote = connection.ops.quote_name
        columns = ", ".join(quote(name) for name in STORED)
        table = quote(ConfigurationItem._meta.db_table)
        json_at = [i for i, name in enumerate(STORED) if name in JSON_STORED]
        bool_at = [i for i, name in enumerate(STORED) if name in BOOL_STORED]
        existing: dict[int, dict[str, Any]] = {}
        with connection.cursor() as cursor:
            for chunk in _chunks(ids, LOOKUP_CHUNK):
                # The organisation is checked here, not in SQL: by the primary key alone the
                # planner cannot pick the organisation's index and test every row of it
                # against the whole list.
                among, params = _among("id", chunk)
                cursor.execute(
                    f"SELECT organization_id, {columns} FROM {table} "  # noqa: S608
                    f"WHERE {among}",
                    params,
                )
                for org_id, *values in cursor.fetchall():
                    if org_id != self.org.pk:
                        continue
                    for i in json_at:
                        if values[i] is not None:
                            values[i] = orjson.loads(values[i])
                    for i in bool_at:
                        values[i] = bool(values[i])  # SQLite stores 0 / 1
                    existing[values[0]] = dict(zip(STORED, values, strict=True))
        return existing

    def classes_by_pk(self) -> dict[int, CIClass]:
        return {c.pk: c for c in self.classes.values()}

    def plan(self, slot: _Slot) -> None:
        current = slot.current
        if current is None:
            slot.action = "create"
            return  # what a new CI sets is listed only for the preview (see `_changed`)
        source = self.source
        precedence = list(slot.ci_class.source_precedence or [])
        sources = dict(current["attribute_sources"] or {})
        mine = _rank(precedence, source)
        changed: list[str] = []
        updates: dict[str, Any] = {}
        attrs = dict(current["attributes"] or {})
        source_only = False
        for name, value in slot.values.items():
            attname = f"{name}_id" if name in TEAM_FIELDS else name
            if current[attname] == value:
                if sources.get(name) != source and mine < _rank(precedence, sources.get(name)):
                    sources[name] = source
                    source_only = True
                continue
            if mine > _rank(precedence, sources.get(name)):
                continue  # a more trusted source set it
            updates[attname] = value
            sources[name] = source
            changed.append(name)
        for key, value in slot.attributes.items():
            tracked = f"attributes.{key}"
            if key in attrs and attrs[key] == value:
                if sources.get(tracked) != source and mine < _rank(
                    precedence, sources.get(tracked)
                ):
                    sources[tracked] = source
                    source_only = True
                continue
            if mine > _rank(precedence, sources.get(tracked)):
                continue
            attrs[key] = value
            sources[tracked] = source
            changed.append(tracked)
        if changed:
            slot.updates = {**updates, "attributes": attrs, "attribute_sources": sources}
            slot.action = "update"
            slot.changed = changed
        else:
            slot.action = "unchanged"
            if source_only:
                slot.updates = {"attribute_sources": sources}
                slot.changed = []
                slot.source_only = True

    # --- relationships -------------------------------------------------------------------------

    def plan_relationships(
        self, relationships: list[DiscoveredRelationship], by_key: dict[str, _Slot]
    ) -> list[tuple[_Slot | int, RelationshipType, _Slot | int, Any]]:
        """Resolve both ends of every relationship to a slot of this import or a CI id."""
        if not relationships:
            return []
        # Most ends are rows of this import, found by key; the others name a CI.
        other_ends = {
            key
            for rel in relationships
            for key in (rel.source_key, rel.target_key)
            if key not in by_key
        }
        names = {key[5:] for key in other_ends if key.startswith("name:")}
        ids = {key for key in other_ends if key.startswith("id:") and "=" in key}
        # Indexes of this import's rows by name and by identifier, for the ends that need them.
        slot_by_name: dict[str, list[_Slot]] = {}
        existing_by_name: dict[str, list[int]] = {}
        if names:
            for slot in {id(s): s for s in by_key.values()}.values():
                slot_by_name.setdefault(str(slot.values["name"]).lower(), []).append(slot)
            lookup = [n for n in names if n.lower() not in slot_by_name]
            for chunk in _chunks(lookup):
                for pk, name in ConfigurationItem.objects.filter(
                    organization=self.org, name__in=chunk
                ).values_list("pk", "name"):
                    existing_by_name.setdefault(name.lower(), []).append(pk)
        by_identifier: dict[tuple[str, str], int] = {}
        slot_by_pair: dict[tuple[str, str], _Slot] = {}
        if ids:
            by_identifier.update(getattr(self, "known", {}))
            pairs = {
                (kind, value.strip().lower())
                for kind, value in (key[3:].split("=", 1) for key in ids)
            }
            wanted = {pair for pair in pairs if pair not in by_identifier}
            by_identifier.update(self.lookup_identifiers(wanted))
            slot_by_pair = {p: s for s in by_key.values() for p in s.pairs}

        def resolve(key: str) -> _Slot | int | str:
            if key in by_key:
                return by_key[key]
            if key.startswith("name:"):
                name = key[5:].strip().lower()
                local = slot_by_name.get(name, [])
                if len(local) == 1:
                    return local[0]
                if len(local) > 1:
                    return f"{key[5:]!r} names several CIs of this file."
                found = existing_by_name.get(name, [])
                if len(found) == 1:
                    return found[0]
                if len(found) > 1:
                    return f"{key[5:]!r} names several existing CIs."
                return f"No CI named {key[5:]!r} in this file or the organisation."
            if key.startswith("id:") and "=" in key:
                kind, value = key[3:].split("=", 1)
                pair = (kind, value.strip().lower())
                if pair in slot_by_pair:
                    return slot_by_pair[pair]
                if pair in by_identifier:
                    return by_identifier[pair]
                return f"No CI with {kind} {value!r}."
            return f"No CI {key!r} in this import."

        planned: list[tuple[_Slot | int, RelationshipType, _Slot | int, Any]] = []
        seen: set[tuple[Any, str, Any]] = set()
        rel_types = self.rel_types
        for rel in relationships:
            rel_type = rel_types.get(rel.type_key)
            if rel_type is None:
                self.error(
                    rel.row, f"rel:{rel.type_key}", f"Unknown relationship type {rel.type_key!r}."
                )
                continue
            source = by_key.get(rel.source_key) or resolve(rel.source_key)
            target = by_key.get(rel.target_key) or resolve(rel.target_key)
            problem = source if isinstance(source, str) else target
            if not isinstance(problem, str):
                if isinstance(source, _Slot) and source.failed:
                    continue  # the row itself failed and was reported
                problem = (
                    "The related CI's row failed."
                    if isinstance(target, _Slot) and target.failed
                    else None
                )
            if problem is not None:
                if not rel.optional:
                    self.error(rel.row, f"rel:{rel.type_key}", problem)
                continue
            ends = (_identity(source), rel.type_key, _identity(target))
            if ends[0] == ends[2]:
                if not rel.optional:
                    self.error(rel.row, f"rel:{rel.type_key}", "A CI cannot be related to itself.")
                continue
            if ends not in seen:
                seen.add(ends)
                planned.append((source, rel_type, target, rel.row))
        # Relationships that already exist are skipped (found in bulk by their sources).
        known_ids = {
            end if isinstance(end, int) else end.ci_id
            for end, _, _, _ in planned
            if isinstance(end, int) or end.ci_id is not None
        }
        if not known_ids:
            return planned
        existing: set[tuple[int, int, int]] = set()
        table = connection.ops.quote_name(Relationship._meta.db_table)
        with connection.cursor() as cursor:
            for chunk in _chunks(sorted(known_ids), LOOKUP_CHUNK):
                among, params = _among("source_id", chunk)
                cursor.execute(
                    f"SELECT source_id, type_id, target_id FROM {table} "  # noqa: S608
                    f"WHERE {among}",
                    params,
                )
                existing.update(cursor.fetchall())
        return [
            (src, rel_type, tgt, row)
            for src, rel_type, tgt, row in planned
            if (_identity(src), rel_type.pk, _identity(tgt)) not in existing
        ]

    # --- writes --------------------------------------------------------------------------------

    def write(
        self,
        slots: list[_Slot],
        relationships: list[tuple[_Slot | int, RelationshipType, _Slot | int, Any]],
    ) -> None:
        new = [slot for slot in slots if slot.action == "create"]
        changed = [slot for slot in slots if slot.action == "update"]
        source_only = [slot for slot in slots if slot.source_only]
        self.create_cis(new)
        if changed:
            fields = sorted(
                {n for s in changed for n in s.changed if not n.startswith("attributes.")}
                | {"attributes", "attribute_sources"}
            )
            audited_bulk_update(self.updated_instances(changed), fields)
        if source_only:
            # Bookkeeping only (attribute sources are not audited): past the change-logged
            # queryset, which refuses bulk updates.
            ConfigurationItem._base_manager.bulk_update(
                self.updated_instances(source_only), ["attribute_sources"], batch_size=500
            )
        # Identifiers: every slot's values not yet stored (a CI found by one gains the others).
        known = getattr(self, "known", {})
        org_id = self.org.pk
        insert_tuples(
            CIIdentifier,
            ("organization_id", "ci_id", "kind", "value"),
            [
                (org_id, slot.ci_id, kind, value)
                for slot in slots
                for kind, value in slot.pairs
                if (kind, value) not in known
            ],
        )
        # Last seen by this source: new CIs get a record; known ones are touched in bulk.
        seen_ids = [slot.ci_id for slot in slots if slot.action != "create"]
        have: set[int] = set()
        table = connection.ops.quote_name(CISourceRecord._meta.db_table)
        stamp = connection.ops.adapt_datetimefield_value(self.now)
        with connection.cursor() as cursor:
            for chunk in _chunks(seen_ids, LOOKUP_CHUNK):
                among, params = _among("ci_id", chunk)
                cursor.execute(
                    f"UPDATE {table} SET last_seen = %s "  # noqa: S608 - a quoted table name
                    f"WHERE source = %s AND {among} RETURNING ci_id",
                    [stamp, self.source, *params],
                )
                have.update(ci_id for (ci_id,) in cursor.fetchall())
        source, now = self.source, self.now
        insert_tuples(
            CISourceRecord,
            ("organization_id", "ci_id", "source", "first_seen", "last_seen"),
            [
                (org_id, ci_id, source, now, now)
                for ci_id in [
                    *(slot.ci_id for slot in new),
                    *(i for i in seen_ids if i not in have),
                ]
            ],
        )
        discovered_by = self.source[:100]
        rels = []
        for src, rel_type, tgt, _row in relationships:
            s = src if isinstance(src, int) else src.ci_id
            t = tgt if isinstance(tgt, int) else tgt.ci_id
            if s != t:
                rels.append((org_id, s, t, rel_type.id, discovered_by))
        audited_insert_tuples(Relationship, RELATIONSHIP_COLUMNS, rels, _describe_relationship)
        self.result.relationships_created = len(rels)

    def updated_instances(self, slots: list[_Slot]) -> list[ConfigurationItem]:
        """The slots' CIs loaded as instances (so the audit sees what they were), with the
        planned updates applied."""
        instances: dict[int, ConfigurationItem] = {}
        for chunk in _chunks([slot.ci_id for slot in slots]):
            instances.update(ConfigurationItem.objects.order_by().in_bulk(chunk))
        out = []
        for slot in slots:
            ci = instances[slot.ci_id]
            for attname, value in slot.updates.items():
                setattr(ci, attname, value)
            out.append(ci)
        return out

    def create_cis(self, slots: list[_Slot]) -> None:
        """Insert the new CIs as tuples (no model instance per row), each with its audit
        record, and note their ids on the slots."""
        org_id = self.org.pk
        defaults = CI_DEFAULTS
        rows = []
        for slot in slots:
            values = slot.values
            sources = dict.fromkeys(values, self.source)
            sources.update((f"attributes.{k}", self.source) for k in slot.attributes)
            rows.append(
                (
                    org_id,
                    slot.ci_class.id,
                    *[values.get(name, default) for name, default in defaults],
                    slot.attributes,
                    sources,
                )
            )
        keys = audited_insert_tuples(ConfigurationItem, CI_COLUMNS, rows, _describe_ci)
        for slot, key in zip(slots, keys, strict=True):
            slot.ci_id = key


def _default(field_name: str) -> Any:
    return ConfigurationItem._meta.get_field(field_name).get_default()


#: The columns a new CI is inserted with, and the defaults of those a row may leave out.
CI_DEFAULTS = tuple(
    (name, _default(name))
    for name in ("name", *(n for n in COMMON_FIELDS if n not in TEAM_FIELDS), *TEAM_FIELDS)
)
CI_COLUMNS = (
    "organization_id",
    "ci_class_id",
    *(f"{name}_id" if name in TEAM_FIELDS else name for name, _ in CI_DEFAULTS),
    "attributes",
    "attribute_sources",
)
#: What reconciling reads of an existing CI: the columns a row may set, and its bookkeeping.
STORED = ("id", "ci_class_id", *CI_COLUMNS[2:])
JSON_STORED = frozenset(
    f.attname for f in ConfigurationItem._meta.concrete_fields if isinstance(f, JSONField)
)
BOOL_STORED = frozenset(
    f.attname for f in ConfigurationItem._meta.concrete_fields if isinstance(f, BooleanField)
)
RELATIONSHIP_COLUMNS = ("organization_id", "source_id", "target_id", "type_id", "discovered_by")


def _describe_ci(row: tuple[Any, ...]) -> str:
    return str(row[2])  # the name


def _describe_relationship(row: tuple[Any, ...]) -> str:
    _org, source, target, type_id = row[:4]
    return f"{source} {type_id} {target}"


def reconcile(
    *,
    organization: Organization,
    source: str,
    items: list[DiscoveredCI],
    relationships: list[DiscoveredRelationship] | None = None,
    acting_user: Any,
    partial: bool = False,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ReconcileResult:
    """Validate, identify and write `items` and `relationships` (see the module docstring).

    All-or-nothing unless ``partial``: one failed row and nothing is written. ``dry_run``
    writes nothing and returns a preview of the first rows.
    """
    with paused_gc():
        reconciler = _Reconciler(
            organization=organization,
            source=source,
            acting_user=acting_user,
            partial=partial,
            dry_run=dry_run,
            progress=progress,
        )
        return reconciler.run(list(items), list(relationships or []))


@contextmanager
def paused_gc() -> Iterator[None]:
    """Hold Python's cyclic garbage collector while an import builds and writes its rows.

    An import allocates hundreds of thousands of dicts, lists and tuples that live to its end;
    the collector would walk them again and again (about 40 % of parsing a large file) and find
    no cycles. Reference counting still frees everything as usual; the collector resumes after.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def stale_cis(
    organization: Organization | int | None, days: int, source: str | None = None
) -> QuerySet[ConfigurationItem]:
    """CIs whose newest "last seen" (by any source, or by `source`) is older than `days`.

    ``organization`` None means every organisation: callers restrict the result to what the
    user may see.
    """
    org_id = organization.pk if isinstance(organization, Organization) else organization
    cutoff = timezone.now() - timedelta(days=days)
    records = CISourceRecord.objects.all()
    cis = ConfigurationItem.objects.all()
    if org_id is not None:
        records = records.filter(organization_id=org_id)
        cis = cis.filter(organization_id=org_id)
    if source:
        records = records.filter(source=source)
    stale_ids = (
        records.values("ci_id").annotate(newest=Max("last_seen")).filter(newest__lt=cutoff)
    ).values("ci_id")
    seen = (
        Max("sources__last_seen", filter=Q(sources__source=source))
        if source
        else Max("sources__last_seen")
    )
    return (
        cis.filter(pk__in=stale_ids)
        .annotate(last_seen=seen)
        .select_related("ci_class")
        .order_by("last_seen", "name", "pk")
    )
