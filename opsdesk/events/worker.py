"""The event loop of `opsdesk worker`: drains the inbox through the pipeline.

With the ``db`` transport (the default) the loop claims pending inbox entries
(`inbox.process_pending`) as fast as it can while there are some, and backs off when the
inbox is empty. On PostgreSQL it also ``LISTEN``s on `CHANNEL`: the intake ``NOTIFY``s after
each commit (`notify`, registered as the ``db`` dispatcher), so an idle worker wakes up at
once instead of at its next poll. Several workers share the inbox on PostgreSQL (entries are
claimed organisation by organisation with ``SKIP LOCKED``, see `inbox._claim`); on SQLite one
worker at a time.

With the ``nats`` transport the loop is `opsdesk.events.transport_nats.Consumer`, and this
module's loop only sweeps entries whose publish was lost (see there).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import close_old_connections, connection
from django.utils import timezone

from opsdesk.events import inbox, transport
from opsdesk.events.models import InboxEntry

logger = logging.getLogger("opsdesk.events.worker")

#: The PostgreSQL channel the intake notifies after storing an entry.
CHANNEL = "opsdesk_events"
#: Entries claimed per transaction.
BATCH = 500
#: After a batch that was not full, wait this long before the next claim (seconds), so that
#: under a stream of small requests batches grow instead of each paying the pipeline's
#: per-batch cost; a full batch goes straight on.
LINGER = 0.05
#: Poll interval bounds when the inbox is empty (seconds).
IDLE_MIN = 0.02
IDLE_MAX = 1.0


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


#: A web process NOTIFYs at most this often (seconds): a worker woken by the last NOTIFY
#: claims again after its batch (at once, or after LINGER, which must stay longer), and by
#: then the entries stored since are committed. Under a stream of single-event requests
#: this saves most of the intake's NOTIFY round trips; an idle worker still wakes at once.
NOTIFY_EVERY = LINGER / 5
_notified = [0.0]


def notify(entry: InboxEntry) -> None:
    """The ``db`` dispatcher: wake up listening workers (PostgreSQL only; called on commit)."""
    if not is_postgresql():
        return
    now = time.monotonic()
    if now - _notified[0] < NOTIFY_EVERY:
        return
    _notified[0] = now
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, str(entry.organization_id)])
    except Exception:  # the entry is stored; a worker's poll picks it up anyway
        logger.warning("NOTIFY %s failed; workers will find entry %s by polling", CHANNEL, entry.pk)


transport.register("db", notify)


class Listener:
    """A dedicated autocommit psycopg connection that ``LISTEN``s on `CHANNEL`."""

    def __init__(self) -> None:
        import psycopg

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        params.pop("prepare_threshold", None)
        self.conn = psycopg.connect(**params, autocommit=True)
        self.conn.execute(f"LISTEN {CHANNEL}")

    def wait(self, timeout: float) -> bool:
        """Block until a notification or the timeout; True when notified."""
        woke = False
        for _ in self.conn.notifies(timeout=timeout, stop_after=1):
            woke = True
        return woke

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()


class EventLoop(threading.Thread):
    """Process pending inbox entries until stopped.

    ``only_older_than`` (seconds) restricts it to entries that waited that long: the sweeper
    beside the NATS consumer, which picks up entries whose publish failed.
    """

    def __init__(
        self,
        worker_id: str,
        *,
        batch: int = BATCH,
        idle_max: float = IDLE_MAX,
        only_older_than: float | None = None,
        on_batch: Callable[[int], None] | None = None,
        linger: float = LINGER,
    ) -> None:
        super().__init__(name="opsdesk-events", daemon=True)
        self.worker_id = worker_id
        self.batch = batch
        self.idle_max = idle_max
        self.only_older_than = only_older_than
        self.on_batch = on_batch
        self.linger = linger
        self.stopped = threading.Event()
        self.processed = 0

    def stop(self) -> None:
        self.stopped.set()

    def step(self) -> int:
        """One claim-and-process round; returns events processed."""
        older_than = None
        if self.only_older_than is not None:
            older_than = timezone.now() - timedelta(seconds=self.only_older_than)
        done = inbox.process_pending(self.worker_id, self.batch, older_than=older_than)
        self.processed += done
        if done and self.on_batch is not None:
            self.on_batch(done)
        return done

    def run(self) -> None:
        listener: Listener | None = None
        idle = IDLE_MIN
        while not self.stopped.is_set():
            try:
                close_old_connections()
                if listener is None and is_postgresql() and self.only_older_than is None:
                    listener = Listener()
                done = self.step()
                if done:
                    idle = IDLE_MIN
                    if done < self.batch and self.linger:
                        self.stopped.wait(self.linger)
                    continue
                if self.stopped.is_set():
                    break
                if listener is not None:
                    # Woken by the intake's NOTIFY, or poll at the idle interval anyway.
                    if listener.wait(self.idle_max):
                        idle = IDLE_MIN
                else:
                    self.stopped.wait(idle)
                    idle = min(self.idle_max, idle * 2)
            except Exception:
                logger.exception("event loop round failed; retrying")
                if listener is not None:
                    listener.close()
                    listener = None
                self.stopped.wait(min(self.idle_max, 1.0))
        if listener is not None:
            listener.close()
        close_old_connections()


def start(worker_id: str, **kwargs: Any) -> list[threading.Thread]:
    """Start the event threads of `opsdesk worker` for the configured transport."""
    if transport.name() == "nats":
        from opsdesk.events import transport_nats

        consumer = transport_nats.ConsumerThread(worker_id)
        after = transport_nats.sweep_after()
        sweeper = EventLoop(worker_id, only_older_than=after, idle_max=max(0.5, after / 4))
        sweeper.name = "opsdesk-events-sweeper"
        consumer.start()
        sweeper.start()
        return [consumer, sweeper]
    loop = EventLoop(worker_id, **kwargs)
    loop.start()
    return [loop]


def stop(threads: list[threading.Thread], timeout: float = 10.0) -> None:
    for thread in threads:
        stopper = getattr(thread, "stop", None)
        if stopper is not None:
            stopper()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
