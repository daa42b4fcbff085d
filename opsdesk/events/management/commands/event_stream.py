"""`opsdesk event_stream`: live monitoring traffic for the demo (started by `opsdesk demo`).

Every ``--every`` seconds a new cascade starts on one of the demo's story CIs (the core
banking database server, a Kubernetes node, a firewall, ...) and spreads to what depends on
it, with background noise; events are posted through the intake's store-and-dispatch path,
and the worker turns them into alert groups and incidents. Stops after ``--duration``
seconds (0 = until interrupted) or ``--scenarios`` cascades.
"""

from __future__ import annotations

import heapq
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from opsdesk.core.models import Organization
from opsdesk.events.demo import Stream


class Command(BaseCommand):
    help = "Stream simulated monitoring events for the demo organisations."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", action="append", help="Organisation slug (default: all).")
        parser.add_argument("--every", type=float, default=300.0, help="Seconds between cascades.")
        parser.add_argument("--duration", type=float, default=0.0, help="Stop after N seconds.")
        parser.add_argument("--scenarios", type=int, default=0, help="Stop after N cascades.")

    def handle(self, *args: Any, **options: Any) -> None:
        orgs = Organization.objects.filter(is_active=True).order_by("pk")
        if options["org"]:
            orgs = orgs.filter(slug__in=options["org"])
        streams = [s for s in (Stream(org) for org in orgs) if s.roots]
        if not streams:
            raise CommandError("No organisation with a demo CMDB to stream events for.")
        every = max(options["every"], 10.0)
        started = time.monotonic()
        queue: list[tuple[float, int, int, Any]] = []  # (due, tiebreak, stream index, events)
        counter = 0
        scenario = 0
        next_cascade = started
        posted = 0
        try:
            while True:
                now = time.monotonic()
                if options["duration"] and now - started >= options["duration"]:
                    break
                limit = options["scenarios"]
                if now >= next_cascade and (not limit or scenario < limit):
                    origin = timezone.now()
                    for index, stream in enumerate(streams):
                        for planned in stream.scenario(scenario, origin):
                            due = now + planned.offset
                            counter += 1
                            heapq.heappush(queue, (due, counter, index, planned.event))
                    scenario += 1
                    next_cascade = now + every
                    self.stdout.write(f"cascade {scenario} started ({len(queue)} events queued)")
                batch: dict[int, list[Any]] = {}
                while queue and queue[0][0] <= now:
                    _, _, index, event = heapq.heappop(queue)
                    event.received_at = timezone.now()
                    batch.setdefault(index, []).append(event)
                for index, events in batch.items():
                    streams[index].post(events)
                    posted += len(events)
                if limit and scenario >= limit and not queue:
                    break
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        self.stdout.write(f"posted {posted} events in {scenario} cascades")
