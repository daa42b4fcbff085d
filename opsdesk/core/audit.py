"""The audit trail: one append-only record per create, update and delete of a business object.

Handlers are registered once for every `ChangeLogged` model (a generic concern, so signals
are the right tool). The actor and request id come from `opsdesk.core.context`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.fields.files import FieldFile
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver

from opsdesk.core.context import current_actor, current_request_id

REDACTED = "********"


def _audited_fields(instance: models.Model) -> list[models.Field]:
    exclude = getattr(instance, "audit_exclude", frozenset())
    return [f for f in instance._meta.concrete_fields if f.name not in exclude]


class _AuditEncoder(DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, FieldFile):
            return o.name or None  # the stored path, never the content
        return super().default(o)


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=_AuditEncoder))


def _copy_json(value: Any) -> Any:
    """A copy of JSON-shaped data (dicts, lists, scalars): much cheaper than deepcopy."""
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_json(v) for v in value]
    return value


_FIELDS_CACHE: dict[type, list[tuple[str, str]]] = {}


def raw_values(instance: models.Model) -> dict[str, Any]:
    """The audited field values as loaded: cheap enough to take for every row read."""
    model = type(instance)
    fields = _FIELDS_CACHE.get(model)
    if fields is None:
        fields = _FIELDS_CACHE[model] = [(f.name, f.attname) for f in _audited_fields(instance)]
    values = instance.__dict__
    data: dict[str, Any] = {}
    for name, attname in fields:
        if attname not in values:
            continue  # deferred (``.only()``): reading it would cost a query per row
        value = values[attname]
        # Mutable values (JSON lists and dicts) are copied so in-place edits show in the diff.
        data[name] = _copy_json(value) if isinstance(value, (list, dict)) else value
    return data


def _to_snapshot(instance: models.Model, raw: dict[str, Any]) -> dict[str, Any]:
    redact = getattr(instance, "audit_redact", frozenset())
    return _json_safe({k: (REDACTED if k in redact and v else v) for k, v in raw.items()})


def snapshot(instance: models.Model) -> dict[str, Any]:
    """The audited field values of a row, JSON-safe and redacted, keyed by field name."""
    return _to_snapshot(instance, raw_values(instance))


def secret_digests(instance: models.Model, raw: dict[str, Any]) -> dict[str, str]:
    """Digests of the redacted fields, kept on the instance only and never written anywhere,
    so that a changed secret shows as a change (``[REDACTED, REDACTED]``) without its value."""
    redact = getattr(instance, "audit_redact", frozenset())
    return {
        name: hashlib.sha256(str(raw[name] or "").encode()).hexdigest()
        for name in redact
        if name in raw
    }


def loaded_snapshot(instance: models.Model) -> dict[str, Any] | None:
    """The snapshot of the row as it was loaded (computed on first use, then kept)."""
    current = getattr(instance, "_audit_snapshot", None)
    if current is None and getattr(instance, "_audit_loaded", None) is not None:
        current = instance._audit_snapshot = _to_snapshot(instance, instance._audit_loaded)
        instance._audit_secrets = secret_digests(instance, instance._audit_loaded)
        instance._audit_loaded = None
    return current


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, list[Any]]:
    before = before or {}
    after = after or {}
    keys = list(dict.fromkeys([*before, *after]))
    return {k: [before.get(k), after.get(k)] for k in keys if before.get(k) != after.get(k)}


def _organization_id(instance: models.Model) -> int | None:
    from opsdesk.core.models import Organization

    if isinstance(instance, Organization):
        return instance.pk
    getter = getattr(instance, "audit_organization_id", None)
    if callable(getter):
        return getter()
    return getattr(instance, "organization_id", None)


def write_record(
    instance: models.Model,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    changes: dict[str, list[Any]] | None = None,
) -> Any:
    record = _record(
        instance, action, before, after, changes if changes is not None else diff(before, after)
    )
    record.save()
    return record


def _is_change_logged(sender: type) -> bool:
    from opsdesk.core.models import ChangeLogged

    return isinstance(sender, type) and issubclass(sender, ChangeLogged)


@receiver(pre_save, dispatch_uid="opsdesk_audit_pre_save")
def _load_missing_snapshot(sender: type, instance: models.Model, raw: bool, **kwargs: Any) -> None:
    if raw or not _is_change_logged(sender) or instance._state.adding:
        return
    current = loaded_snapshot(instance)
    if current is None or any(f.name not in current for f in _audited_fields(instance)):
        # No snapshot, or one of a row loaded with ``.only()``: complete it from the database,
        # which still holds the values from before this save.
        stored = sender._base_manager.filter(pk=instance.pk).first()
        if stored is not None:
            instance._audit_snapshot = {**snapshot(stored), **(current or {})}
            instance._audit_secrets = {
                **secret_digests(stored, raw_values(stored)),
                **getattr(instance, "_audit_secrets", {}),
            }


@receiver(post_save, dispatch_uid="opsdesk_audit_post_save")
def _record_save(
    sender: type, instance: models.Model, created: bool, raw: bool, **kwargs: Any
) -> None:
    if raw or not _is_change_logged(sender):
        return
    raw_after = raw_values(instance)
    after = _to_snapshot(instance, raw_after)
    secrets = secret_digests(instance, raw_after)
    if created:
        write_record(instance, "create", None, after)
    else:
        before = loaded_snapshot(instance)
        # Fields still deferred are absent from `after`; they did not change.
        changes = {k: v for k, v in diff(before, after).items() if k in after}
        old_secrets = getattr(instance, "_audit_secrets", {})
        for name, digest in secrets.items():
            if name in old_secrets and old_secrets[name] != digest:
                changes[name] = [REDACTED, REDACTED]  # changed; neither value is shown
        if changes:
            write_record(instance, "update", before, after, changes)
    instance._audit_snapshot = after
    instance._audit_secrets = secrets


@receiver(post_delete, dispatch_uid="opsdesk_audit_post_delete")
def _record_delete(sender: type, instance: models.Model, **kwargs: Any) -> None:
    if not _is_change_logged(sender):
        return
    before = loaded_snapshot(instance) or snapshot(instance)
    write_record(instance, "delete", before, None)


def _m2m_ids(instance: models.Model, field_name: str) -> list[Any]:
    return sorted(getattr(instance, field_name).values_list("pk", flat=True))


@receiver(m2m_changed, dispatch_uid="opsdesk_audit_m2m")
def _record_m2m(
    sender: type, instance: models.Model, action: str, reverse: bool, **kwargs: Any
) -> None:
    if reverse or not _is_change_logged(type(instance)):
        return
    field_name = next(
        (f.name for f in instance._meta.many_to_many if f.remote_field.through is sender), None
    )
    if field_name is None:
        return
    if action.startswith("pre_"):
        pending = getattr(instance, "_audit_m2m_before", {})
        pending[field_name] = _m2m_ids(instance, field_name)
        instance._audit_m2m_before = pending
        return
    if not action.startswith("post_"):
        return
    before_ids = getattr(instance, "_audit_m2m_before", {}).pop(field_name, None)
    after_ids = _m2m_ids(instance, field_name)
    if before_ids is None or before_ids == after_ids:
        return
    write_record(
        instance,
        "update",
        {field_name: before_ids},
        {field_name: after_ids},
        {field_name: [before_ids, after_ids]},
    )


# --- Bulk writes that keep the trail -----------------------------------------------------------
# Importers write thousands of rows; one INSERT per row would be too slow. These helpers do
# the bulk write and then write every row's audit record in one more bulk INSERT, in the
# caller's transaction.


def _record_row(
    instance: models.Model,
    action: str,
    before: Any,
    after: Any,
    changes: dict,
    timestamp: Any = None,
) -> dict[str, Any]:
    """The columns of one audit record, as {attname: value}; JSON columns hold plain values
    that the database adapter encodes (no round trip through text here)."""
    from django.utils import timezone

    actor = current_actor()
    actor_is_user = actor is not None and getattr(actor, "is_authenticated", False)
    return {
        "timestamp": timestamp or timezone.now(),
        "actor_id": actor.pk if actor_is_user else None,
        "actor_email": (getattr(actor, "email", "") or "") if actor_is_user else "system",
        "organization_id": _organization_id(instance),
        "request_id": current_request_id() or "",
        "action": action,
        "object_type": instance._meta.label_lower,
        "object_id": str(instance.pk),
        "object_repr": str(instance)[:200],
        "changes": changes,
        "before": before,
        "after": after,
    }


def _record(instance: models.Model, action: str, before: Any, after: Any, changes: dict) -> Any:
    from opsdesk.core.models import AuditRecord

    return AuditRecord(**_record_row(instance, action, before, after, changes))


def audited_bulk_create(model: type[models.Model], objs: list[Any]) -> list[Any]:
    """Insert change-logged rows in bulk, with one audit record per row (two multi-row
    INSERTs per thousand rows instead of Django's per-value preparation)."""
    from opsdesk.core.bulk import insert_instances, insert_rows
    from opsdesk.core.models import AuditRecord

    if not objs:
        return objs
    from django.utils import timezone

    insert_instances(objs, returning=True)
    redact = getattr(model, "audit_redact", frozenset())
    now = timezone.now()
    records = []
    for obj in objs:
        raw = raw_values(obj)
        after = {k: (REDACTED if k in redact and v else v) for k, v in raw.items()}
        changes = {k: [None, v] for k, v in after.items() if v is not None}
        records.append(_record_row(obj, "create", None, after, changes, now))
        obj._audit_loaded = raw
        obj._audit_snapshot = None
    insert_rows(AuditRecord, records)
    return objs


def audited_insert_rows(
    model: type[models.Model], rows: list[dict[str, Any]], describe: Any
) -> list[int]:
    """Insert change-logged rows given as {attname: value} (no model instances: the cheapest
    path for tens of thousands of relationships), each with its audit record. `describe(row)`
    gives the record's text. Returns the new primary keys in row order."""
    from django.utils import timezone

    from opsdesk.core.bulk import insert_rows
    from opsdesk.core.models import AuditRecord

    if not rows:
        return []
    now = timezone.now()
    audited = [f for f in _audited_fields(model) if not f.primary_key]
    for row in rows:
        for field in model._meta.concrete_fields:
            if field.attname not in row and not field.primary_key:
                row[field.attname] = field.get_default()
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                row[field.attname] = now
    keys = insert_rows(model, rows, returning=True)
    actor = current_actor()
    actor_is_user = actor is not None and getattr(actor, "is_authenticated", False)
    common = {
        "timestamp": now,
        "actor_id": actor.pk if actor_is_user else None,
        "actor_email": (getattr(actor, "email", "") or "") if actor_is_user else "system",
        "request_id": current_request_id() or "",
        "action": "create",
        "object_type": model._meta.label_lower,
        "before": None,
    }
    pk_name = model._meta.pk.name
    records = []
    for key, row in zip(keys, rows, strict=True):
        after = {pk_name: key, **{f.name: row.get(f.attname) for f in audited}}
        records.append(
            {
                **common,
                "organization_id": row.get("organization_id"),
                "object_id": str(key),
                "object_repr": describe(row)[:200],
                "changes": {k: [None, v] for k, v in after.items() if v is not None},
                "after": after,
            }
        )
    insert_rows(AuditRecord, records)
    return keys


def audited_bulk_update(objs: list[Any], fields: list[str], batch_size: int = 500) -> int:
    """bulk_update for change-logged rows loaded from the database; audits what changed."""
    from django.utils import timezone

    from opsdesk.core.bulk import insert_rows
    from opsdesk.core.models import AuditRecord

    if not objs:
        return 0
    now = timezone.now()
    records = []
    changed = []
    for obj in objs:
        before = loaded_snapshot(obj)
        after = snapshot(obj)
        changes = {k: v for k, v in diff(before, after).items() if k in after}
        if changes:
            changed.append(obj)
            records.append(_record_row(obj, "update", before, after, changes, now))
            obj._audit_snapshot = after
    if changed:
        model = type(changed[0])
        if "updated_at" in {f.name for f in model._meta.concrete_fields}:
            for obj in changed:
                obj.updated_at = now
            fields = [*fields, "updated_at"]
        models.QuerySet(model).bulk_update(changed, fields, batch_size=batch_size)
        insert_rows(AuditRecord, records)
    return len(changed)
