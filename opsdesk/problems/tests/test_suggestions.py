"""Known errors suggested for an incident: same CI, a CI it depends on, its service, shared
words; only published ones of its organisation; never to requesters; the incident page panel
and its Link button."""

from __future__ import annotations

import pytest
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from hypothesis import given, settings
from hypothesis import strategies as st

from opsdesk.cmdb.tests.factories import ci, relate
from opsdesk.problems.panels import known_error_panel
from opsdesk.problems.selectors import STOPWORDS, suggested_known_errors, tokens
from opsdesk.problems.tests.factories import incident, known_error, problem
from opsdesk.servicedesk.models import Activity, Incident
from opsdesk.servicedesk.panels import panels_for

pytestmark = pytest.mark.django_db


def _numbers(suggestions) -> list[str]:  # type: ignore[no-untyped-def]
    return [s.known_error.number for s in suggestions]


def test_same_ci_first_then_words_each_with_why(cast):
    db = ci(cast.org_a, "db-07", "database")
    by_ci = known_error(cast, title="Reports slow at month end", cis=[db])
    by_words = known_error(
        cast, title="VPN timeout", symptoms="Client shows error 809: connection timeout."
    )
    inc = incident(
        cast, title="VPN timeout on laptop", description="Timeouts since this morning", ci=db
    )
    found = suggested_known_errors(cast.agent, inc)
    assert _numbers(found) == [by_ci.number, by_words.number]
    assert found[0].reasons == ["same CI db-07"]
    assert found[1].reasons == ["matching words: timeout, vpn"]


def test_a_ci_the_incident_ci_depends_on_and_the_service_count(cast):
    service = ci(cast.org_a, "Online banking", "business_service")
    app = ci(cast.org_a, "banking-api", "application")
    db = ci(cast.org_a, "corebank-db", "database")
    relate(app, "depends_on", db)
    on_db = known_error(cast, title="Archive log full", cis=[db])
    on_service = known_error(cast, title="Login page blank", cis=[service])
    inc = incident(cast, title="Transfers fail", ci=app, service=service)
    found = {s.known_error.number: s for s in suggested_known_errors(cast.agent, inc)}
    assert set(found) == {on_db.number, on_service.number}
    assert found[on_db.number].reasons[0].startswith("related CI: banking-api")
    assert found[on_db.number].reasons[0].endswith("corebank-db")
    assert found[on_service.number].reasons == ["same service Online banking"]


def test_no_suggestion_without_a_shared_ci_or_word(cast):
    """The negative case: unrelated, draft, retired and other organisations' known errors."""
    db = ci(cast.org_a, "db-07", "database")
    other = ci(cast.org_a, "printer-3", "server")
    known_error(cast, title="Printer jams on duplex", cis=[other])
    known_error(cast, title="VPN timeout", state="draft")
    retired = known_error(cast, title="VPN timeout old")
    from opsdesk.problems.actions import retire_known_error

    retire_known_error(acting_user=cast.agent, known_error=retired)
    b_db = ci(cast.org_b, "db-07", "database")
    known_error(cast, org=cast.org_b, title="VPN timeout", cis=[b_db])
    inc = incident(cast, title="VPN timeout", ci=db)
    assert suggested_known_errors(cast.agent, inc) == []
    # Stopwords alone are no match.
    known_error(cast, title="The problem is not working please help")
    chatty = incident(cast, title="Please help, it is not working")
    assert suggested_known_errors(cast.agent, chatty) == []


def test_requesters_get_no_suggestions_and_no_panel(cast):
    ke = known_error(cast, title="VPN timeout")
    inc = incident(cast, title="VPN timeout", user=cast.requester)
    assert _numbers(suggested_known_errors(cast.agent, inc)) == [ke.number]
    assert suggested_known_errors(cast.requester, inc) == []
    assert known_error_panel(cast.requester, inc) is None


def test_limit(cast):
    for n in range(7):
        known_error(cast, title=f"VPN timeout variant {n}")
    inc = incident(cast, title="VPN timeout")
    assert len(suggested_known_errors(cast.agent, inc)) == 5
    assert len(suggested_known_errors(cast.agent, inc, limit=2)) == 2


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=300))
def test_tokens_never_keep_stopwords_or_short_words(text):
    for word in tokens(text):
        assert len(word) >= 3
        assert word not in STOPWORDS
        assert word == word.lower()


