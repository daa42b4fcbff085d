"""The durable inbox: intake stores each accepted request here before acknowledging it, and
workers drain it through the pipeline.

Exactly once in effect: a worker claims pending entries, runs the pipeline and marks the
entries done in one transaction. If the worker dies (even SIGKILL) the transaction rolls
back and the entries are still pending for the next worker; if the pipeline fails on an
entry, it is retried alone and, after ``MAX_ATTEMPTS``, marked failed with the error (never
dropped: ``opsdesk events retry`` puts it back).
"""

from __future__ import annotations

import gc
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from opsdesk.core.models import Organization
from opsdesk.events import pipeline
from opsdesk.events.choices import InboxState
from opsdesk.events.models import CorrelationSettings, EventIntegration, InboxEntry
from opsdesk.events.normal import NormalisedEvent

logger = logging.getLogger("opsdesk.events.inbox")

#: Bytes of the raw body kept for replay.
RAW_LIMIT = 256 * 1024
MAX_ATTEMPTS = 5


def _insert(entry: InboxEntry) -> InboxEntry:
    """Save a new entry with one ``INSERT ... RETURNING``: what ``save()`` writes (each field
    prepares its value as there), without its per-call query compilation and signals (none
    listen to inbox entries), which cost an intake request a quarter of its CPU."""
    fields = [f for f in InboxEntry._meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(InboxEntry._meta.db_table)} "  # noqa: S608 - names from the model
        f"({', '.join(quote(f.column) for f in fields)}) VALUES ({', '.join(['%s'] * len(fields))}) "
        f"RETURNING {quote(InboxEntry._meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [f.get_db_prep_save(f.pre_save(entry, True), connection) for f in fields]
        )
        entry.pk = cursor.fetchone()[0]
    entry._state.adding = False
    entry._state.db = connection.alias
    return entry


def store(
    *,
    organization_id: int,
    source: str,
    events: list[NormalisedEvent],
    body: bytes = b"",
    content_type: str = "",
    integration: EventIntegration | None = None,
    received_at: datetime | None = None,
    transport: str = "db",
) -> InboxEntry:
    """Store one accepted request's events; the caller acknowledges after this returns."""
    now = received_at or timezone.now()
    for event in events:
        if event.received_at is None:
            event.received_at = now
    raw = body[:RAW_LIMIT].decode("utf-8", errors="replace").replace("\x00", "")
    return _insert(
        InboxEntry(
            organization_id=organization_id,
            integration=integration,
            source=source,
            received_at=now,
            content_type=content_type[:200],
            raw=raw,
            raw_truncated=len(body) > RAW_LIMIT,
            events=[e.to_json() for e in events],
            event_count=len(events),
            transport=transport,
        )
    )


def _pending(
    ids: Iterable[int] | None = None,
    *,
    organization_id: int | None = None,
    up_to_id: int | None = None,
    older_than: datetime | None = None,
) -> QuerySet[InboxEntry]:
    qs = InboxEntry.objects.filter(state=InboxState.PENDING).order_by("id")
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    if organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    if up_to_id is not None:
        qs = qs.filter(pk__lte=up_to_id)
    if older_than is not None:
        qs = qs.filter(received_at__lt=older_than)
    return qs


def _claim(
    limit: int,
    ids: Iterable[int] | None,
    *,
    organization_id: int | None = None,
    up_to_id: int | None = None,
    older_than: datetime | None = None,
) -> list[InboxEntry]:
    """Claim the oldest pending entries (call inside a transaction).

    On PostgreSQL several workers share the inbox, and one organisation's entries must be
    processed in the order they were accepted (a "resolved" must not overtake its "firing").
    So the worker locks an organisation row first and then takes that organisation's oldest
    pending entries: a second worker skips to another organisation (``SKIP LOCKED``) instead
    of claiming newer entries of the same one and committing them first. When the caller
    names the organisation (the NATS consumer) it waits for the lock instead. On SQLite
    writers are serialised by the database anyway (one worker), so no locks are taken.

    The locks are ``FOR NO KEY UPDATE``: they exclude each other, but not the key-share lock
    that the intake's INSERT of an entry takes on its organisation (the foreign key), so
    accepting events never waits for a batch being processed.
    """
    qs = _pending(ids, organization_id=organization_id, up_to_id=up_to_id, older_than=older_than)
    if not connection.features.has_select_for_update_skip_locked:
        return _loaded(qs[:limit])
    if organization_id is not None:
        Organization.objects.select_for_update(no_key=True).filter(pk=organization_id).first()
        return _loaded(qs[:limit])
    seen: list[int] = []
    for org_id in qs.values_list("organization_id", flat=True)[: max(limit, 1) * 4]:
        if org_id in seen:
            continue
        seen.append(org_id)
        locked = (
            Organization.objects.select_for_update(skip_locked=True, no_key=True)
            .filter(pk=org_id)
            .values_list("pk", flat=True)
        )
        if list(locked):
            return _loaded(qs.filter(organization_id=org_id)[:limit])
    return []


def _loaded(qs: QuerySet[InboxEntry]) -> list[InboxEntry]:
    """The entries without their raw bodies (up to 256 KiB each, kept for replay, not read
    here), their events decoded by orjson from the column's text instead of by the standard
    library's decoder that the JSON field uses."""
    entries = list(qs.defer("raw", "events").annotate(events_text=Cast("events", TextField())))
    for entry in entries:
        entry.events = orjson.loads(entry.events_text)
    return entries


