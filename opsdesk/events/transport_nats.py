"""The NATS JetStream transport (``EVENTS_TRANSPORT=nats``): for several worker machines.

Design (docs/architecture/events-transport.md says why):

* The intake still writes the inbox row first and acknowledges the HTTP request only after
  that commit; then it publishes a small message ``{"inbox_id", "org", "partition"}`` to
  the stream `stream_name()` on subject ``<prefix>.<partition>``, with
  ``partition = crc32(org) % partitions()``, so one organisation's messages are on one
  subject, in order. ``Nats-Msg-Id`` is ``inbox-<id>``: a repeated publish is dropped by
  the stream's duplicate window.
* The stream has work-queue retention (a message is gone once acknowledged) and file
  storage. Workers (`opsdesk worker` with this transport, or `opsdesk events consume`)
  pull batches from one shared durable pull consumer, so adding a worker adds capacity.
* Order per correlation key comes from the database, not from which worker got which
  message: a message only says "organisation X has work up to entry N". The worker locks
  the organisation row and processes that organisation's pending entries up to N, oldest
  first (`inbox.process_pending(organization_id=, up_to_id=)`). If another worker holds a
  newer message of X, whichever locks X first processes all older entries first; the other
  then finds them done. So two workers never interleave one organisation's events, and a
  "resolved" never overtakes its "firing".
* Exactly once in effect: entries are marked done in the transaction that applies them; a
  message is acknowledged only after that commit. A worker killed before the commit leaves
  the entry pending and the message unacknowledged; JetStream redelivers it after
  `ack_wait()` to another worker. Redelivery of a done entry is a no-op.
* Nothing accepted is lost when NATS is down: the entry is in the database, and each worker
  runs a sweeper (`opsdesk.events.worker.EventLoop` with ``only_older_than``) that
  processes entries still pending after `sweep_after()` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import close_old_connections

from opsdesk.events import inbox, transport
from opsdesk.events.models import InboxEntry

logger = logging.getLogger("opsdesk.events.nats")

DEFAULT_STREAM = "OPSDESK_EVENTS"
DURABLE = "opsdesk-workers"
#: Messages fetched per pull.
FETCH = 500


def _conf(name: str, default: Any) -> Any:
    value = getattr(settings, name, None)
    if value in (None, ""):
        value = os.environ.get(name, "")
    return default if value in (None, "") else type(default)(value)


def url() -> str:
    return str(_conf("NATS_URL", "nats://127.0.0.1:4222"))


def stream_name() -> str:
    return str(_conf("NATS_STREAM", DEFAULT_STREAM))


def subject_prefix() -> str:
    """``OPSDESK_EVENTS`` -> ``opsdesk.events``."""
    return stream_name().lower().replace("_", ".")


def partitions() -> int:
    return max(1, int(_conf("NATS_PARTITIONS", 8)))


def ack_wait() -> float:
    """Seconds before an unacknowledged message is redelivered to another worker."""
    return float(_conf("NATS_ACK_WAIT", 30.0))


def sweep_after() -> float:
    """Seconds a pending entry waits before the sweeper processes it without a message."""
    return float(_conf("EVENTS_SWEEP_AFTER_SECONDS", 60.0))


def partition_of(organization_id: int) -> int:
    return zlib.crc32(str(organization_id).encode()) % partitions()


def message_for(entry: InboxEntry) -> tuple[str, bytes, dict[str, str]]:
    part = partition_of(entry.organization_id)
    body = json.dumps({"inbox_id": entry.pk, "org": entry.organization_id, "partition": part})
    return f"{subject_prefix()}.{part}", body.encode(), {"Nats-Msg-Id": f"inbox-{entry.pk}"}


async def ensure_stream(js: Any) -> None:
    from nats.js.api import RetentionPolicy, StorageType, StreamConfig
    from nats.js.errors import NotFoundError

    try:
        await js.stream_info(stream_name())
    except NotFoundError:
        await js.add_stream(
            StreamConfig(
                name=stream_name(),
                subjects=[f"{subject_prefix()}.>"],
                retention=RetentionPolicy.WORK_QUEUE,
                storage=StorageType.FILE,
                duplicate_window=120.0,
            )
        )


class Publisher:
    """One NATS connection per process, on its own asyncio loop thread; `publish` returns at
    once (the entry is already committed; a lost publish is the sweeper's)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="opsdesk-nats-pub")
        self.thread.daemon = True
        self.thread.start()
        self.js: Any = None
        self.nc: Any = None
        self.pid = os.getpid()
        self.url = url()
        self.lock = asyncio.Lock()

    async def _js(self) -> Any:
        async with self.lock:
            if self.js is None or self.nc is None or self.nc.is_closed:
                import nats

                self.nc = await nats.connect(self.url, connect_timeout=2, max_reconnect_attempts=-1)
                self.js = self.nc.jetstream()
                await ensure_stream(self.js)
            return self.js

    async def _publish(self, subject: str, body: bytes, headers: dict[str, str]) -> None:
        js = await self._js()
        await js.publish(subject, body, headers=headers, timeout=5)

    def publish(self, entry: InboxEntry) -> Future[None]:
        subject, body, headers = message_for(entry)
        future = asyncio.run_coroutine_threadsafe(self._publish(subject, body, headers), self.loop)

        def report(done: Future[None]) -> None:
            if done.exception() is not None:
                logger.warning(
                    "publishing inbox entry %s to NATS failed (%s); the sweeper will process it",
                    entry.pk,
                    done.exception(),
                )

        future.add_done_callback(report)
        return future

    def close(self) -> None:
        async def shut() -> None:
            # Publishes still waiting (e.g. for a server that is down) are given up: their
            # entries are committed and the sweeper processes them.
            for task in asyncio.all_tasks():
                coro = task.get_coro()
                if getattr(coro, "__qualname__", "") == "Publisher._publish":
                    task.cancel()
            if self.nc is not None and not self.nc.is_closed:
                await self.nc.drain()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shut(), self.loop).result(timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)


