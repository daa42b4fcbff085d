"""`opsdesk reseal`: seal every stored secret again with the first key of
``SECRETS_ENCRYPTION_KEYS`` (after putting a new key first), see `opsdesk.core.sealed`."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from opsdesk.core import sealed


class Command(BaseCommand):
    help = "Seal every stored secret again with the first key (key rotation)."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            written = sealed.reseal(list(apps.get_models()))
        self.stdout.write(f"{written} rows sealed with the first key.")