def items_of(entry: InboxEntry, integrations: dict[int, EventIntegration]) -> list[pipeline.Item]:
    integration = integrations.get(entry.integration_id) if entry.integration_id else None
    return [
        pipeline.Item(
            event=NormalisedEvent.from_json(data),
            inbox_id=entry.pk,
            integration_id=entry.integration_id,
            default_service_id=integration.default_service_id if integration else None,
        )
        for data in entry.events
    ]


def apply(entries: list[InboxEntry], now: datetime | None = None) -> int:
    """Run the pipeline over these (claimed) entries, one batch per organisation, and mark
    them done. Call inside a transaction. Returns the number of events processed."""
    now = now or timezone.now()
    by_org: dict[int, list[InboxEntry]] = defaultdict(list)
    for entry in entries:
        by_org[entry.organization_id].append(entry)
    integration_ids = {e.integration_id for e in entries if e.integration_id}
    integrations = {i.pk: i for i in EventIntegration.objects.filter(pk__in=integration_ids)}
    total = 0
    for org_id, org_entries in sorted(by_org.items()):
        # One pipeline at a time per organisation: correlation reads and writes its open
        # groups, so two workers must not interleave on the same organisation.
        Organization.objects.select_for_update(no_key=True).filter(pk=org_id).first()
        items = [item for entry in org_entries for item in items_of(entry, integrations)]
        batch = pipeline.Batch(
            organization_id=org_id,
            items=items,
            settings=CorrelationSettings.for_org(org_id),
            now=now,
        )
        pipeline.run(batch)
        total += len(items)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("pipeline batch %s", _batch_summary(batch))
    InboxEntry.objects.filter(pk__in=[e.pk for e in entries]).update(
        state=InboxState.DONE, processed_at=timezone.now(), locked_by="", error=""
    )
    return total


def _batch_summary(batch: pipeline.Batch) -> str:
    """One line of JSON for the worker's debug log (`benchmarks/ingest.py` reads it): the
    batch's size and each stage's milliseconds, and those through correlation together."""
    ms = {name: round(seconds * 1000, 2) for name, seconds in batch.timings.items()}
    through = sum(ms.get(name, 0.0) for name in pipeline.THROUGH_CORRELATION)
    return orjson.dumps(
        {
            "organization": batch.organization_id,
            "events": len(batch.items),
            "through_correlation_ms": round(through, 2),
            "stages_ms": ms,
        }
    ).decode()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for one batch. A batch of a thousand events
    allocates hundreds of thousands of short-lived objects, each few hundred of which start
    a collection that also walks the worker's long-lived ones (the kept correlation state):
    measured with the pipeline benchmark, those collections took a fifth of a batch. The
    batch's own cycles are collected once it is done (the young generations, here, so the
    batch pays for it), and its memory is bounded by the batch size."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect(1)


def _batch_commit() -> None:
    """PostgreSQL: this transaction commits without waiting for its WAL to be flushed
    (``synchronous_commit = off`` for it alone), unless
    ``EVENTS_PIPELINE_SYNCHRONOUS_COMMIT``. What a batch writes is derived from inbox entries
    that intake committed synchronously, and those entries are marked done in the same
    transaction: a database crash can lose only the last fraction of a second of batches
    *together with* their "done" marks, so the entries are processed again; nothing
    acknowledged is lost, nothing is applied twice. Whatever leaves the system (a
    notification, a runbook's call) goes out through a task queued in a later, synchronous
    commit, which flushes this one first. Measured with the pipeline benchmark on this
    machine: 10-35 ms less outside the stages per batch of a thousand events."""
    if connection.vendor == "postgresql" and not settings.EVENTS_PIPELINE_SYNCHRONOUS_COMMIT:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def process_pending(
    worker: str = "",
    limit: int = 200,
    ids: Iterable[int] | None = None,
    *,
    organization_id: int | None = None,
    up_to_id: int | None = None,
    older_than: datetime | None = None,
) -> int:
    """Claim up to ``limit`` pending entries and process them; returns events processed.

    ``ids`` narrows to those entries; ``organization_id`` / ``up_to_id`` to one
    organisation's entries up to an id (the NATS consumer: a message names an entry, and
    the older pending entries of its organisation go first); ``older_than`` to entries
    received before then (the sweeper of the NATS transport). Entries already done are
    never processed again. A failing batch is retried entry by entry so one poison entry
    cannot hold up the rest."""
    narrow = {"organization_id": organization_id, "up_to_id": up_to_id, "older_than": older_than}
    try:
        with collector_paused(), transaction.atomic():
            entries = _claim(limit, ids, **narrow)
            if not entries:
                return 0
            _batch_commit()
            return apply(entries)
    except Exception:
        logger.exception("event batch failed; retrying its entries one by one")
    done = 0
    with transaction.atomic():
        pending = [e.pk for e in _claim(limit, ids, **narrow)]
    for pk in pending:
        try:
            with transaction.atomic():
                entries = _claim(1, [pk], organization_id=organization_id)
                if entries:
                    _batch_commit()
                    done += apply(entries)
        except Exception as exc:
            logger.exception("inbox entry %s failed", pk)
            entry = InboxEntry.objects.get(pk=pk)
            entry.attempts += 1
            entry.error = f"{type(exc).__name__}: {exc}"[:5000]
            if entry.attempts >= MAX_ATTEMPTS:
                entry.state = InboxState.FAILED
            entry.save(update_fields=["attempts", "error", "state"])
    return done


def drain(worker: str = "", limit: int = 200) -> int:
    """Process until the inbox is empty (tests, the demo, `opsdesk events process`)."""
    total = 0
    while True:
        done = process_pending(worker, limit)
        if (
            not done
            and not InboxEntry.objects.filter(
                state=InboxState.PENDING, attempts__lt=MAX_ATTEMPTS
            ).exists()
        ):
            return total
        total += done
        if not done:
            return total