_publisher: Publisher | None = None
_publisher_lock = threading.Lock()


def publisher() -> Publisher:
    global _publisher
    with _publisher_lock:
        # A new one after a fork (gunicorn workers) or when the server's address changed.
        if _publisher is None or _publisher.pid != os.getpid() or _publisher.url != url():
            if _publisher is not None and _publisher.pid == os.getpid():
                _publisher.close()
            _publisher = Publisher()
        return _publisher


def dispatch(entry: InboxEntry) -> None:
    """The ``nats`` dispatcher (called on commit of the inbox row)."""
    try:
        publisher().publish(entry)
    except Exception:
        logger.exception("cannot publish inbox entry %s; the sweeper will process it", entry.pk)


transport.register("nats", dispatch)


def work_of(payloads: list[bytes]) -> dict[int, int]:
    """organisation -> the newest inbox id named by these messages (in first-seen order)."""
    work: dict[int, int] = {}
    for raw in payloads:
        try:
            data = json.loads(raw)
            org, entry_id = int(data["org"]), int(data["inbox_id"])
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring a malformed message on the events stream: %r", raw[:200])
            continue
        work[org] = max(entry_id, work.get(org, 0))
    return work


def process_work(worker_id: str, work: dict[int, int]) -> int:
    """Process each organisation's pending entries up to the named id, oldest first."""
    total = 0
    close_old_connections()
    for org, up_to in work.items():
        for _ in range(10_000):  # bounded: each round consumes entries or stops
            done = inbox.process_pending(worker_id, 500, organization_id=org, up_to_id=up_to)
            total += done
            if not done:
                break
    return total


