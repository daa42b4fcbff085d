from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from opsdesk.core.demo import DEMO_PASSWORD, load_demo


class Command(BaseCommand):
    help = "Load the demo organisations, teams and people (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        logins = load_demo()
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for login in logins:
            self.stdout.write(f"  {login.email:<38} {login.role:<28} {login.organizations}")
