"""The event demo: weeks of cascades and noise through the real pipeline, groups resolved as
time passed, root causes and the changes behind them named, one cascade still open with its
incident; loading twice adds nothing; the live stream's cascades bind to the demo CMDB."""

from __future__ import annotations

import pytest

from opsdesk.accounts.models import Team
from opsdesk.changes.tests.factories import template
from opsdesk.cmdb.demo import load_cmdb_demo
from opsdesk.core.demo import TEAMS
from opsdesk.events import inbox
from opsdesk.events.choices import GroupState, InboxState
from opsdesk.events.demo import Stream, seed_demo
from opsdesk.events.models import Alert, AlertGroup, EventIntegration, InboxEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(cast):  # type: ignore[no-untyped-def]
    for name, description in TEAMS:
        Team.objects.create(
            organization=cast.org_a,
            name=name,
            slug=name.lower().replace(" ", "-"),
            description=description,
        )
    load_cmdb_demo(organization=cast.org_a, acting_user=cast.admin)
    template(cast, name="Patch and reboot a server")
    return cast.org_a


def test_the_demo_history_tells_the_cascade_story(org):
    result = seed_demo(org, {})
    assert result["events"] > 200
    assert not InboxEntry.objects.filter(organization=org).exclude(state=InboxState.DONE).exists()
    groups = AlertGroup.objects.filter(organization=org)
    assert groups.filter(state=GroupState.RESOLVED).count() >= 10
    # Every cascade on the core banking database server is one group whose best candidate is
    # that server, with an incident.
    cascades = [g for g in groups if g.title.startswith("Host ") and "dbs-07" in g.title]
    assert len(cascades) >= 2
    for group in cascades:
        assert group.alert_count >= 5
        assert group.root_causes[0]["ci"].endswith("dbs-07")
        assert group.incident is not None
    # The live one is still open, and the change implemented on the server before it is named.
    live = max(cascades, key=lambda g: g.opened_at)
    assert live.state == GroupState.OPEN
    assert live.cause_change is not None
    assert live.cause_change.actual_start < live.onset_at
    assert any("dbs-07" in ci.name for ci in live.cause_change.cis.all())
    # Noise stays small groups; warnings open no incident.
    warnings = groups.filter(severity="warning")
    assert warnings.exists() and not warnings.filter(incident__isnull=False).exists()
    # Every demo event found its CI.
    assert not Alert.objects.filter(organization=org, ci__isnull=True).exists()
    assert EventIntegration.objects.filter(organization=org).count() == 5
    # Twice changes nothing.
    before = AlertGroup.objects.count()
    assert seed_demo(org, {}) == {}
    assert AlertGroup.objects.count() == before


def test_the_live_stream_opens_a_group_on_its_root(org):
    stream = Stream(org, seed=3)
    from django.utils import timezone

    events = [p.event for p in stream.scenario(0, timezone.now()) if p.offset < 200]
    stream.post(events)
    inbox.drain("test")
    group = AlertGroup.objects.filter(organization=org, title__contains="dbs-07").get()
    assert group.root_causes[0]["ci"].endswith("dbs-07")
    assert group.incident is not None