class Consumer:
    """Pull batches from the shared durable consumer, process, acknowledge after commit."""

    def __init__(self, worker_id: str, on_batch: Callable[[int], None] | None = None) -> None:
        self.worker_id = worker_id
        self.on_batch = on_batch
        self.stopped = threading.Event()
        self.processed = 0
        # The ORM is synchronous: one thread keeps this consumer's database connection.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opsdesk-nats-db")

    async def subscribe(self) -> tuple[Any, Any]:
        import nats
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        nc = await nats.connect(url(), connect_timeout=2, max_reconnect_attempts=-1)
        js = nc.jetstream()
        await ensure_stream(js)
        sub = await js.pull_subscribe(
            f"{subject_prefix()}.>",
            durable=DURABLE,
            stream=stream_name(),
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=ack_wait(),
                max_ack_pending=20_000,
                max_deliver=-1,
            ),
        )
        return nc, sub

    async def run(self) -> None:
        from nats.errors import TimeoutError as NatsTimeout

        loop = asyncio.get_running_loop()
        nc = sub = None
        while not self.stopped.is_set():
            try:
                if sub is None:
                    nc, sub = await self.subscribe()
                try:
                    msgs = await sub.fetch(FETCH, timeout=1.0)
                except (TimeoutError, NatsTimeout):
                    continue
                work = work_of([m.data for m in msgs])
                done = await loop.run_in_executor(self.executor, process_work, self.worker_id, work)
                # Acknowledge only now: the entries are committed (or were already done).
                for m in msgs:
                    await m.ack()
                self.processed += done
                if done and self.on_batch is not None:
                    self.on_batch(done)
            except Exception:
                logger.exception("NATS consumer round failed; reconnecting")
                if nc is not None:
                    with contextlib.suppress(Exception):
                        await nc.close()
                nc = sub = None
                await asyncio.sleep(1.0)
        if nc is not None:
            # Closed, not drained: every fetched message was processed and acknowledged in
            # its round, and draining waited for the pull subscription's timeout (30 s).
            with contextlib.suppress(Exception):
                await nc.close()
        self.executor.submit(close_old_connections).result()
        self.executor.shutdown(wait=True)

    def stop(self) -> None:
        self.stopped.set()


class ConsumerThread(threading.Thread):
    """`Consumer` on its own asyncio loop, for `opsdesk worker`."""

    def __init__(self, worker_id: str, on_batch: Callable[[int], None] | None = None) -> None:
        super().__init__(name="opsdesk-events-nats", daemon=True)
        self.consumer = Consumer(worker_id, on_batch)

    def run(self) -> None:
        asyncio.run(self.consumer.run())

    def stop(self) -> None:
        self.consumer.stop()


async def stream_status() -> dict[str, Any]:
    """Messages in the stream and the workers' consumer (for `opsdesk events status`)."""
    import nats

    nc = await nats.connect(url(), connect_timeout=2, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream_name())
        out: dict[str, Any] = {
            "stream": stream_name(),
            "messages": info.state.messages,
            "subjects": f"{subject_prefix()}.>",
        }
        try:
            cinfo = await js.consumer_info(stream_name(), DURABLE)
            out["pending"] = cinfo.num_pending
            out["unacknowledged"] = cinfo.num_ack_pending
            out["redelivered"] = cinfo.num_redelivered
        except Exception:
            out["consumer"] = "none yet"
        return out
    finally:
        await nc.close()


async def delete_stream(name: str | None = None) -> None:
    """Drop the stream (tests use a stream of their own)."""
    import nats
    from nats.js.errors import NotFoundError

    nc = await nats.connect(url(), connect_timeout=2, max_reconnect_attempts=0)
    try:
        with contextlib.suppress(NotFoundError):
            await nc.jetstream().delete_stream(name or stream_name())
    finally:
        await nc.close()


def close_publisher() -> None:
    """Close this process's publisher (tests; a process that is going away)."""
    global _publisher
    with _publisher_lock:
        if _publisher is not None and _publisher.pid == os.getpid():
            _publisher.close()
        _publisher = None
