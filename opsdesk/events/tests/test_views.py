"""The event pages with the Django test client: alert groups (list, live partial, page,
graph JSON, merge / split / resolve), alerts with the unbound tab, silences, integrations and
correlation settings; every page in the current organisation only (404 for other
organisations' objects) and permission-checked."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from opsdesk.changes.tests.factories import topology
from opsdesk.core.middleware import SESSION_ORG_KEY
from opsdesk.events.models import (
    Alert,
    AlertEvent,
    AlertGroup,
    CorrelationDecision,
    CorrelationSettings,
    EventIntegration,
    GroupFeedback,
    Silence,
)
from opsdesk.events.tests.helpers import integration

pytestmark = pytest.mark.django_db
_seq = itertools.count(1)


def login(client: Any, user: Any) -> None:
    client.force_login(user)
    session = client.session
    session[SESSION_ORG_KEY] = user.memberships.first().organization_id
    session.save()


def make_group(org: Any, title: str, service: Any = None, **fields: Any) -> AlertGroup:
    now = timezone.now()
    fields.setdefault("onset_at", now - timedelta(minutes=5))
    fields.setdefault("last_event_at", now - timedelta(minutes=1))
    fields.setdefault("severity", "major")
    return AlertGroup.objects.create(organization=org, title=title, service=service, **fields)


def make_alert(
    org: Any, group: AlertGroup | None, title: str, ci: Any = None, **fields: Any
) -> Alert:
    at = fields.pop("at", timezone.now() - timedelta(minutes=4))
    alert = Alert.objects.create(
        organization=org,
        source="generic",
        fingerprint=f"fp-{next(_seq)}",
        status=fields.pop("status", "firing"),
        severity=fields.pop("severity", "major"),
        title=title,
        starts_at=at,
        first_seen=at,
        last_seen=at,
        ci=ci,
        group=group,
        **fields,
    )
    AlertEvent.objects.create(
        organization=org,
        alert=alert,
        group=group,
        at=at,
        status=alert.status,
        severity=alert.severity,
        kind="fired",
    )
    if group is not None:
        CorrelationDecision.objects.create(
            organization=org,
            group=group,
            alert=alert,
            method="topology",
            score=0.9,
            reason=f"{ci.name if ci else 'it'} is 1 hop from the first alert's CI",
        )
    return alert


@pytest.fixture
def scene(cast):  # type: ignore[no-untyped-def]
    cis = topology(cast.org_a)
    group = make_group(
        cast.org_a,
        "bank-db down",
        service=cis["banking"],
        root_causes=[
            {
                "ci_id": cis["db_srv"].pk,
                "ci": "db-srv-01",
                "ci_class": "Server",
                "score": 0.92,
                "evidence": ["db-srv-01 alerted 40 s before its 2 dependents"],
                "change_id": None,
                "change": "",
            },
            {"ci_id": cis["db"].pk, "ci": "bank-db", "score": 0.5, "evidence": []},
        ],
        alert_count=2,
        event_count=3,
        firing_count=2,
    )
    db_alert = make_alert(
        cast.org_a,
        group,
        "Disk full on db-srv-01",
        ci=cis["db_srv"],
        labels={"alertname": "DiskFull", "host.name": "db-srv-01"},
    )
    app_alert = make_alert(cast.org_a, group, "bank-app 5xx rate high", ci=cis["app"])
    other = make_group(cast.org_a, "mail queue growing", service=cis["email"], severity="minor")
    make_alert(cast.org_a, other, "Mail queue over 1000", ci=cis["mail_srv"])
    done = make_group(cast.org_a, "old outage", state="resolved", resolved_at=timezone.now())
    unbound = make_alert(
        cast.org_a, None, "Printer jammed on floor 3", resource={"host.name": "printer-3f"}
    )
    b_cis = topology(cast.org_b, prefix="b-")
    b_group = make_group(cast.org_b, "B outage", service=b_cis["banking"])
    b_alert = make_alert(cast.org_b, b_group, "B disk", ci=b_cis["db_srv"])
    return {
        "cast": cast,
        "cis": cis,
        "group": group,
        "other": other,
        "done": done,
        "db_alert": db_alert,
        "app_alert": app_alert,
        "unbound": unbound,
        "b_group": b_group,
        "b_alert": b_alert,
    }


# --- groups ---------------------------------------------------------------------------------


def test_group_list_tabs_filters_and_the_live_partial(client, scene):
    cast, group, other, done = scene["cast"], scene["group"], scene["other"], scene["done"]
    login(client, cast.agent)
    html = client.get("/events/").content.decode()
    assert group.number in html and other.number in html and done.number not in html
    assert "db-srv-01" in html  # the suspected cause column
    assert 'hx-trigger="every 5s' in html and "data-live" in html
    assert "B outage" not in html
    resolved = client.get("/events/", {"tab": "resolved"}).content.decode()
    assert done.number in resolved and group.number not in resolved
    minor = client.get("/events/", {"severity": "minor"}).content.decode()
    assert other.number in minor and group.number not in minor
    by_service = client.get("/events/", {"service": scene["cis"]["banking"].pk}).content.decode()
    assert group.number in by_service and other.number not in by_service
    by_text = client.get("/events/", {"q": "mail"}).content.decode()
    assert other.number in by_text and group.number not in by_text
    # The poll asks for the table only.
    part = client.get("/events/", HTTP_HX_REQUEST="true")
    body = part.content.decode()
    assert part.status_code == 200 and body.lstrip().startswith('<section id="group-results"')
    assert "<html" not in body and group.number in body
    # A filter the form refuses shows everything rather than failing.
    assert client.get("/events/", {"service": "nope", "tab": "x"}).status_code == 200


def test_group_page_shows_timeline_causes_decisions_and_mttd(client, scene):
    cast, group = scene["cast"], scene["group"]
    login(client, cast.agent)
    page = client.get(f"/events/groups/{group.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "bank-db down" in html and "Online Banking" in html
    assert "db-srv-01 alerted 40 s before its 2 dependents" in html
    assert "Disk full on db-srv-01" in html and "fired" in html
    assert "is 1 hop from the first alert" in html
    assert "MTTD so far" in html and "from the first event" in html
    assert f'href="/events/silences/new/?alert={scene["db_alert"].pk}"' in html
    assert f'<option value="{scene["other"].pk}">' in html  # merge candidates
    assert "B outage" not in html
    graph = client.get(f"/events/groups/{group.pk}/graph.json").json()
    roles = {n["name"]: n["role"] for n in graph["nodes"]}
    assert roles["db-srv-01"] == "cause" and roles["bank-db"] == "candidate"
    assert roles["bank-app"] == "alerting" and roles["Online Banking"] == "neighbour"
    assert graph["cause_id"] == scene["cis"]["db_srv"].pk
    assert {(e["source"], e["target"]) for e in graph["edges"]} >= {
        (scene["cis"]["db"].pk, scene["cis"]["db_srv"].pk)
    }


def test_mttd_counts_to_the_incident(client, scene):
    from opsdesk.events.views_groups import mttd

    group = scene["group"]
    from opsdesk.servicedesk.models import Incident

    group.incident = Incident(opened_at=group.onset_at + timedelta(seconds=95))
    assert mttd(group, timezone.now()) == {
        "value": "1 min 35 s",
        "basis": "the first event",
        "detected": True,
    }


def test_other_organisations_objects_are_404(client, scene):
    cast = scene["cast"]
    login(client, cast.agent)
    b_group, b_alert = scene["b_group"], scene["b_alert"]
    for url in (
        f"/events/groups/{b_group.pk}/",
        f"/events/groups/{b_group.pk}/graph.json",
        f"/events/alerts/{b_alert.pk}/",
        f"/events/silences/new/?alert={b_alert.pk}",
        "/events/groups/999999999/",
    ):
        assert client.get(url).status_code == 404, url
    for url in (
        f"/events/groups/{b_group.pk}/resolve/",
        f"/events/groups/{b_group.pk}/split/",
        f"/events/groups/{b_group.pk}/merge/",
    ):
        assert client.post(url, {"alert": b_alert.pk, "other": 1}).status_code == 404, url
    # Merging a group of B into one of A is a 404 too.
    response = client.post(f"/events/groups/{scene['group'].pk}/merge/", {"other": b_group.pk})
    assert response.status_code == 404
    b_group.refresh_from_db()
    assert b_group.state == "open"
    b_integration, _, _ = integration(cast.org_b, "generic", name="b-gen")
    login(client, cast.admin)
    assert client.post(f"/events/integrations/{b_integration.pk}/rotate/").status_code == 404
    assert (
        client.post(f"/events/integrations/{b_integration.pk}/active/", {"active": "0"}).status_code
        == 404
    )
    b_integration.refresh_from_db()
    assert b_integration.is_active


def test_requesters_and_strangers_are_kept_out(client, scene):
    cast = scene["cast"]
    assert client.get("/events/").status_code == 302  # to the login page
    login(client, cast.requester)
    assert client.get("/events/").status_code == 403
    assert client.get(f"/events/groups/{scene['group'].pk}/").status_code == 403
    assert client.get("/events/alerts/").status_code == 403


def test_resolve_split_and_merge_through_the_group_actions(client, scene):
    cast, group, other = scene["cast"], scene["group"], scene["other"]
    login(client, cast.agent)
    # Split the app alert off into a new group.
    response = client.post(
        f"/events/groups/{group.pk}/split/", {"alert": [scene["app_alert"].pk], "note": "unrelated"}
    )
    new = AlertGroup.objects.exclude(
        pk__in=[group.pk, other.pk, scene["done"].pk, scene["b_group"].pk]
    ).get()
    assert response.status_code == 302 and response["Location"] == f"/events/groups/{new.pk}/"
    scene["app_alert"].refresh_from_db()
    assert scene["app_alert"].group_id == new.pk
    assert GroupFeedback.objects.filter(group=group, kind="split").exists()
    # Splitting with nothing ticked says so.
    follow = client.post(f"/events/groups/{group.pk}/split/", {}, follow=True).content.decode()
    assert "tick the alerts" in follow
    # Merge the mail group into this one.
    client.post(f"/events/groups/{group.pk}/merge/", {"other": other.pk})
    other.refresh_from_db()
    assert other.state == "merged" and other.merged_into_id == group.pk
    assert GroupFeedback.objects.filter(kind="merge").exists()
    # Resolve; resolving again is refused with the reason, not a 500.
    client.post(f"/events/groups/{group.pk}/resolve/", {"note": "fixed the disk"})
    group.refresh_from_db()
    assert group.state == "resolved"
    page = client.get(f"/events/groups/{group.pk}/").content.decode()
    assert "Operator actions" not in page  # nothing left to do on a resolved group
    again = client.post(f"/events/groups/{group.pk}/resolve/", follow=True)
    assert again.status_code == 200 and "is resolved" in again.content.decode()


def test_auditors_see_groups_but_cannot_act(client, scene):
    cast, group = scene["cast"], scene["group"]
    login(client, cast.auditor)
    page = client.get(f"/events/groups/{group.pk}/")
    assert page.status_code == 200 and "Operator actions" not in page.content.decode()
    assert client.post(f"/events/groups/{group.pk}/resolve/").status_code == 403
    group.refresh_from_db()
    assert group.state == "open"


# --- alerts ---------------------------------------------------------------------------------


def test_alert_lists_with_the_unbound_tab_and_the_alert_page(client, scene):
    cast = scene["cast"]
    login(client, cast.agent)
    firing = client.get("/events/alerts/").content.decode()
    assert "Disk full on db-srv-01" in firing and "B disk" not in firing
    unbound = client.get("/events/alerts/", {"tab": "unbound"}).content.decode()
    assert "Printer jammed on floor 3" in unbound and "host.name=printer-3f" in unbound
    assert "Disk full on db-srv-01" not in unbound
    part = client.get("/events/alerts/", {"q": "printer", "tab": "all"}, HTTP_HX_REQUEST="true")
    assert "<html" not in part.content.decode() and "Printer jammed" in part.content.decode()
    page = client.get(f"/events/alerts/{scene['db_alert'].pk}/").content.decode()
    assert "DiskFull" in page and scene["group"].number in page


# --- silences -------------------------------------------------------------------------------


def test_silence_prefilled_from_an_alert_created_listed_and_expired(client, scene):
    cast = scene["cast"]
    login(client, cast.agent)
    form = client.get(f"/events/silences/new/?alert={scene['db_alert'].pk}").content.decode()
    assert 'value="alertname"' in form and 'value="DiskFull"' in form
    assert form.index('value="alertname"') < form.index('value="host.name"')
    response = client.post(
        "/events/silences/new/",
        {
            "matcher_name": ["alertname", "host.name", ""],
            "matcher_op": ["=", "=~", "="],
            "matcher_value": ["DiskFull", "db-.*", ""],
            "duration": "2h",
            "comment": "Disk replacement tonight",
        },
    )
    assert response.status_code == 302
    silence = Silence.objects.get(organization=cast.org_a)
    assert silence.matchers == [
        {"name": "alertname", "op": "=", "value": "DiskFull"},
        {"name": "host.name", "op": "=~", "value": "db-.*"},
    ]
    assert timedelta(hours=1, minutes=59) < silence.ends_at - timezone.now() <= timedelta(hours=2)
    active = client.get("/events/silences/").content.decode()
    assert "Disk replacement tonight" in active and "alertname=DiskFull" in active
    client.post(f"/events/silences/{silence.pk}/expire/")
    silence.refresh_from_db()
    assert silence.expired_early_at is not None
    assert "Disk replacement tonight" not in client.get("/events/silences/").content.decode()
    assert (
        "Disk replacement tonight"
        in client.get("/events/silences/", {"tab": "expired"}).content.decode()
    )


def test_silence_form_refusals_name_the_problem(client, scene):
    cast = scene["cast"]
    login(client, cast.agent)
    empty = client.post("/events/silences/new/", {"comment": "x", "duration": "1h"})
    assert empty.status_code == 422 and "at least one matcher" in empty.content.decode()
    no_end = client.post(
        "/events/silences/new/",
        {"matcher_name": ["job"], "matcher_op": ["="], "matcher_value": ["node"], "comment": "x"},
    )
    assert (
        no_end.status_code == 422 and "Choose a duration or an end time" in no_end.content.decode()
    )
    bad_regex = client.post(
        "/events/silences/new/",
        {
            "matcher_name": ["job"],
            "matcher_op": ["=~"],
            "matcher_value": ["("],
            "duration": "1h",
            "comment": "x",
        },
    )
    assert bad_regex.status_code == 422
    assert not Silence.objects.exists()
    # Another organisation's silence cannot be expired.
    login(client, cast.agent_b)
    b = Silence.objects.create(
        organization=cast.org_a,
        matchers=[{"name": "a", "op": "=", "value": "b"}],
        ends_at=timezone.now() + timedelta(hours=1),
        comment="A's",
    )
    assert client.post(f"/events/silences/{b.pk}/expire/").status_code == 404
    b.refresh_from_db()
    assert b.expired_early_at is None


# --- integrations ---------------------------------------------------------------------------


def test_integrations_create_shows_token_url_and_snippet_once_then_rotate_and_disable(
    client, scene
):
    cast = scene["cast"]
    login(client, cast.manager)
    response = client.post(
        "/events/integrations/",
        {
            "name": "prometheus-prod",
            "source": "alertmanager",
            "with_secret": "on",
            "default_service": scene["cis"]["banking"].pk,
        },
    )
    html = response.content.decode()
    made = EventIntegration.objects.get(organization=cast.org_a, name="prometheus-prod")
    assert made.secret and made.secret in html
    assert "http://testserver/api/v1/events/alertmanager" in html
    assert "webhook_configs:" in html and "credentials: opsev_" in html
    token = html.split('<code id="new-token">')[1].split("</code>")[0]
    from opsdesk.events.integrations import find_integration

    assert find_integration(token) == made
    listed = client.get("/events/integrations/").content.decode()
    assert token not in listed and made.secret not in listed and made.token_prefix in listed
    # The same name again: the error names the field.
    dup = client.post("/events/integrations/", {"name": "prometheus-prod", "source": "generic"})
    assert dup.status_code == 422 and "already exists" in dup.content.decode()
    rotated = client.post(f"/events/integrations/{made.pk}/rotate/").content.decode()
    new_token = rotated.split('<code id="new-token">')[1].split("</code>")[0]
    assert new_token != token and find_integration(token) is None
    client.post(f"/events/integrations/{made.pk}/active/", {"active": "0"})
    made.refresh_from_db()
    assert made.is_active is False


def test_integrations_are_for_managers_and_admins(client, scene):
    cast = scene["cast"]
    for user in (cast.agent, cast.auditor):
        login(client, user)
        assert client.get("/events/integrations/").status_code == 403
        assert (
            client.post("/events/integrations/", {"name": "x", "source": "generic"}).status_code
            == 403
        )
    assert not EventIntegration.objects.filter(name="x").exists()


# --- settings -------------------------------------------------------------------------------


def _settings_post(**over: Any) -> dict[str, Any]:
    data = {
        "window_seconds": "900",
        "topology_hops": "2",
        "group_by": "alertname, cluster",
        "text_similarity": "0.75",
        "flap_transitions": "5",
        "flap_window_seconds": "600",
        "open_incidents": "on",
        "incident_min_severity": "major",
        "incident_team": "",
        "resolve_after_seconds": "120",
        "propagation_seconds": "240",
        "reopen_seconds": "1800",
    }
    data.update(over)
    return data


def test_settings_page_saves_through_the_action_and_names_bad_fields(client, scene):
    cast = scene["cast"]
    login(client, cast.manager)
    page = client.get("/events/settings/")
    assert page.status_code == 200 and 'name="window_seconds"' in page.content.decode()
    saved = client.post("/events/settings/", _settings_post(incident_team=str(cast.team_a.pk)))
    assert saved.status_code == 302
    conf = CorrelationSettings.for_org(cast.org_a.pk)
    assert (conf.window_seconds, conf.topology_hops, conf.group_by) == (
        900,
        2,
        ["alertname", "cluster"],
    )
    assert conf.incident_team_id == cast.team_a.pk and conf.resolve_after_seconds == 120
    assert (conf.propagation_seconds, conf.reopen_seconds) == (240, 1800)
    bad = client.post("/events/settings/", _settings_post(topology_hops="40"))
    assert bad.status_code == 422 and "Between 0 and 10" in bad.content.decode()
    assert CorrelationSettings.for_org(cast.org_a.pk).topology_hops == 2


def test_settings_are_read_only_for_agents(client, scene):
    cast = scene["cast"]
    login(client, cast.agent)
    page = client.get("/events/settings/").content.decode()
    assert "Save settings" not in page and "disabled" in page
    assert client.post("/events/settings/", _settings_post()).status_code == 403
    assert not CorrelationSettings.objects.filter(organization=cast.org_a).exists()
    login(client, cast.requester)
    assert client.get("/events/settings/").status_code == 403


def test_the_main_navigation_links_the_event_pages(client, scene):
    login(client, scene["cast"].agent)
    html = client.get("/events/").content.decode()
    assert '<a href="/events/" aria-current="page">Events</a>' in html
    assert 'href="/events/settings/"' in html
    assert 'href="/events/integrations/"' not in html  # managers and admins only
    login(client, scene["cast"].manager)
    assert 'href="/events/integrations/"' in client.get("/events/alerts/").content.decode()


def test_list_and_group_pages_do_not_query_per_row(cast, client):
    """The list's and the group page's query counts do not grow with groups, alerts,
    decisions or history rows (no N+1)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    cis = topology(cast.org_a)
    login(client, cast.agent)
    first = make_group(cast.org_a, "first", service=cis["banking"])
    make_alert(cast.org_a, first, "a", ci=cis["app"])

    def count(url: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    small_list, small_page = count("/events/"), count(f"/events/groups/{first.pk}/")
    for n in range(12):
        other = make_group(cast.org_a, f"group {n}", service=cis["email"])
        make_alert(cast.org_a, other, f"alert {n}", ci=cis["mail_srv"])
        for ci in ("app_srv", "db", "db_srv"):
            make_alert(cast.org_a, first, f"{ci} {n}", ci=cis[ci])
    assert count("/events/") <= small_list + 1
    assert count(f"/events/groups/{first.pk}/") <= small_page + 1
