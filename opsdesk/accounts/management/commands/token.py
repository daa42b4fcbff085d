"""`opsdesk token create --user EMAIL`: a new API token, printed once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from opsdesk.accounts import actions
from opsdesk.accounts.models import ApiToken, User


class Command(BaseCommand):
    help = "Create, list or revoke API tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True)
        create = sub.add_parser("create", help="Create a token and print it once.")
        create.add_argument("--user", required=True, help="The owner's email.")
        create.add_argument("--name", default="cli")
        create.add_argument(
            "--days", type=int, default=None, help="Days until it expires (default 90)."
        )
        create.add_argument("--never-expires", action="store_true")
        listing = sub.add_parser("list", help="List a user's tokens (never the secrets).")
        listing.add_argument("--user", required=True)
        revoke = sub.add_parser("revoke", help="Revoke a token by id.")
        revoke.add_argument("id", type=int)

    def _user(self, email: str) -> User:
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No user with email {email!r}.")
        return user

    def handle(self, *args: Any, **options: Any) -> None:
        verb = options["verb"]
        if verb == "create":
            user = self._user(options["user"])
            expires = timezone.now() + timedelta(days=options["days"]) if options["days"] else None
            if options["days"] is not None and options["days"] <= 0:
                raise CommandError("--days must be positive.")
            token, raw = actions.create_api_token(
                acting_user=user,
                name=options["name"],
                expires_at=expires,
                never_expires=options["never_expires"],
            )
            expiry = token.expires_at.isoformat() if token.expires_at else "never"
            self.stderr.write(
                f"Token {token.key_prefix}… for {user.email}, expires {expiry}. Shown once:"
            )
            self.stdout.write(raw)
        elif verb == "list":
            user = self._user(options["user"])
            for token in ApiToken.objects.filter(user=user):
                state = (
                    "revoked" if token.revoked_at else ("active" if token.is_usable else "expired")
                )
                used = token.last_used_at.isoformat() if token.last_used_at else "never"
                self.stdout.write(
                    f"{token.pk}\t{token.key_prefix}…\t{token.name}\t{state}\tlast used {used}"
                )
        elif verb == "revoke":
            token = ApiToken.objects.filter(pk=options["id"]).select_related("user").first()
            if token is None:
                raise CommandError(f"No token {options['id']}.")
            actions.revoke_api_token(acting_user=token.user, token=token)
            self.stdout.write(f"Revoked token {token.pk} ({token.key_prefix}…).")
