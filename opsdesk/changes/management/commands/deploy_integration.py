"""`opsdesk deploy_integration create --organization SLUG --source github --name NAME
[--secret] [--service NAME]`: a deployment integration, its token (and secret) printed once.
`opsdesk deploy_integration list --organization SLUG` lists them (never the secrets)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from opsdesk.changes.choices import DeploymentSource
from opsdesk.changes.integration_actions import create_integration
from opsdesk.changes.models import DeploymentIntegration
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.errors import FieldError
from opsdesk.core.models import Organization


class Command(BaseCommand):
    help = "Create or list the CI/CD integrations that report deployments."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True)
        create = sub.add_parser("create", help="Create an integration; print its token once.")
        create.add_argument("--organization", required=True, help="The organisation's slug.")
        create.add_argument("--source", required=True, choices=DeploymentSource.values)
        create.add_argument("--name", required=True)
        create.add_argument("--secret", action="store_true", help="Also make a signing secret.")
        create.add_argument("--service", default="", help="Default service (exact name).")
        listing = sub.add_parser("list", help="List an organisation's integrations.")
        listing.add_argument("--organization", required=True)

    def _org(self, slug: str) -> Organization:
        org = Organization.objects.filter(slug=slug).first()
        if org is None:
            raise CommandError(f"No organisation with slug {slug!r}.")
        return org

    def handle(self, *args: Any, **options: Any) -> None:
        org = self._org(options["organization"])
        if options["verb"] == "list":
            for i in DeploymentIntegration.objects.filter(organization=org):
                state = "active" if i.is_active else "disabled"
                self.stdout.write(f"{i.pk}\t{i.name}\t{i.source}\t{i.token_prefix}…\t{state}")
            return
        service = None
        if options["service"]:
            service = ConfigurationItem.objects.filter(
                organization=org, name=options["service"]
            ).first()
            if service is None:
                raise CommandError(f"No CI called {options['service']!r} in {org.slug}.")
        try:
            integration, token, secret = create_integration(
                acting_user=None,
                organization=org,
                name=options["name"],
                source=options["source"],
                default_service=service,
                with_secret=options["secret"],
                system="command line",
            )
        except FieldError as exc:
            raise CommandError("; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from exc
        self.stderr.write(
            f"Integration {integration.name} ({integration.source}) in {org.slug}. Shown once:"
        )
        self.stdout.write(token)
        if secret:
            self.stderr.write("Signing secret, shown once:")
            self.stdout.write(secret)
