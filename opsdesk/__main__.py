"""The `opsdesk` command: Django's management commands plus demo, serve, worker and token."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsdesk.config.settings")
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["demo"]:
        # The demo is plain HTTP on loopback: cookies cannot be Secure-only there.
        os.environ.setdefault("SECURE_COOKIES", "false")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["opsdesk", *args])


if __name__ == "__main__":
    main()
