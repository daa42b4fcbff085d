"""Fast multi-row INSERTs for imports: Django's bulk_create prepares every value of every row
through the field machinery, which dominates an import of tens of thousands of rows. Here
each column gets one converter, chosen once per field type, and rows go out as multi-row
``INSERT ... VALUES (...), (...) [RETURNING id]`` statements (SQLite 3.35+ and PostgreSQL).

No signals are sent and no ``save()`` runs: callers write the audit trail themselves
(see ``core.audit.audited_bulk_create``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    ops = connection.ops
    if isinstance(field, models.JSONField):
        if connection.vendor == "sqlite":
            return json_text(field)
        encoder = field.encoder or DjangoJSONEncoder
        return lambda v: None if v is None else ops.adapt_json_value(v, encoder)
    if isinstance(field, models.DateTimeField):
        return _memoised(ops.adapt_datetimefield_value)
    if isinstance(field, models.DateField):
        return ops.adapt_datefield_value
    if isinstance(field, models.DecimalField):
        return lambda v: ops.adapt_decimalfield_value(v, field.max_digits, field.decimal_places)
    if isinstance(field, models.BinaryField):
        return lambda v: None if v is None else bytes(v)
    return None


def insert_rows(
    model: type[models.Model], rows: Sequence[dict[str, Any]], *, returning: bool = False
) -> list[Any]:
    """INSERT rows given as {attname: value}; missing columns are NULL. Returns new keys
    (in row order) when `returning`."""
    if not rows:
        return []
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    pk = meta.pk
    fields = [
        f for f in meta.concrete_fields if not (f.primary_key and isinstance(f, models.AutoField))
    ]
    converters = [_converter(f, connection) for f in fields]
    attnames = [f.attname for f in fields]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    per_statement = max(1, min(MAX_ROWS, MAX_PARAMS // max(1, len(fields))))
    suffix = f" RETURNING {quote(pk.column)}" if returning else ""
    if connection.vendor == "postgresql":
        return _copy_rows(connection, model, fields, rows, returning)
    keys: list[Any] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            batch = rows[start : start + per_statement]
            params: list[Any] = []
            for values in batch:
                for name, convert in zip(attnames, converters, strict=True):
                    value = values.get(name)
                    params.append(
                        convert(value) if convert is not None and value is not None else value
                    )
            # Identifiers are quoted names from model metadata; every value is a bound parameter.
            cursor.execute(
                f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES "  # noqa: S608
                + ", ".join([placeholder] * len(batch))
                + suffix,
                params,
            )
            if returning:
                keys.extend(row[0] for row in cursor.fetchall())
    return keys


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


def _copy_rows(
    connection: Any,
    model: type[models.Model],
    fields: list[models.Field],
    rows: Sequence[dict[str, Any]],
    returning: bool,
) -> list[Any]:
    """PostgreSQL: COPY, the fastest way in; keys are drawn from the table's sequence first."""
    from psycopg import sql

    meta = model._meta
    pk = meta.pk
    encoders: list[Callable[[Any], Any] | None] = []
    for field in fields:
        if isinstance(field, models.JSONField):
            encoders.append(json_text(field))
        elif isinstance(field, models.BinaryField):
            encoders.append(bytes)
        else:
            encoders.append(None)
    attnames = [f.attname for f in fields]
    columns = [f.column for f in fields]
    keys: list[Any] = []
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # the psycopg cursor, inside Django's transaction
        if returning:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [meta.db_table, pk.column, len(rows)],
            )
            keys = [row[0] for row in cursor.fetchall()]
            columns = [pk.column, *columns]
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(meta.db_table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        with cursor.copy(statement) as copy:
            for index, values in enumerate(rows):
                out = [keys[index]] if returning else []
                for name, encode in zip(attnames, encoders, strict=True):
                    value = values.get(name)
                    out.append(encode(value) if encode is not None and value is not None else value)
                copy.write_row(out)
    return keys
