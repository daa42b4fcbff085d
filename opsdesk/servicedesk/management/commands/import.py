"""`opsdesk import servicenow-incidents FILE [--organization SLUG] [--limit N]`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from opsdesk.accounts.models import User
from opsdesk.core.errors import FieldError, PermissionDenied
from opsdesk.core.models import Organization
from opsdesk.servicedesk.importers.servicenow import ImportFileError, import_incidents


class Command(BaseCommand):
    help = "Import tickets from another service desk (runs here, with a progress bar)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="kind", required=True)
        snow = sub.add_parser(
            "servicenow-incidents",
            help="A ServiceNow incident export (.csv, or a .zip holding one): the event log "
            "with one row per update, or a plain incident list.",
        )
        snow.add_argument("file")
        snow.add_argument(
            "--organization",
            default=None,
            help="Organisation slug (may be left out when there is only one organisation).",
        )
        snow.add_argument("--limit", type=int, default=None, help="Read at most N rows.")
        snow.add_argument(
            "--time-zone",
            default="UTC",
            help="Time zone of the export's dates (the ServiceNow instance's), default UTC.",
        )
        snow.add_argument("--as", dest="as_user", default=None, help="Acting user's email.")

    def _org(self, slug: str | None) -> Organization:
        if slug:
            org = Organization.objects.filter(slug=slug).first()
            if org is None:
                raise CommandError(f"No organisation with slug {slug!r}.")
            return org
        orgs = list(Organization.objects.filter(is_active=True)[:2])
        if len(orgs) != 1:
            raise CommandError("Several organisations (or none): pass --organization SLUG.")
        return orgs[0]

    def _user(self, email: str | None) -> User:
        if email:
            user = User.objects.filter(email__iexact=email, is_active=True).first()
            if user is None:
                raise CommandError(f"No active user with email {email!r}.")
            return user
        user = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
        if user is None:
            raise CommandError("No platform administrator to act as; pass --as EMAIL.")
        return user

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        org = self._org(options["organization"])
        user = self._user(options["as_user"])
        bars: dict[str, tqdm] = {}
        out = self.stderr._out

        def progress(stage: str, done: int, total: int) -> None:
            bar = bars.get(stage)
            if bar is None:
                for other in bars.values():
                    other.close()
                label = {"read": "reading rows", "clocks": "computing SLA clocks"}.get(
                    stage, "writing incidents"
                )
                unit = "row" if stage == "read" else "incident"
                bar = bars[stage] = tqdm(total=total or None, unit=unit, desc=label, file=out)
            if total and bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

        try:
            result = import_incidents(
                acting_user=user,
                organization=org,
                path=path,
                limit=options["limit"],
                time_zone=options["time_zone"],
                progress=progress,
            )
        except ImportFileError as exc:
            raise CommandError(str(exc)) from exc
        except FieldError as exc:
            raise CommandError("; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from exc
        except PermissionDenied as exc:
            raise CommandError(exc.detail) from exc
        finally:
            for bar in bars.values():
                bar.close()
        self.stdout.write(
            f"{path.name} into {org.slug}: {result.rows} rows, {result.incidents} incidents — "
            f"created {result.created}, updated {result.updated}, unchanged {result.unchanged}; "
            f"{result.activities_created} timeline entries; "
            f"{result.requesters_created} requesters, {result.agents_created} agents, "
            f"{result.teams_created} teams, {result.categories_created} categories, "
            f"{result.cis_created} CIs created; {result.skipped_rows} rows skipped, "
            f"{result.problems} problems reported."
        )
        for row in result.report:
            self.stdout.write(f"  row {row['row']}: {row['field']}: {row['message']}")
        if result.problems > len(result.report):
            self.stdout.write(f"  ... and {result.problems - len(result.report)} more.")
