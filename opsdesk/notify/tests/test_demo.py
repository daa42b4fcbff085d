"""The notification demo rows."""

from __future__ import annotations

import pytest

from opsdesk.core.permissions import Role
from opsdesk.notify.demo import EXAMPLE_WEBHOOK, seed_demo
from opsdesk.notify.models import ChatWebhook
from opsdesk.servicedesk.models import ServiceDeskSettings

pytestmark = pytest.mark.django_db


def test_seed_demo_sets_the_address_and_an_inactive_webhook_once(cast):
    people = {Role.ADMIN: cast.admin, Role.AGENT: cast.agent}
    assert seed_demo(cast.org_a, people) == {"address": 1, "webhooks": 1}
    assert seed_demo(cast.org_a, people) == {"address": 0, "webhooks": 0}
    assert ServiceDeskSettings.for_org(cast.org_a.pk).email_address == "servicedesk@a.test"
    hook = ChatWebhook.objects.get(organization=cast.org_a, name=EXAMPLE_WEBHOOK)
    assert not hook.is_active
    assert seed_demo(cast.org_b, {Role.ADMIN: cast.admin_b})["address"] == 1
    assert ServiceDeskSettings.for_org(cast.org_b.pk).email_address == "servicedesk@b.test"
