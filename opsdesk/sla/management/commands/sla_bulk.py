"""`opsdesk sla_bulk recompute [--organization SLUG] [--workers N]`: every incident clock
recomputed from history and stored (see `opsdesk.sla.bulk`), with a progress bar."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from opsdesk.core.models import Organization
from opsdesk.sla.bulk import recompute_all


class Command(BaseCommand):
    help = "Recompute every service-level clock of every incident, fast (bulk path)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="what", required=True)
        recompute = sub.add_parser(
            "recompute",
            help="Replay every incident's history and store its clocks (after an import, a "
            "restore, or a change to many definitions).",
        )
        recompute.add_argument(
            "--organization", default=None, help="Organisation slug (default: all)."
        )
        recompute.add_argument(
            "--workers", type=int, default=2, help="Worker processes (PostgreSQL), default 2."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        org_id = None
        if options["organization"]:
            org = Organization.objects.filter(slug=options["organization"]).first()
            if org is None:
                raise CommandError(f"No organisation with slug {options['organization']!r}.")
            org_id = org.pk
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1.")
        bar: tqdm | None = None

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = tqdm(total=total, unit="piece", desc="recomputing", file=self.stderr._out)
            bar.update(done - bar.n)

        try:
            stats = recompute_all(org_id, workers=options["workers"], progress=progress)
        finally:
            if bar is not None:
                bar.close()
        self.stdout.write(
            f"{stats.tickets} tickets, {stats.clocks} clocks in {stats.wall_seconds:.1f} s "
            f"({stats.workers} worker(s)): created {stats.created}, updated {stats.updated}, "
            f"unchanged {stats.unchanged}, deleted {stats.deleted}; "
            f"{stats.fallback_tickets} ticket(s) computed per ticket."
        )
