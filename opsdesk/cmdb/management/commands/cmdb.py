"""`opsdesk cmdb import FILE --format FMT --organization SLUG` and `opsdesk cmdb stale`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from opsdesk.accounts.models import User
from opsdesk.cmdb.choices import ImportFormat, ImportStatus
from opsdesk.cmdb.imports import run_import, start_import
from opsdesk.cmdb.reconcile import stale_cis
from opsdesk.core.errors import FieldError, PermissionDenied
from opsdesk.core.models import Organization


class Command(BaseCommand):
    help = "CMDB tools: import a discovery file, list stale CIs."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True)
        imp = sub.add_parser("import", help="Import a discovery file (runs here, with progress).")
        imp.add_argument("file")
        imp.add_argument("--format", required=True, choices=ImportFormat.values)
        imp.add_argument("--organization", required=True, help="Organisation slug.")
        imp.add_argument("--source", default="", help="Discovery source name (default: format).")
        imp.add_argument(
            "--partial", action="store_true", help="Apply valid rows, report the rest."
        )
        imp.add_argument("--dry-run", action="store_true", help="Validate and preview only.")
        imp.add_argument("--as", dest="as_user", default=None, help="Acting user's email.")
        stale = sub.add_parser("stale", help="CIs not seen by discovery for N days.")
        stale.add_argument("--organization", required=True)
        stale.add_argument("--days", type=int, default=30)
        stale.add_argument("--source", default=None)

    def _org(self, slug: str) -> Organization:
        org = Organization.objects.filter(slug=slug).first()
        if org is None:
            raise CommandError(f"No organisation with slug {slug!r}.")
        return org

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
        if options["verb"] == "stale":
            self.stale(options)
        else:
            self.import_file(options)

    def stale(self, options: dict[str, Any]) -> None:
        if options["days"] < 0:
            raise CommandError("--days must not be negative.")
        org = self._org(options["organization"])
        rows = stale_cis(org, options["days"], options["source"])
        count = 0
        for ci in rows:
            seen = ci.last_seen.isoformat() if ci.last_seen else "never"
            self.stdout.write(f"{ci.pk}\t{ci.ci_class.key}\t{ci.name}\tlast seen {seen}")
            count += 1
        self.stdout.write(f"{count} stale CI(s) not seen for {options['days']} days.")

    def import_file(self, options: dict[str, Any]) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        org = self._org(options["organization"])
        user = self._user(options["as_user"])
        try:
            job = start_import(
                acting_user=user,
                organization=org,
                format=options["format"],
                source=options["source"] or options["format"],
                filename=path.name,
                payload=path.read_bytes(),
                partial=options["partial"],
                dry_run=options["dry_run"],
                enqueue=False,
            )
        except FieldError as exc:
            raise CommandError("; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from exc
        except PermissionDenied as exc:
            raise CommandError(exc.detail) from exc
        bar = tqdm(total=0, unit="CI", desc=f"{job.number} {path.name}", file=self.stderr._out)

        def progress(done: int, total: int) -> None:
            if bar.total != total:
                bar.total = total
            bar.n = done
            bar.refresh()

        job = run_import(job.pk, progress=progress)
        bar.n = bar.total or 0
        bar.close()
        self.stdout.write(
            f"{job.number}: {job.status} — created {job.created}, updated {job.updated}, "
            f"unchanged {job.unchanged}, failed {job.failed}, "
            f"relationships created {job.relationships_created}"
            + (" (dry run: nothing changed)" if job.dry_run else "")
        )
        for row in job.report:
            self.stdout.write(f"  row {row['row']}: {row['field']}: {row['message']}")
        if job.dry_run:
            for row in job.preview:
                changed = ", ".join(row["changed"])
                self.stdout.write(
                    f"  preview row {row['row']}: {row['action']} {row['name']} {changed}"
                )
        if job.status != ImportStatus.SUCCEEDED:
            raise CommandError(
                "The import failed; nothing was changed."
                if not job.partial
                else "The import failed."
            )
