"""`opsdesk events process|consume|retry|replay|export|status`: operate the event inbox.

opsdesk events process [--follow]        drain the inbox here (or keep draining)
opsdesk events consume                   the NATS JetStream consumer, in the foreground
opsdesk events retry [--id N ...]        put failed entries back to pending
opsdesk events replay FILE --speed N --org SLUG [--integration NAME] [--process]
opsdesk events export --org SLUG [--since ISO] [--until ISO] [--source S] [-o FILE]
opsdesk events status [--json]           inbox counts, oldest pending, the NATS stream
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count, Min, Sum
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from opsdesk.core.errors import FieldError
from opsdesk.core.models import Organization
from opsdesk.events import inbox, replay, transport
from opsdesk.events.choices import InboxState, Source
from opsdesk.events.models import InboxEntry


def _when(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise CommandError(f"--{name}: not an ISO 8601 time: {value!r}.")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


class Command(BaseCommand):
    help = "Operate the event inbox: process, consume (NATS), retry, replay, export, status."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True)
        process = sub.add_parser("process", help="Process pending inbox entries here.")
        process.add_argument("--follow", action="store_true", help="Keep going until Ctrl-C.")
        process.add_argument("--batch", type=int, default=500)
        sub.add_parser("consume", help="Run the NATS JetStream consumer in the foreground.")
        retry = sub.add_parser("retry", help="Put failed entries back to pending.")
        retry.add_argument("--id", type=int, action="append", dest="ids", default=None)
        rep = sub.add_parser("replay", help="Replay a recorded stream (JSON lines).")
        rep.add_argument("file")
        rep.add_argument("--speed", type=float, default=1.0, help="0 = as fast as possible.")
        rep.add_argument("--org", required=True, help="Organisation slug.")
        rep.add_argument("--integration", default=None, help="Integration name.")
        rep.add_argument(
            "--process", action="store_true", help="Also process the inbox here at the end."
        )
        exp = sub.add_parser("export", help="Write inbox entries as a replayable recording.")
        exp.add_argument("--org", required=True)
        exp.add_argument("--since", default=None)
        exp.add_argument("--until", default=None)
        exp.add_argument("--source", default=None, choices=Source.values)
        exp.add_argument("-o", "--output", default="-")
        status = sub.add_parser("status", help="Inbox counts and the transport's state.")
        status.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"do_{options['verb']}")(options)
        except FieldError as exc:
            raise CommandError("; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from None

    @staticmethod
    def _worker_id() -> str:
        return f"{socket.gethostname()}:{os.getpid()}"

    def _org(self, slug: str) -> Organization:
        org = Organization.objects.filter(slug=slug).first()
        if org is None:
            raise CommandError(f"--org: no organisation with slug {slug!r}.")
        return org

    def _run_until_signal(self, threads: list[threading.Thread]) -> None:
        from opsdesk.events import worker

        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        try:
            while not done.is_set() and all(t.is_alive() for t in threads):
                done.wait(0.5)
        finally:
            worker.stop(threads)

    def do_process(self, options: dict[str, Any]) -> None:
        if options["follow"]:
            from opsdesk.events import worker

            loop = worker.EventLoop(self._worker_id(), batch=options["batch"])
            loop.start()
            self.stdout.write("Processing the event inbox until interrupted")
            self._run_until_signal([loop])
            self.stdout.write(f"{loop.processed} events processed")
            return
        done = inbox.drain(self._worker_id(), options["batch"])
        self.stdout.write(f"{done} events processed")

    def do_consume(self, options: dict[str, Any]) -> None:
        from opsdesk.events import transport_nats, worker

        consumer = transport_nats.ConsumerThread(self._worker_id())
        after = transport_nats.sweep_after()
        sweeper = worker.EventLoop(
            self._worker_id(), only_older_than=after, idle_max=max(0.5, after / 4)
        )
        consumer.start()
        sweeper.start()
        self.stdout.write(
            f"Consuming {transport_nats.stream_name()} at {transport_nats.url()}; "
            f"sweeping entries pending over {after:g} s"
        )
        self._run_until_signal([consumer, sweeper])
        self.stdout.write(f"{consumer.consumer.processed + sweeper.processed} events processed")

    def do_retry(self, options: dict[str, Any]) -> None:
        qs = InboxEntry.objects.filter(state=InboxState.FAILED)
        if options["ids"]:
            qs = qs.filter(pk__in=options["ids"])
            missing = set(options["ids"]) - set(qs.values_list("pk", flat=True))
            if missing:
                raise CommandError(f"--id: not failed entries: {sorted(missing)}.")
        ids = list(qs.values_list("pk", flat=True))
        InboxEntry.objects.filter(pk__in=ids).update(
            state=InboxState.PENDING, attempts=0, locked_by="", locked_until=None
        )
        for entry in InboxEntry.objects.filter(pk__in=ids):
            transport.dispatch(entry)
        self.stdout.write(f"{len(ids)} entries back to pending")

    def do_replay(self, options: dict[str, Any]) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"FILE: no such file: {path}.")
        org = self._org(options["org"])
        total = replay.count_lines(path)
        with (
            path.open(encoding="utf-8") as fh,
            tqdm(total=total, unit="req", desc="replay", file=sys.stderr, disable=None) as bar,
        ):
            result = replay.replay(
                replay.read(fh),
                organization=org,
                integration_name=options["integration"],
                speed=options["speed"],
                progress=bar.update,
            )
        for problem in result.rejected:
            self.stderr.write(f"rejected: {problem}")
        self.stdout.write(
            f"{result.requests} requests, {result.events} events into the inbox "
            f"({len(result.rejected)} rejected) from {result.records} lines"
        )
        if options["process"]:
            done = inbox.drain(self._worker_id())
            self.stdout.write(f"{done} events processed")

    def do_export(self, options: dict[str, Any]) -> None:
        org = self._org(options["org"])
        kwargs = {
            "organization": org,
            "since": _when(options["since"], "since"),
            "until": _when(options["until"], "until"),
            "source": options["source"],
        }
        if options["output"] == "-":
            written = replay.export(self.stdout, **kwargs)
        else:
            with open(options["output"], "w", encoding="utf-8") as out:
                written = replay.export(out, **kwargs)
        self.stderr.write(f"{written} inbox entries exported")

    def do_status(self, options: dict[str, Any]) -> None:
        rows = InboxEntry.objects.values("state").annotate(
            entries=Count("id"), events=Sum("event_count")
        )
        counts = {r["state"]: {"entries": r["entries"], "events": r["events"] or 0} for r in rows}
        oldest = InboxEntry.objects.filter(state=InboxState.PENDING).aggregate(
            at=Min("received_at")
        )["at"]
        status: dict[str, Any] = {
            "transport": transport.name(),
            "inbox": {s: counts.get(s, {"entries": 0, "events": 0}) for s in InboxState.values},
            "oldest_pending_seconds": round((timezone.now() - oldest).total_seconds(), 1)
            if oldest
            else None,
        }
        if transport.name() == "nats":
            from opsdesk.events import transport_nats

            try:
                status["nats"] = asyncio.run(transport_nats.stream_status())
            except Exception as exc:
                status["nats"] = {"error": f"{type(exc).__name__}: {exc}"}
        if options["json"]:
            self.stdout.write(json.dumps(status, indent=2))
            return
        self.stdout.write(f"transport: {status['transport']}")
        for state, c in status["inbox"].items():
            self.stdout.write(f"  {state:<8} {c['entries']:>8} entries {c['events']:>10} events")
        if status["oldest_pending_seconds"] is not None:
            self.stdout.write(f"  oldest pending: {status['oldest_pending_seconds']} s")
        if "nats" in status:
            self.stdout.write(f"nats: {json.dumps(status['nats'])}")
