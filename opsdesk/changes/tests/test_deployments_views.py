"""The deployment pages, the integrations page (token shown once, refused deliveries), the
change-page section, and the `deploy_integration` command."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from opsdesk.changes import deployments
from opsdesk.changes.integration_actions import create_integration, find_integration
from opsdesk.changes.models import DeploymentIntegration, WebhookDelivery
from opsdesk.changes.pipelines import normalised
from opsdesk.changes.sections import sections_for
from opsdesk.changes.tests.factories import template, topology
from opsdesk.core.middleware import SESSION_ORG_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def recorded(cast):  # type: ignore[no-untyped-def]
    cis = topology(cast.org_a)
    template(cast, name="Deploy banking", match_cis=[cis["app"]])
    pipe, _, _ = create_integration(
        acting_user=cast.admin, organization=cast.org_a, name="Jenkins", source="generic"
    )
    ok, _ = deployments.record_deployment(
        integration=pipe,
        data=normalised(
            external_id="j-1",
            ci="bank-app",
            environment="production",
            version="7.1",
            outcome="success",
        ),
    )
    bare, _ = deployments.record_deployment(
        integration=pipe,
        data=normalised(
            external_id="j-2",
            service="Email",
            environment="production",
            version="3.0",
            outcome="failure",
        ),
    )
    return cast, pipe, ok, bare


def _login(client, user):  # type: ignore[no-untyped-def]
    client.force_login(user)
    session = client.session
    session[SESSION_ORG_KEY] = user.memberships.first().organization_id
    session.save()


def test_the_list_shows_deployments_and_flags_those_without_a_change(client, recorded):
    cast, _pipe, ok, _bare = recorded
    _login(client, cast.agent)
    page = client.get("/changes/deployments/")
    assert page.status_code == 200
    html = page.content.decode()
    assert ok.change.number in html and "7.1" in html
    assert "No change" in html and "No standard-change template matches Email" in html
    only_failed = client.get("/changes/deployments/", {"outcome": "failure"}).content.decode()
    assert "3.0" in only_failed and "7.1" not in only_failed
    no_change = client.get("/changes/deployments/", {"flag": "no_change"}).content.decode()
    assert "3.0" in no_change and ok.change.number not in no_change
    detail = client.get(f"/changes/deployments/{ok.pk}/").content.decode()
    assert ok.change.number in detail and "Deploy banking" in detail


def test_other_organisations_deployments_are_404(client, recorded):
    cast, _pipe, ok, _bare = recorded
    _login(client, cast.admin_b)
    assert client.get(f"/changes/deployments/{ok.pk}/").status_code == 404
    assert ok.change.number not in client.get("/changes/deployments/").content.decode()


def test_a_manager_creates_an_integration_and_sees_its_token_once(client, recorded):
    cast, pipe, _ok, _bare = recorded
    WebhookDelivery.objects.create(
        organization=cast.org_a,
        integration=pipe,
        source="generic",
        status_code=403,
        reason="x-opsdesk-signature-256 does not match",
        excerpt='{"external_id": "j-9"}',
    )
    _login(client, cast.manager)
    page = client.get("/changes/deployments/integrations/").content.decode()
    assert "Jenkins" in page and "x-opsdesk-signature-256 does not match" in page
    resp = client.post(
        "/changes/deployments/integrations/",
        {"name": "GitHub banking", "source": "github", "with_secret": "on"},
    )
    assert resp.status_code == 200
    html = resp.content.decode()
    made = DeploymentIntegration.objects.get(name="GitHub banking")
    token = html.split('id="new-token">', 1)[1].split("<", 1)[0]
    assert find_integration(token) == made and made.secret in html
    again = client.get("/changes/deployments/integrations/").content.decode()
    assert token not in again and made.token_prefix in again
    client.post(f"/changes/deployments/integrations/{made.pk}/active/", {"active": "0"})
    made.refresh_from_db()
    assert made.is_active is False


def test_agents_cannot_manage_integrations(client, recorded):
    cast, pipe, _ok, _bare = recorded
    _login(client, cast.agent)
    assert client.get("/changes/deployments/integrations/").status_code == 403
    assert client.post(f"/changes/deployments/integrations/{pipe.pk}/rotate/").status_code == 403


def test_the_change_page_section_lists_the_changes_deployments(recorded):
    cast, _pipe, ok, _bare = recorded
    found = [s for s in sections_for(cast.agent, ok.change) if s.title == "Deployments"]
    assert len(found) == 1 and found[0].order == 50
    assert found[0].context["deployments"] == [ok]
    assert not [s for s in sections_for(cast.admin_b, ok.change) if s.title == "Deployments"]


def test_the_command_creates_an_integration_and_prints_its_token_once(cast):
    out, err = StringIO(), StringIO()
    call_command(
        "deploy_integration",
        "create",
        "--organization",
        cast.org_a.slug,
        "--source",
        "gitlab",
        "--name",
        "GitLab payments",
        "--secret",
        stdout=out,
        stderr=err,
    )
    token, secret = out.getvalue().split()
    made = find_integration(token)
    assert made.name == "GitLab payments" and made.secret == secret
    listing = StringIO()
    call_command("deploy_integration", "list", "--organization", cast.org_a.slug, stdout=listing)
    assert "GitLab payments" in listing.getvalue() and token not in listing.getvalue()
