"""`opsdesk worker`: runs background tasks and schedules periodic jobs."""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections
from django_tasks_db.management.commands.db_worker import Worker

from opsdesk.core.periodic import schedule_due_jobs

logger = logging.getLogger("opsdesk.worker")


class Scheduler(threading.Thread):
    def __init__(self, worker_id: str, every: float) -> None:
        super().__init__(name="opsdesk-scheduler", daemon=True)
        self.worker_id = worker_id
        self.every = every
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                close_old_connections()
                schedule_due_jobs(self.worker_id)
            except Exception:
                logger.exception("periodic scheduling failed; retrying next round")
            finally:
                close_old_connections()
            self.stopped.wait(self.every)


class Command(BaseCommand):
    help = "Run background tasks (all queues) and schedule periodic jobs once per tick."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queues", default="*", help="Comma-separated queues, '*' for all.")
        parser.add_argument(
            "--interval", type=float, default=1.0, help="Seconds between polls when idle."
        )
        parser.add_argument("--batch", action="store_true", help="Run what is queued, then exit.")
        parser.add_argument(
            "--no-scheduler", action="store_true", help="Do not schedule periodic jobs."
        )
        parser.add_argument("--max-tasks", type=int, default=None)
        parser.add_argument(
            "--no-events",
            action="store_true",
            help="Do not process monitoring events (the event loop runs by default).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        worker_id = f"{socket.gethostname()}:{os.getpid()}"
        scheduler = None
        if not options["no_scheduler"]:
            every = min(5.0, float(settings.PERIODIC_TICK_SECONDS))
            if options["batch"]:
                schedule_due_jobs(worker_id)
            else:
                scheduler = Scheduler(worker_id, every)
                scheduler.start()
        event_threads: list[threading.Thread] = []
        if not options["no_events"] and not options["batch"]:
            from opsdesk.events import transport
            from opsdesk.events import worker as event_worker

            event_threads = event_worker.start(worker_id)
            self.stdout.write(f"Processing monitoring events ({transport.name()} transport)")
        elif not options["no_events"]:
            from opsdesk.events.inbox import drain

            drain(worker_id)
        self.stdout.write(f"OpsDesk worker {worker_id} on queues {options['queues']}")
        worker = Worker(
            queue_names=options["queues"].split(","),
            interval=options["interval"],
            batch=options["batch"],
            backend_name="default",
            startup_delay=not options["batch"],
            max_tasks=options["max_tasks"],
            worker_id=worker_id,
            excluded_queue_names=[],
        )
        worker.configure_signals()
        try:
            worker.run()
        finally:
            if scheduler is not None:
                scheduler.stopped.set()
            if event_threads:
                from opsdesk.events import worker as event_worker

                event_worker.stop(event_threads)
