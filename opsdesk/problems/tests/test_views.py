"""The problem pages: list with filters, raise from incidents, problem page with its forms,
known errors; requesters and other organisations get nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from opsdesk.cmdb.tests.factories import ci
from opsdesk.problems.models import KnownError, Problem
from opsdesk.problems.tests.factories import incident, known_error, problem
from opsdesk.servicedesk.models import Incident

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def test_list_shows_open_problems_by_default_and_filters(cast):
    open_one = problem(cast, title="Mail outages")
    cancelled = problem(cast, title="Printer noise")
    from opsdesk.problems.actions import transition_problem

    transition_problem(
        acting_user=cast.agent, problem=cancelled, transition="cancel", reason="Duplicate"
    )
    problem(cast, org=cast.org_b, title="B's secret problem")
    client = client_for(cast.agent)
    page = text(client.get("/problems/"))
    assert open_one.number in page and "Mail outages" in page
    assert "Printer noise" not in page and "B&#x27;s secret" not in page
    page = text(client.get("/problems/", {"state": "cancelled"}))
    assert "Printer noise" in page and "Mail outages" not in page
    page = text(client.get("/problems/", {"q": "mail"}))
    assert "Mail outages" in page
    partial = client.get("/problems/", {"q": "mail"}, HTTP_HX_REQUEST="true")
    assert text(partial).lstrip().startswith('<section id="problem-results"')


def test_raise_from_incidents_form(cast):
    db = ci(cast.org_a, "db-07", "database")
    a = incident(cast, title="Payments slow", ci=db, impact=1, urgency=2)
    b = incident(cast, title="Payments down", ci=db)
    client = client_for(cast.agent)
    page = text(client.get(f"/problems/new/?incidents={a.pk},{b.pk}"))
    assert a.number in page and b.number in page
    assert f'value="{a.number}, {b.number}"' in page
    resp = client.post(
        "/problems/new/",
        {"incidents": f"{a.number}, {b.number}", "title": "", "priority": "2"},
    )
    assert resp.status_code == 302, text(resp)
    prb = Problem.objects.get()
    assert resp["Location"] == f"/problems/{prb.pk}/"
    assert prb.title == "Payments slow" and prb.ci == db
    assert set(prb.incidents.values_list("pk", flat=True)) == {a.pk, b.pk}


def test_raise_form_names_unknown_incidents(cast):
    theirs = incident(cast, org=cast.org_b)
    client = client_for(cast.agent)
    resp = client.post("/problems/new/", {"incidents": theirs.number, "priority": "3"})
    assert resp.status_code == 422
    assert f"No incident here matches {theirs.number}" in text(resp)
    assert not Problem.objects.exists()


def test_problem_page_edit_transitions_and_known_error(cast):
    inc = incident(cast, title="VPN drops")
    prb = problem(cast, incidents=[inc])
    client = client_for(cast.agent)
    page = text(client.get(f"/problems/{prb.pk}/"))
    assert inc.number in page and "Start assessment" in page and "Timeline" in page
    client.post(
        f"/problems/{prb.pk}/edit/",
        {
            "edit-title": prb.title,
            "edit-priority": "2",
            "edit-workaround": "Reconnect.",
            "edit-rca_notes": "Five whys.",
            "edit-assignment_group": cast.team_a.pk,
            "edit-assignee": cast.manager.pk,
        },
    )
    prb.refresh_from_db()
    assert (prb.priority, prb.workaround, prb.assignee) == (2, "Reconnect.", cast.manager)
    client.post(f"/problems/{prb.pk}/transitions/analyse/")
    resp = client.post(f"/problems/{prb.pk}/transitions/resolve/", {"root_cause": "Firmware."})
    page = text(client.get(resp["Location"]))
    assert "Required to resolve." in page  # the missing resolution notes are named
    resp = client.post(
        f"/problems/{prb.pk}/transitions/resolve/",
        {"root_cause": "Firmware.", "resolution_notes": "Upgraded.", "resolve_incidents": "on"},
    )
    page = text(client.get(resp["Location"]))
    assert "1 linked incident resolved." in page
    assert Incident.objects.get(pk=inc.pk).state == "resolved"
    resp = client.post(f"/problems/{prb.pk}/known-error/", {"title": "", "symptoms": "Drops"})
    ke = KnownError.objects.get()
    assert resp["Location"] == f"/problems/known-errors/{ke.pk}/"
    assert (ke.workaround, ke.root_cause, ke.problem) == ("Reconnect.", "Firmware.", prb)
    assert "Reconnect." in text(client.get(resp["Location"]))


def test_link_and_unlink_on_the_problem_page(cast):
    prb = problem(cast)
    inc = incident(cast)
    client = client_for(cast.agent)
    client.post(f"/problems/{prb.pk}/incidents/", {"incidents": inc.number})
    assert Incident.objects.get(pk=inc.pk).problem == prb
    client.post(f"/problems/{prb.pk}/incidents/{inc.pk}/unlink/")
    assert Incident.objects.get(pk=inc.pk).problem is None


def test_known_error_pages(cast):
    db = ci(cast.org_a, "db-07", "database")
    client = client_for(cast.agent)
    resp = client.post(
        "/problems/known-errors/new/",
        {"title": "Archive log full", "workaround": "Purge logs.", "cis": "db-07, nope"},
    )
    assert resp.status_code == 422 and "nope" in text(resp)
    resp = client.post(
        "/problems/known-errors/new/",
        {"title": "Archive log full", "workaround": "Purge logs.", "cis": "DB-07"},
    )
    ke = KnownError.objects.get()
    assert list(ke.cis.all()) == [db]
    page = text(client.get(resp["Location"]))
    assert "db-07" in page and "Purge logs." in page
    assert "Archive log full" in text(client.get("/problems/known-errors/"))
    client.post(f"/problems/known-errors/{ke.pk}/transitions/retire/", {"reason": "Fixed"})
    ke.refresh_from_db()
    assert ke.state == "retired"
    assert "Archive log full" not in text(client.get("/problems/known-errors/"))
    assert "Archive log full" in text(client.get("/problems/known-errors/", {"state": ""}))


def test_requesters_and_other_organisations_get_nothing(cast):
    prb = problem(cast)
    ke = known_error(cast)
    requester = client_for(cast.requester)
    for url in ("/problems/", f"/problems/{prb.pk}/", "/problems/known-errors/", "/problems/new/"):
        assert requester.get(url).status_code == 403, url
    other = client_for(cast.admin_b)
    assert other.get(f"/problems/{prb.pk}/").status_code == 404
    assert other.get(f"/problems/known-errors/{ke.pk}/").status_code == 404
    assert other.post(f"/problems/{prb.pk}/transitions/cancel/", {"reason": "x"}).status_code == 404
    prb.refresh_from_db()
    assert prb.state == "new"


def test_auditor_sees_but_gets_no_forms(cast):
    prb = problem(cast)
    page = text(client_for(cast.auditor).get(f"/problems/{prb.pk}/"))
    assert prb.number in page
    assert "Start assessment" not in page and "Link more incidents" not in page
    resp = client_for(cast.auditor).post(f"/problems/{prb.pk}/transitions/assess/")
    assert resp.status_code == 403