def test_the_panel_is_registered_and_shows_linked_problem_and_suggestions(cast):
    db = ci(cast.org_a, "db-07", "database")
    ke = known_error(cast, title="Archive log full", cis=[db])
    inc = incident(cast, title="Payments fail", ci=db)
    prb = problem(cast, incidents=[inc])
    inc = Incident.objects.get(pk=inc.pk)
    panels = [p for p in panels_for(cast.agent, inc) if p.template.startswith("problems/")]
    assert len(panels) == 1
    request = RequestFactory().get("/")
    request.user = cast.agent
    # Rendered as the incident page includes it, and on its own.
    for html in (
        render_to_string(
            "problems/panels/known_errors.html", {"panel": panels[0]}, request=request
        ),
        render_to_string(panels[0].template, panels[0].context, request=request),
    ):
        assert f'Linked problem:</strong> <a href="/problems/{prb.pk}/">{prb.number}' in html
        assert ke.number in html and "same CI db-07" in html
        assert f'action="/problems/incidents/{inc.pk}/known-error/"' in html


def test_the_link_button_links_and_returns_to_the_incident(cast):
    ke = known_error(cast, title="VPN timeout")
    inc = incident(cast, title="VPN timeout")
    client = Client()
    client.force_login(cast.agent)
    resp = client.post(f"/problems/incidents/{inc.pk}/known-error/", {"known_error": ke.pk})
    assert resp.status_code == 302 and resp["Location"] == f"/desk/incidents/{inc.pk}/"
    inc.refresh_from_db()
    assert inc.known_error == ke
    link = Activity.objects.get(subject_type="incident", subject_id=inc.pk, kind="link")
    assert link.public and link.data["number"] == ke.number
    # Linked: no longer suggested; the panel shows it with an Unlink button.
    assert ke.pk not in [
        s.known_error.pk for s in known_error_panel(cast.agent, inc).context["suggestions"]
    ]
    resp = client.post(
        f"/problems/incidents/{inc.pk}/known-error/", {"known_error": ke.pk, "unlink": "on"}
    )
    inc.refresh_from_db()
    assert inc.known_error is None


def test_the_link_button_refuses_other_organisations_and_requesters(cast):
    theirs = known_error(cast, org=cast.org_b, title="VPN timeout")
    inc = incident(cast, title="VPN timeout", user=cast.requester)
    agent = Client()
    agent.force_login(cast.agent)
    resp = agent.post(f"/problems/incidents/{inc.pk}/known-error/", {"known_error": theirs.pk})
    assert resp.status_code == 404
    mine = known_error(cast, title="VPN timeout")
    requester = Client()
    requester.force_login(cast.requester)
    resp = requester.post(f"/problems/incidents/{inc.pk}/known-error/", {"known_error": mine.pk})
    assert resp.status_code == 403
    inc.refresh_from_db()
    assert inc.known_error is None


def test_the_incident_page_shows_the_panel_and_link_comes_back_to_it(cast):
    db = ci(cast.org_a, "db-07", "database")
    ke = known_error(cast, title="Archive log full", cis=[db])
    inc = incident(cast, title="Payments fail", ci=db)
    client = Client()
    client.force_login(cast.agent)
    page = client.get(f"/desk/incidents/{inc.pk}/").content.decode()
    assert "Suggested known errors" in page and "same CI db-07" in page
    assert f'<input type="hidden" name="known_error" value="{ke.pk}">' in page
    resp = client.post(
        f"/problems/incidents/{inc.pk}/known-error/", {"known_error": ke.pk}, follow=True
    )
    page = resp.content.decode()
    assert resp.redirect_chain[-1][0] == f"/desk/incidents/{inc.pk}/"
    assert f"{ke.number} linked to {inc.number}" in page
    assert "Known error:</strong>" in page
    requester_page = Client()
    requester_page.force_login(cast.requester)
    own = incident(cast, title="Payments fail", ci=db, user=cast.requester)
    page = requester_page.get(f"/desk/incidents/{own.pk}/").content.decode()
    assert "Suggested known errors" not in page and ke.number not in page
