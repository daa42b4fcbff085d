"""`opsdesk demo`: migrate, load demo data, start a worker and the live event stream, and serve
on http://127.0.0.1:8000."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from opsdesk.core.management.commands.serve import run_gunicorn


class Command(BaseCommand):
    help = "Run the demo: SQLite under var/, demo data, a background worker and the web UI and API."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default="127.0.0.1:8000")
        parser.add_argument(
            "--no-serve", action="store_true", help="Prepare everything, then exit."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        call_command("load_demo")
        if options["no_serve"]:
            return
        worker = subprocess.Popen(
            [sys.executable, "-m", "opsdesk", "worker"], env=os.environ.copy()
        )
        # Live monitoring traffic: a cascade every few minutes for the alert-group pages.
        stream = subprocess.Popen(
            [sys.executable, "-m", "opsdesk", "event_stream", "--every", "300"],
            env=os.environ.copy(),
        )
        url = f"http://{options['bind']}"
        self.stdout.write(
            f"\nOpsDesk demo on {url}  (API docs: {url}/api/v1/docs). Ctrl-C stops it.\n"
        )
        try:
            run_gunicorn(options["bind"], workers=1, threads=8, timeout=60, access_log=False)
        finally:
            for child in (stream, worker):
                child.terminate()
                child.wait(timeout=10)
