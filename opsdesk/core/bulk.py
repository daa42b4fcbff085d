"""Fast bulk INSERTs for imports: Django's bulk_create prepares every value of every row
through the field machinery, which dominates an import of tens of thousands of rows. Here
rows are tuples (or dicts, for ``insert_rows``), each column gets one converter, chosen once
per field type, and rows go out as multi-row ``INSERT ... VALUES (...), (...) [RETURNING id]``
statements on SQLite (3.35+) and as COPY on PostgreSQL.

No signals are sent and no ``save()`` runs: callers write the audit trail themselves
(``audited_insert_tuples`` here, or ``core.audit.audited_bulk_create``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from itertools import chain, islice
from operator import itemgetter
from typing import Any

import orjson
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models, router

#: SQLite counts bound parameters per statement; stay well below its limit.
MAX_PARAMS = 30_000
MAX_ROWS = 1_000


def json_text(field: models.JSONField) -> Callable[[Any], str]:
    """The field's value as JSON text, as Django would write it, but with orjson: what Django's
    encoder does for datetimes, decimals and lazy strings is kept by handing those to it."""
    fallback = (field.encoder or DjangoJSONEncoder)()
    if field.encoder not in (None, DjangoJSONEncoder):
        return fallback.encode
    options = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS

    def encode(value: Any) -> str:
        return orjson.dumps(value, default=fallback.default, option=options).decode()

    return encode


def _memoised(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Bulk rows share a handful of timestamps: convert each distinct one once."""
    seen: dict[Any, Any] = {}

    def cached(value: Any) -> Any:
        if value not in seen:
            if len(seen) > 64:
                seen.clear()
            seen[value] = convert(value)
        return seen[value]

    return cached


def _converter(field: models.Field, connection: Any) -> Callable[[Any], Any] | None:
    """How a Python value of `field` becomes a bound value; None when it binds as it is."""
    ops = connection.ops
    if isinstance(field, models.JSONField):
        return json_text(field)  # text for SQLite, and for COPY into PostgreSQL's jsonb
    if isinstance(field, models.BinaryField):
        return bytes
    if connection.vendor == "postgresql":
        return None  # COPY: psycopg adapts dates, datetimes and decimals itself
    if isinstance(field, models.DateTimeField):
        return _memoised(ops.adapt_datetimefield_value)
    if isinstance(field, models.DateField):
        return ops.adapt_datefield_value
    if isinstance(field, models.DecimalField):
        return lambda v: ops.adapt_decimalfield_value(v, field.max_digits, field.decimal_places)
    return None


def insert_rows(
    model: type[models.Model], rows: Sequence[dict[str, Any]], *, returning: bool = False
) -> list[Any]:
    """INSERT rows given as {attname: value}; missing columns are NULL. Returns new keys
    (in row order) when `returning`."""
    if not rows:
        return []
    attnames = [
        f.attname
        for f in model._meta.concrete_fields
        if not (f.primary_key and isinstance(f, models.AutoField))
    ]
    return insert_tuples(
        model, attnames, [tuple(map(row.get, attnames)) for row in rows], returning=returning
    )


