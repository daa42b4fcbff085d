"""Fixtures shared by every test."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("SECURE_COOKIES", "false")


@pytest.fixture
def cast(db):  # type: ignore[no-untyped-def]
    from opsdesk.core.testing.cast import make_cast

    return make_cast()


@pytest.fixture
def api_client():  # type: ignore[no-untyped-def]
    from django.test import Client

    return Client()


@pytest.fixture
def bearer():  # type: ignore[no-untyped-def]
    """bearer(user) -> headers dict for an API call as `user`."""
    from opsdesk.core.testing.factories import token_for

    def make(user):  # type: ignore[no-untyped-def]
        return {"HTTP_AUTHORIZATION": f"Bearer {token_for(user)}"}

    return make


# Real-browser tests: Debian's Chromium through Playwright (see opsdesk/core/testing/browser.py).
from opsdesk.core.testing.browser import chromium  # noqa: E402, F401
