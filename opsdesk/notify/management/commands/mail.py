"""`opsdesk mail listen --host 127.0.0.1 --port 2525` and `opsdesk mail ingest FILE.eml`."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from opsdesk.notify.inbound import receive


class Command(BaseCommand):
    help = "Mail in: run the SMTP listener, or ingest one message from a file or stdin."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True)
        listen = sub.add_parser("listen", help="Receive mail over SMTP (runs until stopped).")
        listen.add_argument("--host", default="127.0.0.1")
        listen.add_argument("--port", type=int, default=2525)
        ingest = sub.add_parser("ingest", help="Store and process one message (RFC 5322).")
        ingest.add_argument("file", help="A .eml file, or - for stdin.")
        ingest.add_argument(
            "--to",
            action="append",
            default=[],
            help="Envelope recipient (repeatable); by default the To/Cc headers are used.",
        )
        ingest.add_argument("--from", dest="mail_from", default="", help="Envelope sender.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["verb"] == "listen":
            self.listen(options["host"], options["port"])
        else:
            self.ingest(options)

    def ingest(self, options: dict[str, Any]) -> None:
        name = options["file"]
        if name == "-":
            raw = sys.stdin.buffer.read()
        else:
            path = Path(name)
            if not path.is_file():
                raise CommandError(f"No such file: {path}")
            raw = path.read_bytes()
        mail = receive(raw, mail_from=options["mail_from"], rcpt_to=options["to"])
        line = f"Inbound mail #{mail.pk}: {mail.status}"
        if mail.incident_id:
            verb = "created" if mail.created_incident else "commented on"
            line += f" ({verb} {mail.incident.number})"
        if mail.reason:
            line += f" - {mail.reason}"
        self.stdout.write(line)

    def listen(self, host: str, port: int) -> None:
        from opsdesk.notify.listener import start_listener

        try:
            controller = start_listener(host, port)
        except OSError as exc:
            raise CommandError(f"Cannot listen on {host}:{port}: {exc}") from exc
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write(f"OpsDesk mail listener on {host}:{port} (Ctrl+C to stop)")
        try:
            stop.wait()
        finally:
            controller.stop()
            self.stdout.write("Mail listener stopped.")
