"""`opsdesk serve`: the production web server (gunicorn; static files by whitenoise)."""

from __future__ import annotations

import os
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import connections


def run_gunicorn(bind: str, workers: int, threads: int, timeout: int, access_log: bool) -> None:
    from gunicorn.app.base import BaseApplication

    from opsdesk.config.wsgi import application

    class OpsDeskServer(BaseApplication):
        def load_config(self) -> None:
            options = {
                "bind": bind,
                "workers": workers,
                "threads": threads,
                "timeout": timeout,
                "worker_class": "gthread",
                "accesslog": "-" if access_log else None,
                "proc_name": "opsdesk",
                "forwarded_allow_ips": os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
            }
            for key, value in options.items():
                if value is not None:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            return application

    connections.close_all()  # never share a database connection with forked workers
    OpsDeskServer().run()


class Command(BaseCommand):
    help = "Serve OpsDesk with gunicorn. Static files are served by whitenoise from STATIC_ROOT."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=os.environ.get("OPSDESK_BIND", "127.0.0.1:8000"))
        parser.add_argument(
            "--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2"))
        )
        parser.add_argument("--threads", type=int, default=int(os.environ.get("WEB_THREADS", "4")))
        parser.add_argument("--timeout", type=int, default=60)
        parser.add_argument("--no-collectstatic", action="store_true")
        parser.add_argument("--migrate", action="store_true", help="Apply migrations first.")
        parser.add_argument("--access-log", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["migrate"]:
            call_command("migrate", interactive=False, verbosity=1)
        if not options["no_collectstatic"]:
            call_command("collectstatic", interactive=False, verbosity=0)
        self.stdout.write(f"OpsDesk listening on http://{options['bind']}")
        run_gunicorn(
            options["bind"],
            options["workers"],
            options["threads"],
            options["timeout"],
            options["access_log"],
        )
