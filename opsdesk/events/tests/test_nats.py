"""The NATS JetStream transport against a real nats-server (one of the test's own)."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from django.test import override_settings

from opsdesk.events import inbox, transport_nats
from opsdesk.events.choices import InboxState
from opsdesk.events.models import Alert, InboxEntry
from opsdesk.events.tests.helpers import event, integration, post
from opsdesk.events.tests.transport_fixtures import nats_server, wait_for  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

ONE = {"title": "Disk full on db-07", "severity": "critical", "fingerprint": "nats-1"}


def stream_messages(url: str) -> int:
    async def count() -> int:
        import nats
        from nats.js.errors import NotFoundError

        nc = await nats.connect(url)
        try:
            info = await nc.jetstream().stream_info(transport_nats.stream_name())
            return info.state.messages
        except NotFoundError:  # not created yet: the publisher creates it on first use
            return -1
        finally:
            await nc.close()

    return asyncio.run(count())


def test_partitions_keep_an_organisation_on_one_subject():
    with override_settings(NATS_PARTITIONS=8):
        parts = {transport_nats.partition_of(org) for org in range(1, 200)}
        assert parts == set(range(8))
        assert transport_nats.partition_of(42) == transport_nats.partition_of(42)
    entry = InboxEntry(pk=7, organization_id=42)
    subject, body, headers = transport_nats.message_for(entry)
    assert subject == f"opsdesk.events.{transport_nats.partition_of(42)}"
    assert json.loads(body) == {
        "inbox_id": 7,
        "org": 42,
        "partition": transport_nats.partition_of(42),
    }
    assert headers == {"Nats-Msg-Id": "inbox-7"}


def test_intake_publishes_and_a_consumer_processes_once(cast, api_client, nats_server):  # noqa: F811
    _, token, _ = integration(cast.org_a)
    with override_settings(EVENTS_TRANSPORT="nats", NATS_URL=nats_server):
        ids = []
        for _ in range(3):
            resp = post(api_client, "generic", ONE, token)
            assert resp.status_code == 202
            ids.append(resp.json()["inbox_id"])
        assert set(InboxEntry.objects.values_list("transport", flat=True)) == {"nats"}
        wait_for(lambda: stream_messages(nats_server) == 3, 10, "three messages in the stream")
        done = threading.Event()
        consumer = transport_nats.ConsumerThread("t", on_batch=lambda n: done.set())
        consumer.start()
        try:
            wait_for(
                lambda: not InboxEntry.objects.filter(state=InboxState.PENDING).exists(),
                20,
                "the consumer to process the entries",
            )
            # Acknowledged after the commit: the work queue empties.
            wait_for(lambda: stream_messages(nats_server) == 0, 10, "the acknowledgements")
        finally:
            consumer.stop()
            consumer.join(10)
        # It stops within a fetch's timeout (it used to wait 30 s for a drain; a thread left
        # running touched the next tests' database).
        assert not consumer.is_alive()
    assert Alert.objects.get(organization=cast.org_a, fingerprint="nats-1").count == 3


def test_redelivery_of_a_done_entry_is_a_no_op(cast):
    entry = inbox.store(organization_id=cast.org_a.pk, source="generic", events=[event()])
    work = transport_nats.work_of(
        [json.dumps({"inbox_id": entry.pk, "org": cast.org_a.pk}).encode()]
    )
    assert work == {cast.org_a.pk: entry.pk}
    assert transport_nats.process_work("t", work) == 1
    assert transport_nats.process_work("t", work) == 0
    assert transport_nats.work_of([b"not json", b'{"org": 1}']) == {}


def test_a_lost_publish_is_swept_up(cast, api_client):
    """NATS is down at intake time: the request is still accepted, and the sweeper
    processes the entry once it has waited long enough."""
    from opsdesk.events.tests.transport_fixtures import free_port

    _, token, _ = integration(cast.org_a)
    dead = f"nats://127.0.0.1:{free_port()}"
    with override_settings(EVENTS_TRANSPORT="nats", NATS_URL=dead):
        resp = post(api_client, "generic", ONE, token)
        assert resp.status_code == 202
        transport_nats.close_publisher()
    entry = InboxEntry.objects.get(pk=resp.json()["inbox_id"])
    assert entry.state == InboxState.PENDING
    from opsdesk.events import worker

    sweeper = worker.EventLoop("t", only_older_than=0)
    assert sweeper.step() == 1
    entry.refresh_from_db()
    assert entry.state == InboxState.DONE