def insert_tuples(
    model: type[models.Model],
    attnames: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    returning: bool = False,
    encoded: Collection[str] = (),
) -> list[Any]:
    """INSERT rows given as tuples of Python values in the order of `attnames` (the cheapest
    form to build: no dict or model instance per row). Columns named in `encoded` hold values
    already in database form (JSON as text). Returns the new keys in row order when
    `returning`. SQLite gets multi-row ``INSERT ... RETURNING`` on the raw connection (no
    placeholder rewriting of statements with thousands of parameters); PostgreSQL gets COPY.

    `rows` may be a generator: rows are then built while the database stores the previous
    ones (PostgreSQL works on a COPY as it arrives, on the other core)."""
    if returning and not isinstance(rows, Sequence):
        rows = list(rows)  # the keys are drawn for a known number of rows
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    by_attname = {f.attname: f for f in meta.concrete_fields}
    fields = [by_attname[name] for name in attnames]
    convert = [
        (index, converter)
        for index, field in enumerate(fields)
        if field.attname not in encoded and (converter := _converter(field, connection)) is not None
    ]
    count = len(rows) if isinstance(rows, Sequence) else None
    if count == 0:
        return []
    if convert:
        rows = (_converted(row, convert) for row in rows)
    if connection.vendor == "postgresql":
        return _copy_rows(connection, model, fields, rows, count if returning else None)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    placeholder = "(" + ", ".join(["?"] * len(fields)) + ")"
    per_statement = max(1, min(MAX_ROWS, MAX_PARAMS // max(1, len(fields))))
    suffix = f" RETURNING {quote(meta.pk.column)}" if returning else ""
    keys: list[Any] = []
    pending = iter(rows)
    with connection.cursor():  # connected, and not inside a broken transaction
        raw = connection.connection
        while batch := list(islice(pending, per_statement)):
            # Identifiers are quoted names from model metadata; every value is a bound parameter.
            statement = (
                f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES "  # noqa: S608
                + ", ".join([placeholder] * len(batch))
                + suffix
            )
            result = raw.execute(statement, list(chain.from_iterable(batch)))
            if returning:
                keys.extend(row[0] for row in result.fetchall())
    return keys


def _converted(row: Sequence[Any], convert: list[tuple[int, Callable[[Any], Any]]]) -> list[Any]:
    out = list(row)
    for index, converter in convert:
        value = out[index]
        if value is not None:
            out[index] = converter(value)
    return out


def insert_instances(objs: Sequence[models.Model], *, returning: bool = True) -> None:
    """INSERT unsaved instances of one model; with `returning`, set their primary keys."""
    if not objs:
        return
    model = type(objs[0])
    meta = model._meta
    using = router.db_for_write(model)
    pre_save = [
        f
        for f in meta.concrete_fields
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    for obj in objs:
        for field in pre_save:
            field.pre_save(obj, add=True)
    keys = insert_rows(model, [obj.__dict__ for obj in objs], returning=returning)
    for i, obj in enumerate(objs):
        if returning:
            setattr(obj, meta.pk.attname, keys[i])
        obj._state.adding = False
        obj._state.db = using


def next_ids(cursor: Any, model: type[models.Model], count: int) -> list[int]:
    """PostgreSQL: `count` new ids from the sequence of `model`'s id column, ascending, in
    one statement. The sequence is looked up once (a scalar subquery, run as an InitPlan):
    looked up per row it costs more than the nextval calls themselves."""
    meta = model._meta
    cursor.execute(
        "SELECT nextval((SELECT pg_get_serial_sequence(%s, %s)::regclass)) "
        "FROM generate_series(1, %s)",
        ['"{}"'.format(meta.db_table.replace('"', '""')), meta.pk.column, count],
    )
    return sorted(row[0] for row in cursor.fetchall())


def _copy_rows(
    connection: Any,
    model: type[models.Model],
    fields: list[models.Field],
    rows: Iterable[Sequence[Any]],
    returning: int | None,
) -> list[Any]:
    """PostgreSQL: COPY, the fastest way in. With `returning` (the number of rows), keys are
    drawn from the table's sequence first."""
    from psycopg import sql

    meta = model._meta
    pk = meta.pk
    columns = [f.column for f in fields]
    keys: list[Any] = []
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # the psycopg cursor, inside Django's transaction
        if returning:
            keys = next_ids(cursor, model, returning)
            columns = [pk.column, *columns]
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(meta.db_table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        with cursor.copy(statement) as copy:
            if returning:
                for key, values in zip(keys, rows, strict=True):
                    copy.write_row((key, *values))
            else:
                for values in rows:
                    copy.write_row(values)
    return keys


def audited_insert_tuples(
    model: type[models.Model],
    attnames: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    describe: Callable[[tuple[Any, ...]], str],
) -> list[int]:
    """Insert change-logged rows given as tuples (Python values in the order of `attnames`),
    each with the audit record ``core.audit`` writes for a create: ``after`` holds the audited
    fields, ``changes`` ``[None, value]`` for each one set. The two JSON documents of a record
    are built once per row with orjson, and records go in with :func:`insert_tuples`, in the
    caller's transaction. Columns not in `attnames` get their default, evaluated once, and
    ``auto_now`` columns the time of the call. `describe(row)` gives the record's text.
    Returns the new keys in row order."""
    from django.utils import timezone

    from opsdesk.core.audit import REDACTED, _audited_fields
    from opsdesk.core.context import current_actor, current_request_id
    from opsdesk.core.models import AuditRecord

    if not rows:
        return []
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    now = timezone.now()
    given = set(attnames)
    missing = [f for f in meta.concrete_fields if not f.primary_key and f.attname not in given]
    defaults = {
        f.name: now
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        else f.get_default()
        for f in missing
    }
    # The defaults are the same for every row: converted for the database once.
    stored = tuple(_db_value(f, defaults[f.name], connection) for f in missing)
    keys = insert_tuples(
        model,
        [*attnames, *(f.attname for f in missing)],
        [row + stored for row in rows] if stored else rows,
        returning=True,
        encoded={f.attname for f in missing},
    )

    # A record's `after` starts as a template holding the (JSON-safe) defaults; each row fills
    # in the key and its own values, which keep their place in the field order.
    audited = [f for f in _audited_fields(model) if not f.primary_key]
    template = {meta.pk.name: None}
    for f in audited:
        template[f.name] = orjson.loads(_audit_json(defaults[f.name])) if f in missing else None
    own = [f for f in audited if f not in missing]
    own_names = [f.name for f in own]
    position = {name: index for index, name in enumerate(attnames)}
    own_values = _getter([position[f.attname] for f in own])
    redact = [n for n in getattr(model, "audit_redact", ()) if n in template]
    org_index = position.get("organization_id")
    actor = current_actor()
    actor_is_user = actor is not None and getattr(actor, "is_authenticated", False)
    common = (
        _db_value(AuditRecord._meta.get_field("timestamp"), now, connection),
        actor.pk if actor_is_user else None,
        (getattr(actor, "email", "") or "") if actor_is_user else "system",
    )
    request_id = current_request_id() or ""
    object_type = meta.label_lower
    pk_name = meta.pk.name

    def records() -> Iterator[tuple[Any, ...]]:
        for key, row in zip(keys, rows, strict=True):
            after = template.copy()
            after[pk_name] = key
            after.update(zip(own_names, own_values(row), strict=True))
            for name in redact:
                if after[name]:
                    after[name] = REDACTED
            changes = {name: (None, value) for name, value in after.items() if value is not None}
            yield (
                *common,
                row[org_index] if org_index is not None else None,
                request_id,
                "create",
                object_type,
                str(key),
                describe(row)[:200],
                _audit_json(changes),
                None,
                _audit_json(after),
            )

    insert_tuples(
        AuditRecord, AUDIT_COLUMNS, records(), encoded={"timestamp", "changes", "before", "after"}
    )
    return keys


def _db_value(field: models.Field, value: Any, connection: Any) -> Any:
    converter = _converter(field, connection)
    return value if converter is None or value is None else converter(value)


def _getter(indexes: list[int]) -> Callable[[Sequence[Any]], Sequence[Any]]:
    """itemgetter over `indexes`, always returning a tuple."""
    if len(indexes) > 1:
        return itemgetter(*indexes)
    return lambda row: tuple(row[index] for index in indexes)


AUDIT_COLUMNS = (
    "timestamp",
    "actor_id",
    "actor_email",
    "organization_id",
    "request_id",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "changes",
    "before",
    "after",
)
_AUDIT_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
_audit_default = DjangoJSONEncoder().default


def _audit_json(value: Any) -> str:
    """JSON text as an audit record stores it (Django's encoder for datetimes and decimals)."""
    return orjson.dumps(value, default=_audit_default, option=_AUDIT_OPTIONS).decode()
