"""The agent pages at /desk/: access, the queue (filters, tabs, sorting, bulk update, query
counts), the new-incident form and its htmx helpers, and the incident page's forms."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from opsdesk.cmdb.tests.factories import ci, relate
from opsdesk.core.testing.factories import TeamFactory
from opsdesk.servicedesk import actions
from opsdesk.servicedesk.models import Activity, Attachment, Category, Incident, Watcher
from opsdesk.servicedesk.views import short_age, story

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def numbers(response) -> list[str]:  # type: ignore[no-untyped-def]
    return re.findall(r'class="row-link">(INC\d+)</a>', text(response))


def flashes(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(m) for m in get_messages(response.wsgi_request)]


def incident(cast, title="Mail is down", user=None, org=None, **fields) -> Incident:  # type: ignore[no-untyped-def]
    return actions.create_incident(
        acting_user=user or cast.agent, organization=org or cast.org_a, title=title, **fields
    )


# --- access ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/desk/", "/desk/incidents/new/", "/desk/incidents/1/", "/desk/dashboard/"]
)
def test_pages_need_a_login(client, url):  # type: ignore[no-untyped-def]
    response = client.get(url)
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_requesters_are_sent_to_the_portal(cast):  # type: ignore[no-untyped-def]
    own = incident(cast, user=cast.requester)
    requester = client_for(cast.requester)
    for url in ("/desk/", "/desk/incidents/", f"/desk/incidents/{own.pk}/", "/desk/dashboard/"):
        response = requester.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == "/portal/"
    response = requester.post(
        f"/desk/incidents/{own.pk}/comment/", {"body": "hi", "kind": "comment"}
    )
    assert response.status_code == 403
    assert not Activity.objects.filter(kind="comment").exists()


def test_an_incident_of_another_organisation_is_not_found(cast):  # type: ignore[no-untyped-def]
    theirs = incident(cast, user=cast.agent_b, org=cast.org_b)
    agent = client_for(cast.agent)
    assert agent.get(f"/desk/incidents/{theirs.pk}/").status_code == 404
    response = agent.post(f"/desk/incidents/{theirs.pk}/transition/start/")
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.state == "new"
    assert numbers(agent.get("/desk/?state=")) == []


def test_auditors_read_but_cannot_change(cast):  # type: ignore[no-untyped-def]
    mine = incident(cast)
    auditor = client_for(cast.auditor)
    page = auditor.get(f"/desk/incidents/{mine.pk}/")
    assert page.status_code == 200
    assert "Save fields" not in text(page)
    assert auditor.post(f"/desk/incidents/{mine.pk}/transition/start/").status_code == 403
    assert auditor.get("/desk/settings/").status_code == 403


# --- queue -----------------------------------------------------------------------------------


def test_queue_tabs_filters_and_sorting(cast):  # type: ignore[no-untyped-def]
    other_team = TeamFactory(organization=cast.org_a, name="Network")
    other_team.members.add(cast.manager)
    mine = incident(cast, "VPN drops", assignment_group=cast.team_a, assignee=cast.agent)
    team = incident(cast, "Printer jam", assignment_group=cast.team_a, impact=1, urgency=1)
    net = incident(cast, "Switch down", assignment_group=other_team, assignee=cast.manager)
    done = incident(cast, "Old one")
    actions.transition_incident(
        acting_user=cast.agent,
        incident=done,
        transition="resolve",
        resolution_code="solved_permanently",
        resolution_notes="ok",
    )
    agent = client_for(cast.agent)
    assert set(numbers(agent.get("/desk/"))) == {mine.number, team.number, net.number}
    assert numbers(agent.get("/desk/?tab=mine")) == [mine.number]
    assert set(numbers(agent.get("/desk/?tab=teams"))) == {mine.number, team.number}
    assert set(numbers(agent.get("/desk/?tab=unassigned"))) == {team.number}
    assert numbers(agent.get("/desk/?state=resolved")) == [done.number]
    assert numbers(agent.get("/desk/?priority=1")) == [team.number]
    assert numbers(agent.get(f"/desk/?group={other_team.pk}")) == [net.number]
    assert numbers(agent.get(f"/desk/?assignee={cast.agent.pk}")) == [mine.number]
    assert numbers(agent.get("/desk/?q=printer")) == [team.number]
    assert numbers(agent.get(f"/desk/?q={net.number.lower()}")) == [net.number]
    ordered = numbers(agent.get("/desk/?tab=open&sort=number"))
    assert ordered == sorted(ordered)
    assert numbers(agent.get("/desk/?tab=open&sort=-number")) == sorted(ordered, reverse=True)
    # The default order: highest priority first.
    assert numbers(agent.get("/desk/"))[0] == team.number
    # A filter value of another kind is reported on its field, not a crash.
    response = agent.get("/desk/?priority=9&group=abc")
    assert response.status_code == 200
    assert "Select a valid choice" in text(response)


def test_htmx_filter_returns_only_the_results(cast):  # type: ignore[no-untyped-def]
    incident(cast)
    response = client_for(cast.agent).get("/desk/?state=open", HTTP_HX_REQUEST="true")
    body = text(response)
    assert body.lstrip().startswith('<section id="queue-results"')
    assert "<html" not in body


def _busy_org(cast, n: int) -> None:  # type: ignore[no-untyped-def]
    service = ci(cast.org_a, "Mail", "business_service")
    server = ci(cast.org_a, "mx-01", "server")
    for i in range(n):
        incident(
            cast,
            f"Problem {i}",
            requester=cast.requester,
            assignment_group=cast.team_a,
            assignee=cast.agent if i % 2 else cast.manager,
            service=service,
            ci=server,
        )


def test_queue_query_count_does_not_grow_with_page_size(cast):  # type: ignore[no-untyped-def]
    _busy_org(cast, 60)
    agent = client_for(cast.agent)
    agent.get("/desk/")  # warm the per-user caches (roles, session)
    counts = {}
    for size in (25, 50):
        with CaptureQueriesContext(connection) as ctx:
            response = agent.get(f"/desk/?size={size}")
        assert len(numbers(response)) == size
        counts[size] = len(ctx.captured_queries)
    assert counts[25] == counts[50], counts


def test_queue_counts_with_a_capped_subquery(cast, monkeypatch):  # type: ignore[no-untyped-def]
    from opsdesk.servicedesk import views

    _busy_org(cast, 6)
    monkeypatch.setattr(views.CappedPaginator, "cap", 4)
    agent = client_for(cast.agent)
    with CaptureQueriesContext(connection) as ctx:
        response = agent.get("/desk/?size=25")
    assert "of 4+ incidents" in text(response)
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT" in sql.upper() for sql in counts)


def test_bulk_update_reports_each_refusal_and_keeps_the_others(cast):  # type: ignore[no-untyped-def]
    a = incident(cast, "One")
    b = incident(cast, "Two")
    c = incident(cast, "Three")
    actions.transition_incident(
        acting_user=cast.agent, incident=c, transition="cancel", reason="duplicate"
    )
    agent = client_for(cast.agent)
    response = agent.post(
        "/desk/incidents/bulk/",
        {
            "operation": "assign",
            "ids": [a.pk, b.pk],
            "assignment_group": cast.team_a.pk,
            "assignee": cast.agent.pk,
            "next": "/desk/?tab=mine",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/desk/?tab=mine"
    assert Incident.objects.filter(assignee=cast.agent).count() == 2

    response = agent.post(
        "/desk/incidents/bulk/",
        {
            "operation": "resolve",
            "ids": [a.pk, c.pk, b.pk],
            "resolution_code": "solved_remotely",
            "resolution_notes": "Restarted the service.",
        },
    )
    said = flashes(response)
    assert f"{c.number}: Cannot resolve a record that is cancelled" in " ".join(said), said
    assert any("2 incidents updated" in m for m in said), said
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.state == b.state == "resolved"

    # Closing a new incident is refused with the allowed transitions.
    d = incident(cast, "Four")
    response = agent.post("/desk/incidents/bulk/", {"operation": "hold", "ids": [d.pk]})
    assert any(f"{d.number}: hold reason: Required to hold." in m for m in flashes(response))
    # Nothing ticked: said so.
    response = agent.post("/desk/incidents/bulk/", {"operation": "start"})
    assert any("Select incidents first" in m for m in flashes(response))


def test_bulk_cannot_reach_another_organisation(cast):  # type: ignore[no-untyped-def]
    theirs = incident(cast, user=cast.agent_b, org=cast.org_b)
    response = client_for(cast.agent).post(
        "/desk/incidents/bulk/", {"operation": "start", "ids": [theirs.pk]}
    )
    theirs.refresh_from_db()
    assert theirs.state == "new"
    assert any("could not be found" in m for m in flashes(response))


# --- new incident ----------------------------------------------------------------------------


def test_an_agent_logs_an_incident_with_dependent_fields(cast):  # type: ignore[no-untyped-def]
    hardware = Category.objects.create(organization=cast.org_a, name="Hardware")
    laptop = Category.objects.create(organization=cast.org_a, name="Laptop", parent=hardware)
    Category.objects.create(organization=cast.org_a, name="Software")
    service = ci(cast.org_a, "Email", "business_service")
    server = ci(cast.org_a, "mx-01", "server")
    agent = client_for(cast.agent)

    page = agent.get("/desk/incidents/new/")
    assert page.status_code == 200
    subs = agent.get(f"/desk/htmx/subcategories/?category={hardware.pk}")
    assert "Laptop" in text(subs)
    assert "Software" not in text(subs)
    members = agent.get(f"/desk/htmx/assignees/?assignment_group={cast.team_a.pk}")
    assert "Alex Agent" in text(members) and "Mandla Manager" in text(members)
    assert "Ade Admin" not in text(members)
    preview = agent.get("/desk/htmx/priority/?impact=1&urgency=2")
    assert "P2" in text(preview)
    people = agent.get("/desk/htmx/people/?requester=rita")
    assert "requester@a.test" in text(people)
    assert "agent@b.test" not in text(agent.get("/desk/htmx/people/?requester=bruno"))
    assert "mx-01" in text(agent.get("/desk/htmx/cis/?ci=mx"))

    response = agent.post(
        "/desk/incidents/new/",
        {
            "title": "Laptop will not boot",
            "description": "Black screen.",
            "requester": "Rita Requester <requester@a.test>",
            "channel": "phone",
            "service": service.pk,
            "ci": "mx-01",
            "category": hardware.pk,
            "subcategory": laptop.pk,
            "impact": 2,
            "urgency": 1,
            "assignment_group": cast.team_a.pk,
            "assignee": cast.manager.pk,
        },
    )
    assert response.status_code == 302
    created = Incident.objects.get(title="Laptop will not boot")
    assert response["Location"] == f"/desk/incidents/{created.pk}/"
    assert created.requester == cast.requester
    assert created.ci == server and created.service == service
    assert created.subcategory == laptop and created.priority == 2
    assert created.assignee == cast.manager and created.opened_by == cast.agent


def test_the_new_incident_form_names_bad_fields(cast):  # type: ignore[no-untyped-def]
    server = ci(cast.org_a, "mx-01", "server")
    response = client_for(cast.agent).post(
        "/desk/incidents/new/",
        {
            "title": "",
            "requester": "agent@b.test",
            "channel": "phone",
            "service": server.pk,  # not a service: not offered
            "ci": "nope",
            "impact": 1,
            "urgency": 1,
            "assignment_group": cast.team_a.pk,
            "assignee": cast.admin.pk,  # not a member of the team
        },
    )
    assert response.status_code == 422
    body = text(response)
    assert "This field is required" in body
    assert "No member of Acme Africa has this email" in body
    assert "No configuration item named" in body
    assert not Incident.objects.exists()


# --- incident page ---------------------------------------------------------------------------


def test_the_incident_page_tells_the_story(cast):  # type: ignore[no-untyped-def]
    network = TeamFactory(organization=cast.org_a, name="Network")
    network.members.add(cast.manager)
    inc = incident(cast, "VPN drops", impact=2, urgency=2)
    agent = client_for(cast.agent)
    agent.post(f"/desk/incidents/{inc.pk}/assign/", {"me": "1"})
    agent.post(f"/desk/incidents/{inc.pk}/transition/start/")
    agent.post(f"/desk/incidents/{inc.pk}/comment/", {"body": "Looking now", "kind": "comment"})
    agent.post(f"/desk/incidents/{inc.pk}/comment/", {"body": "Tunnel flaps", "kind": "work_note"})
    agent.post(
        f"/desk/incidents/{inc.pk}/assign/",
        {"assignment_group": network.pk, "assignee": cast.manager.pk},
    )
    page = text(agent.get(f"/desk/incidents/{inc.pk}/"))
    assert "Alex Agent assigned it to Service Desk A / Alex Agent" in page
    assert "Alex Agent moved it from New to In progress" in page
    assert "Alex Agent commented" in page
    assert "Alex Agent added a work note" in page
    assert re.search(r'tl-work_note tl-note">.*?Work note · internal.*?Tunnel flaps', page, re.S)
    assert "assigned it to Network / Mandla Manager (was Service Desk A / Alex Agent)" in page
    # The buttons are those the workflow allows now.
    assert "Put on hold" in page and "Start work" not in page
    inc.refresh_from_db()
    assert inc.assignee == cast.manager and inc.reassignment_count == 1


def test_transitions_from_the_page_and_their_refusals(cast):  # type: ignore[no-untyped-def]
    inc = incident(cast)
    agent = client_for(cast.agent)
    response = agent.post(f"/desk/incidents/{inc.pk}/transition/close/")
    assert response.status_code == 302
    assert any("Allowed from new: start, hold, resolve, cancel" in m for m in flashes(response))
    response = agent.post(
        f"/desk/incidents/{inc.pk}/transition/resolve/", {"resolution_code": "solved_remotely"}
    )
    assert any("resolution notes: Required to resolve." in m for m in flashes(response))
    agent.post(
        f"/desk/incidents/{inc.pk}/transition/resolve/",
        {"resolution_code": "solved_remotely", "resolution_notes": "Reset the router."},
    )
    inc.refresh_from_db()
    assert inc.state == "resolved"
    page = text(agent.get(f"/desk/incidents/{inc.pk}/"))
    assert "Resolution: Solved remotely" in page
    assert "Alex Agent moved it from New to Resolved — Solved remotely" in page
    agent.post(f"/desk/incidents/{inc.pk}/transition/reopen/", {"reason": "Still broken"})
    inc.refresh_from_db()
    assert inc.state == "in_progress" and inc.reopen_count == 1


def test_fields_are_edited_through_update_incident(cast):  # type: ignore[no-untyped-def]
    inc = incident(cast, impact=3, urgency=3)
    agent = client_for(cast.agent)
    response = agent.post(
        f"/desk/incidents/{inc.pk}/edit/",
        {"title": "Mail is down for all", "channel": "email", "impact": 1, "urgency": 1},
    )
    assert response.status_code == 302
    inc.refresh_from_db()
    assert inc.title == "Mail is down for all" and inc.priority == 1
    assert "changed title from Mail is down to Mail is down for all" in text(
        agent.get(f"/desk/incidents/{inc.pk}/")
    )
    response = agent.post(
        f"/desk/incidents/{inc.pk}/edit/",
        {"title": "x", "channel": "email", "impact": 1, "urgency": 1, "requester": "nobody@x.test"},
    )
    assert response.status_code == 422
    assert "No member of Acme Africa has this email" in text(response)


def test_links_watchers_and_attachments(cast):  # type: ignore[no-untyped-def]
    from opsdesk.problems.models import KnownError

    inc = incident(cast)
    ke = KnownError.objects.create(
        organization=cast.org_a, title="VPN client drops", workaround="Reinstall the client."
    )
    KnownError.objects.create(organization=cast.org_b, title="x", workaround="y")
    theirs = KnownError.objects.create(organization=cast.org_b, title="z", workaround="y")
    agent = client_for(cast.agent)
    response = agent.post(f"/desk/incidents/{inc.pk}/link/", {"number": theirs.number})
    assert any("No known error" in m for m in flashes(response))
    agent.post(f"/desk/incidents/{inc.pk}/link/", {"number": ke.number.lower()})
    inc.refresh_from_db()
    assert inc.known_error == ke
    page = text(agent.get(f"/desk/incidents/{inc.pk}/"))
    assert f"linked known error {ke.number} “VPN client drops”" in page
    assert "Reinstall the client." in page

    agent.post(f"/desk/incidents/{inc.pk}/watch/", {"watching": "on"})
    agent.post(f"/desk/incidents/{inc.pk}/watch/", {"user": "manager@a.test", "watching": "on"})
    response = agent.post(f"/desk/incidents/{inc.pk}/watch/", {"user": "agent@b.test"})
    assert any("No member of Acme Africa" in m for m in flashes(response))
    assert set(Watcher.objects.values_list("user__email", flat=True)) == {
        "agent@a.test",
        "manager@a.test",
    }
    page = text(agent.get(f"/desk/incidents/{inc.pk}/"))
    assert "Alex Agent started watching" in page
    assert "Alex Agent added Mandla Manager as a watcher" in page
    assert "Stop watching" in page

    upload = SimpleUploadedFile("log.txt", b"error 42\n", content_type="text/plain")
    agent.post(f"/desk/incidents/{inc.pk}/attachments/", {"file": upload})
    bad = SimpleUploadedFile("tool.exe", b"MZ....", content_type="application/x-msdownload")
    response = agent.post(f"/desk/incidents/{inc.pk}/attachments/", {"file": bad})
    assert any("not allowed" in m for m in flashes(response))
    attachment = Attachment.objects.get()
    download = agent.get(f"/desk/attachments/{attachment.pk}/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"error 42\n"
    assert "attachment" in download["Content-Disposition"]
    assert client_for(cast.agent_b).get(f"/desk/attachments/{attachment.pk}/").status_code in (
        302,
        404,
    )
    # A file kept for review (mail in) is flagged on the page.
    actions.add_attachment(
        acting_user=cast.agent,
        subject=inc,
        filename="huge.bin",
        content=b"x",
        content_type="application/x-foo",
        keep_for_review=True,
    )
    assert "Quarantined" in text(agent.get(f"/desk/incidents/{inc.pk}/"))


def test_the_impact_of_the_affected_ci(cast):  # type: ignore[no-untyped-def]
    banking = ci(cast.org_a, "Online banking", "business_service", criticality=1)
    api = ci(cast.org_a, "banking-api", "application")
    db = ci(cast.org_a, "db-07", "database")
    relate(banking, "depends_on", api)
    relate(api, "depends_on", db)
    inc = incident(cast, ci=db)
    page = text(client_for(cast.agent).get(f"/desk/incidents/{inc.pk}/"))
    assert 'id="impact-graph"' in page
    assert f'data-impact-url="/cmdb/cis/{db.pk}/impact.json"' in page
    assert "Online banking" in page and "Tier 1" in page
    assert "cytoscape.min.js" in page


def test_side_panels_from_other_apps(cast, monkeypatch):  # type: ignore[no-untyped-def]
    from opsdesk.servicedesk import panels

    def provider(user, incident):  # type: ignore[no-untyped-def]
        return panels.Panel(
            title="Related knowledge",
            template="servicedesk/_datalist.html",
            context={"values": [f"KB for {incident.number}"]},
        )

    monkeypatch.setattr(panels, "_PROVIDERS", [provider])
    inc = incident(cast)
    page = text(client_for(cast.agent).get(f"/desk/incidents/{inc.pk}/"))
    assert "Related knowledge" in page
    assert f'<option value="KB for {inc.number}">' in page


def test_incident_page_query_count_is_bounded(cast):  # type: ignore[no-untyped-def]
    inc = incident(cast, assignment_group=cast.team_a, assignee=cast.agent)
    agent = client_for(cast.agent)
    agent.get(f"/desk/incidents/{inc.pk}/")
    with CaptureQueriesContext(connection) as few:
        agent.get(f"/desk/incidents/{inc.pk}/")
    for i in range(15):
        actions.add_comment(acting_user=cast.agent, subject=inc, body=f"note {i}", public=i % 2)
    with CaptureQueriesContext(connection) as many:
        agent.get(f"/desk/incidents/{inc.pk}/")
    assert len(many.captured_queries) == len(few.captured_queries)


def test_short_age_and_story_texts(cast):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    assert short_age(timedelta(minutes=5)) == "5m"
    assert short_age(timedelta(hours=5)) == "5h"
    assert short_age(timedelta(days=2, hours=3)) == "2d 3h"
    assert short_age(timedelta(days=15)) == "2w 1d"
    entry = Activity(kind="field", actor_name="Sam", data={"changes": {"priority": [3, 1]}})
    assert story(entry)["text"] == "Sam changed priority from P3 to P1"
    auto = Activity(kind="state", data={"from": "resolved", "to": "closed", "automatic": True})
    assert story(auto)["text"] == "Closed automatically (was Resolved)"
