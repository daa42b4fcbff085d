"""`opsdesk sla recompute [--org SLUG] [--all|--open]` and `opsdesk sla sweep [--org SLUG]`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from opsdesk.core.models import Organization


class Command(BaseCommand):
    help = "Service levels: replay clocks from ticket history; record due warnings and breaches."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True)
        rec = sub.add_parser(
            "recompute", help="Replay every clock from ticket history (with progress)."
        )
        rec.add_argument("--org", default=None, help="Organisation slug (default: every one).")
        scope = rec.add_mutually_exclusive_group()
        scope.add_argument(
            "--open", dest="scope", action="store_const", const="open", help="Open tickets only."
        )
        scope.add_argument(
            "--all", dest="scope", action="store_const", const="all", help="Every ticket."
        )
        rec.set_defaults(scope="open")
        swp = sub.add_parser("sweep", help="Record the warnings and breaches due now.")
        swp.add_argument("--org", default=None, help="Organisation slug (default: every one).")

    def _orgs(self, slug: str | None) -> list[Organization]:
        if slug is None:
            return list(Organization.objects.order_by("slug"))
        org = Organization.objects.filter(slug=slug).first()
        if org is None:
            raise CommandError(f"No organisation with slug {slug!r}.")
        return [org]

    def handle(self, *args: Any, **options: Any) -> None:
        if options["verb"] == "sweep":
            self.sweep(options)
        else:
            self.recompute(options)

    def sweep(self, options: dict[str, Any]) -> None:
        from opsdesk.sla.sweep import sweep

        orgs = self._orgs(options["org"]) if options["org"] else [None]
        for org in orgs:
            result = sweep(organization_id=org.pk if org else None)
            self.stdout.write(
                f"{org.slug if org else 'all organisations'}: {result.clocks} clock(s) due on "
                f"{result.tickets} ticket(s); recorded {result.warnings} warning(s), "
                f"{result.breaches} breach(es); {result.escalations} escalation(s) performed"
                + (f"; {result.failed} ticket(s) failed (see the log)" if result.failed else "")
            )

    def recompute(self, options: dict[str, Any]) -> None:
        from opsdesk.sla.sweep import recompute

        scope = options["scope"]
        for org in self._orgs(options["org"]):
            bar = tqdm(total=0, unit="ticket", desc=org.slug, file=self.stderr._out)

            def progress(done: int, total: int, bar: Any = bar) -> None:
                if bar.total != total:
                    bar.total = total
                bar.n = done
                bar.refresh()

            log = recompute(
                organization_id=org.pk,
                scope=scope,
                reason=f"opsdesk sla recompute --{scope}",
                progress=progress,
            )
            bar.close()
            self.stdout.write(
                f"{org.slug}: {log.tickets} ticket(s), {log.clocks} clock(s) recomputed; "
                f"{log.changed} due time(s) moved."
            )
