"""What every real-browser test shares: Debian's Chromium driven by Playwright's sync API.

Never `playwright install` (it cannot download here): we launch `/usr/bin/chromium` with
`executable_path`. Locally the tests skip when Chromium is missing; with CI=true they fail.
The `chromium` fixture is registered in the root conftest.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API runs an event loop in the test thread; the test's ORM calls are still
# synchronous and safe.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[3]
SHOTS = ROOT / "test-artifacts" / "screenshots"
DOC_IMG = ROOT / "docs" / "img"


@pytest.fixture
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
        pytest.skip(f"{CHROMIUM} is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
            # While Playwright's loop runs, Django keys connections by that context: close
            # the ones the test opened there, or PostgreSQL cannot drop the test database.
            from django.db import connections

            connections.close_all()


def sign_in(page: Any, base_url: str, user: Any) -> None:
    """Sign ``user`` in through the login form (cookies of an earlier user cleared first)."""
    from opsdesk.core.testing.factories import PASSWORD

    page.context.clear_cookies()
    page.goto(f"{base_url}/login/", timeout=60_000)
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def shoot(page: Any, name: str, doc_name: str | None = None) -> None:
    """A full-page screenshot in test-artifacts/; with UPDATE_DOC_SCREENSHOTS=1 also the first
    screenful as docs/img/<doc_name> for the README."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    if doc_name and os.environ.get("UPDATE_DOC_SCREENSHOTS") == "1":
        DOC_IMG.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOC_IMG / doc_name))


def demo_cmdb() -> Any:
    """The cast, the demo teams and the demo topology (with its assets) in organisation A."""
    from opsdesk.accounts import actions
    from opsdesk.cmdb.demo import load_cmdb_demo
    from opsdesk.core.testing.cast import make_cast

    cast = make_cast()
    for name in ("Platform", "Network", "Database", "Application Support", "Service Desk"):
        actions.create_team(acting_user=cast.admin, organization=cast.org_a, name=name)
    load_cmdb_demo(organization=cast.org_a, acting_user=cast.admin)
    return cast
