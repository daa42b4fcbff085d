"""Demo rows of notifications: the service-desk mail address of each demo organisation
(``servicedesk@<domain>``, so mail in can be tried with `opsdesk mail listen`) and a
disabled example Slack webhook. Idempotent; called as ``seed_demo(organization, people)``
by the service-desk demo."""

from __future__ import annotations

from typing import Any

from opsdesk.accounts.models import Team
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Role
from opsdesk.notify import actions
from opsdesk.notify.models import ChatWebhook
from opsdesk.servicedesk.models import ServiceDeskSettings

EXAMPLE_WEBHOOK = "Slack #service-desk (example)"
#: Not a real webhook: the example stays switched off until an admin pastes a real URL.
EXAMPLE_URL = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"


def _domain(admin: Any) -> str:
    email = getattr(admin, "email", "")
    return email.rsplit("@", 1)[1] if "@" in email else "opsdesk.example"


def seed_demo(organization: Organization, people: dict[str, Any] | None = None) -> dict[str, int]:
    """Set the organisation's service-desk address and add the example webhook (once)."""
    from opsdesk.servicedesk.config_actions import update_settings

    people = people or {}
    admin = people.get(Role.ADMIN)
    if admin is None:
        return {"address": 0, "webhooks": 0}
    done = {"address": 0, "webhooks": 0}
    desk = ServiceDeskSettings.for_org(organization.pk)
    if not desk.email_address:
        address = f"servicedesk@{_domain(admin)}"
        taken = ServiceDeskSettings.objects.filter(email_address__iexact=address).exists()
        if not taken:
            update_settings(acting_user=admin, organization=organization, email_address=address)
            done["address"] = 1
    if not ChatWebhook.objects.filter(organization=organization, name=EXAMPLE_WEBHOOK).exists():
        team = Team.objects.filter(organization=organization, name="Service Desk").first()
        actions.create_webhook(
            acting_user=admin,
            organization=organization,
            name=EXAMPLE_WEBHOOK,
            kind="slack",
            url=EXAMPLE_URL,
            events=["created", "assigned", "resolved"],
            team=team,
            is_active=False,
        )
        done["webhooks"] = 1
    return done
