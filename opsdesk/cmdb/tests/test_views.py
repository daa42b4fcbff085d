"""The CMDB web pages: CI list and saved filters, CI page, forms, import wizard, stale CIs."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from opsdesk.cmdb.models import CISourceRecord, ConfigurationItem, Relationship, SavedFilter
from opsdesk.cmdb.tests.factories import ci, relate
from opsdesk.core.models import AuditRecord

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def listed(response) -> list[str]:  # type: ignore[no-untyped-def]
    """CI names in the result table of the list page."""
    return re.findall(r'<td class="object"><a href="/cmdb/cis/\d+/">([^<]+)</a>', text(response))


@pytest.fixture
def banking(cast):  # type: ignore[no-untyped-def]
    """Online banking (tier 1) -> banking-api -> db-07 -> srv-db-07 in org A; a twin in B."""
    a = cast.org_a
    service = ci(a, "Online banking", "business_service", criticality=1, country="ZA")
    crm = ci(a, "CRM", "business_service", criticality=3)
    api = ci(a, "banking-api", "application", owner_team=cast.team_a, country="ZA")
    db = ci(a, "db-07", "database", attributes={"engine": "postgresql"})
    server = ci(
        a,
        "srv-db-07",
        "server",
        country="ZA",
        tags=["pci"],
        attributes={"os": "Ubuntu", "cpu_cores": 16, "fqdn": "srv-db-07.acme.test"},
    )
    spare = ci(a, "srv-spare-01", "server", status="retired", environment="test")
    relate(service, "depends_on", api)
    relate(crm, "depends_on", api)
    relate(api, "depends_on", db)
    relate(db, "runs_on", server)
    other = ci(cast.org_b, "srv-db-07", "server", country="DE")
    return {"service": service, "api": api, "db": db, "server": server, "spare": spare, "b": other}


# --- Access and isolation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/cmdb/cis/", "/cmdb/cis/1/", "/cmdb/cis/new/", "/cmdb/imports/", "/cmdb/stale/"]
)
def test_pages_need_a_login(client, url):  # type: ignore[no-untyped-def]
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('login')}?next=")


def test_a_ci_of_another_organisation_is_not_found(cast, banking):  # type: ignore[no-untyped-def]
    agent = client_for(cast.agent)
    b = banking["b"].pk
    assert agent.get(f"/cmdb/cis/{b}/").status_code == 404
    assert agent.get(f"/cmdb/cis/{b}/impact.json").status_code == 404
    assert agent.get(f"/cmdb/cis/{b}/edit/").status_code == 404
    response = agent.post(
        f"/cmdb/cis/{banking['server'].pk}/relationships/",
        {"relation": "out:depends_on", "target": "srv-db-07"},
    )
    # The name resolves only within org A: "srv-db-07" there is the CI itself.
    assert response.status_code == 422
    assert not Relationship.objects.filter(target=banking["b"]).exists()
    # ... and the list shows org A's server only.
    response = agent.get("/cmdb/cis/?q=srv-db-07")
    assert listed(response) == ["srv-db-07"]
    assert f"/cmdb/cis/{b}/" not in text(response)


def test_requesters_see_no_cis(cast, banking):  # type: ignore[no-untyped-def]
    requester = client_for(cast.requester)
    assert requester.get(f"/cmdb/cis/{banking['server'].pk}/").status_code == 404
    assert listed(requester.get("/cmdb/cis/")) == []
    assert ">CMDB</a>" not in text(requester.get("/"))
    assert ">CMDB</a>" in text(client_for(cast.agent).get("/"))


def test_auditors_read_but_cannot_edit(cast, banking):  # type: ignore[no-untyped-def]
    auditor = client_for(cast.auditor)
    page = auditor.get(f"/cmdb/cis/{banking['server'].pk}/")
    assert page.status_code == 200
    assert "Edit</a>" not in text(page)
    assert "Add a relationship" not in text(page)
    assert auditor.get(f"/cmdb/cis/{banking['server'].pk}/edit/").status_code == 403
    response = auditor.post("/cmdb/cis/new/", {"name": "x", "ci_class": 1})
    assert response.status_code == 403


# --- CI list and filters -------------------------------------------------------------------------


def test_list_filters_use_the_api_words(cast, banking):  # type: ignore[no-untyped-def]
    agent = client_for(cast.agent)
    assert set(listed(agent.get("/cmdb/cis/"))) == {
        "Online banking",
        "CRM",
        "banking-api",
        "db-07",
        "srv-db-07",
        "srv-spare-01",
    }
    assert listed(agent.get("/cmdb/cis/?class=server")) == ["srv-db-07", "srv-spare-01"]
    assert listed(agent.get("/cmdb/cis/?class=server&status=retired")) == ["srv-spare-01"]
    assert listed(agent.get("/cmdb/cis/?environment=test")) == ["srv-spare-01"]
    assert listed(agent.get("/cmdb/cis/?criticality=1")) == ["Online banking"]
    assert listed(agent.get("/cmdb/cis/?tag=pci")) == ["srv-db-07"]
    assert listed(agent.get("/cmdb/cis/?country=za")) == sorted(
        ["Online banking", "banking-api", "srv-db-07"]
    )
    assert listed(agent.get(f"/cmdb/cis/?owner_team={cast.team_a.pk}")) == ["banking-api"]
    assert listed(agent.get("/cmdb/cis/?attribute=os%3DUbuntu")) == ["srv-db-07"]
    assert listed(agent.get("/cmdb/cis/?attribute=cpu_cores%3D16")) == ["srv-db-07"]
    assert listed(agent.get("/cmdb/cis/?q=bank")) == ["Online banking", "banking-api"]


def test_bad_filter_input_is_named_not_a_500(cast, banking):  # type: ignore[no-untyped-def]
    agent = client_for(cast.agent)
    response = agent.get("/cmdb/cis/?attribute=nonsense&criticality=9&class=spaceship")
    assert response.status_code == 200
    body = text(response)
    assert "Write the attribute filter as key=value." in body
    assert "Select a valid choice. 9 is not one of the available choices." in body
    assert "spaceship is not one of the available choices" in body


def test_htmx_filtering_returns_only_the_results(cast, banking):  # type: ignore[no-untyped-def]
    response = client_for(cast.agent).get("/cmdb/cis/?class=database", HTTP_HX_REQUEST="true")
    body = text(response)
    assert body.lstrip().startswith('<section id="ci-results"')
    assert "<html" not in body
    assert listed(response) == ["db-07"]
    assert "HX-Request" in response["Vary"]


def test_list_paginates(cast):  # type: ignore[no-untyped-def]
    for i in range(55):
        ci(cast.org_a, f"vm-{i:03d}", "server")
    agent = client_for(cast.agent)
    first = agent.get("/cmdb/cis/?class=server")
    assert len(listed(first)) == 50
    assert "Showing 1\N{EN DASH}50 of 55 CIs" in text(first)
    second = agent.get("/cmdb/cis/?class=server&page=2")
    assert listed(second) == [f"vm-{i:03d}" for i in range(50, 55)]


# --- Saved filters -----------------------------------------------------------------------------------


def test_saved_filters_personal_and_shared(cast, banking):  # type: ignore[no-untyped-def]
    agent, manager = client_for(cast.agent), client_for(cast.manager)
    response = agent.post(
        "/cmdb/filters/", {"name": "PCI servers", "query": "class=server&tag=pci&page=3&x=1"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/cmdb/cis/?class=server&tag=pci"
    saved = SavedFilter.objects.get(name="PCI servers")
    assert (saved.owner, saved.shared, saved.query) == (cast.agent, False, "class=server&tag=pci")
    assert AuditRecord.objects.filter(
        object_type="cmdb.savedfilter", object_id=str(saved.pk), action="create"
    ).exists()

    page = agent.get("/cmdb/cis/")
    assert "PCI servers" in text(page)
    # Applying it is following its link.
    assert listed(agent.get("/cmdb/cis/?" + saved.query)) == ["srv-db-07"]
    # A personal filter is the owner's only.
    assert "PCI servers" not in text(manager.get("/cmdb/cis/"))
    assert manager.post(f"/cmdb/filters/{saved.pk}/delete/").status_code == 404

    agent.post("/cmdb/filters/", {"name": "Crown jewels", "query": "criticality=1", "shared": "on"})
    shared = SavedFilter.objects.get(name="Crown jewels")
    assert "Crown jewels" in text(manager.get("/cmdb/cis/"))
    # Someone else's shared filter: visible, but only its owner (or an admin) deletes it.
    manager.post(f"/cmdb/filters/{shared.pk}/delete/", follow=True)
    assert SavedFilter.objects.filter(pk=shared.pk).exists()
    # Never visible in another organisation.
    assert "Crown jewels" not in text(client_for(cast.admin_b).get("/cmdb/cis/"))
    assert client_for(cast.admin_b).post(f"/cmdb/filters/{shared.pk}/delete/").status_code == 404
    # The admin of A tidies shared filters.
    client_for(cast.admin).post(f"/cmdb/filters/{shared.pk}/delete/")
    assert not SavedFilter.objects.filter(pk=shared.pk).exists()
    agent.post(f"/cmdb/filters/{saved.pk}/delete/")
    assert not SavedFilter.objects.filter(pk=saved.pk).exists()


def test_saving_an_empty_filter_is_refused(cast):  # type: ignore[no-untyped-def]
    response = client_for(cast.agent).post(
        "/cmdb/filters/", {"name": "Everything", "query": "page=2"}, follow=True
    )
    assert "Choose at least one filter before saving." in text(response)
    assert not SavedFilter.objects.exists()


# --- CI page ---------------------------------------------------------------------------------------


def test_ci_page_shows_what_a_server_can_take_down(cast, banking):  # type: ignore[no-untyped-def]
    server = banking["server"]
    response = client_for(cast.agent).get(f"/cmdb/cis/{server.pk}/")
    assert response.status_code == 200
    body = text(response)
    services = body[body.index('id="impact-services"') :]
    assert "Online banking" in services and "CRM" in services
    # The tier-1 service first, with its path from the failing server.
    assert services.index("Online banking") < services.index("CRM")
    path = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", services[: services.index("</li>")]))
    assert re.search(r"srv-db-07 → db-07 → banking-api → Online banking", path)
    assert "Tier 1" in services
    # The graph is drawn from JSON with the failing CI's id; no inline script or style.
    assert f'data-impact-url="/cmdb/cis/{server.pk}/impact.json"' in body
    assert "<script>" not in body and "style=" not in body
    # Attributes with their source, identifiers, relationships both ways.
    assert "Ubuntu" in body
    assert "srv-db-07.acme.test" in body
    assert "runs" in body and "db-07" in body


def test_impact_json_feeds_the_graph(cast, banking):  # type: ignore[no-untyped-def]
    response = client_for(cast.agent).get(f"/cmdb/cis/{banking['db'].pk}/impact.json?depth=1")
    data = json.loads(response.content)
    assert data["ci"]["name"] == "db-07"
    assert [c["name"] for c in data["upstream"]] == ["banking-api"]
    assert [c["name"] for c in data["downstream"]] == ["srv-db-07"]
    deep = client_for(cast.agent).get(f"/cmdb/cis/{banking['db'].pk}/impact.json?depth=x")
    assert {s["name"] for s in json.loads(deep.content)["services"]} == {"Online banking", "CRM"}


def test_depth_selector_updates_the_service_list(cast, banking):  # type: ignore[no-untyped-def]
    url = f"/cmdb/cis/{banking['server'].pk}/?part=services&depth=2"
    response = client_for(cast.agent).get(url, HTTP_HX_REQUEST="true")
    body = text(response)
    assert body.lstrip().startswith('<div id="impact-services"')
    assert "No business service depends on srv-db-07 within 2 steps." in body


# --- Forms call the actions ------------------------------------------------------------------------


def ci_form(**overrides):  # type: ignore[no-untyped-def]
    from opsdesk.cmdb.models import CIClass

    data = {
        "name": "web-01",
        "ci_class": CIClass.objects.get(key="server").pk,
        "status": "operational",
        "environment": "production",
        "data_classification": "internal",
        "country": "ke",
        "tags": "dmz, web",
        "attributes": '{"os": "Debian", "cpu_cores": 4}',
    }
    data.update(overrides)
    return data


def test_create_and_edit_a_ci_through_the_form(cast):  # type: ignore[no-untyped-def]
    agent = client_for(cast.agent)
    response = agent.post("/cmdb/cis/new/", ci_form(owner_team=cast.team_a.pk, criticality="2"))
    assert response.status_code == 302
    created = ConfigurationItem.objects.get(name="web-01")
    assert response["Location"] == f"/cmdb/cis/{created.pk}/"
    assert (created.country, created.tags, created.owner_team, created.criticality) == (
        "KE",
        ["dmz", "web"],
        cast.team_a,
        2,
    )
    assert created.attributes == {"os": "Debian", "cpu_cores": 4}
    assert created.attribute_sources["attributes.os"] == "manual"

    response = agent.post(
        f"/cmdb/cis/{created.pk}/edit/", ci_form(status="in_maintenance", criticality="2")
    )
    assert response.status_code == 302
    page = text(agent.get(f"/cmdb/cis/{created.pk}/"))
    history = page[page.index('id="history-heading"') :]
    assert "agent@a.test" in history
    assert re.search(r"status</span>: <span class=\"before\">operational</span>", history)
    assert "in_maintenance" in history
    assert history.index("Updated") < history.index("Created")


def test_the_form_refuses_bad_input_naming_the_field(cast):  # type: ignore[no-untyped-def]
    agent = client_for(cast.agent)
    response = agent.post("/cmdb/cis/new/", ci_form(attributes='{"cpu_cores": "many"}'))
    assert response.status_code == 422
    assert re.search(r'id="error-attributes">cpu_cores: .*is not of type', text(response))
    response = agent.post("/cmdb/cis/new/", ci_form(country="XX"))
    assert response.status_code == 422
    assert "is not an ISO 3166-1 alpha-2 country code" in text(response)
    response = agent.post("/cmdb/cis/new/", ci_form(attributes="[1, 2"))
    assert response.status_code == 422
    assert 'id="error-attributes">Not valid JSON' in text(response)
    response = agent.post("/cmdb/cis/new/", ci_form(owner_team=str(cast.team_b.pk)))
    assert response.status_code == 422
    assert 'id="error-owner_team"' in text(response)
    assert not ConfigurationItem.objects.filter(name="web-01").exists()
    # A twin (same FQDN) is refused on the identifying attribute.
    agent.post("/cmdb/cis/new/", ci_form(attributes='{"fqdn": "web-01.acme.test"}'))
    response = agent.post(
        "/cmdb/cis/new/", ci_form(name="web-01b", attributes='{"fqdn": "web-01.acme.test"}')
    )
    assert response.status_code == 422
    assert "already has" in text(response)


def test_add_and_remove_a_relationship(cast, banking):  # type: ignore[no-untyped-def]
    agent, manager = client_for(cast.agent), client_for(cast.manager)
    spare, api = banking["spare"], banking["api"]
    url = f"/cmdb/cis/{spare.pk}/relationships/"
    response = agent.post(url, {"relation": "in:runs_on", "target": "Banking-API"})
    assert response.status_code == 302
    rel = Relationship.objects.get(source=api, target=spare)
    assert rel.type.key == "runs_on"
    assert "banking-api" in text(agent.get(f"/cmdb/cis/{spare.pk}/"))

    response = agent.post(url, {"relation": "in:runs_on", "target": "banking-api"})
    assert response.status_code == 422
    assert "already runs on" in text(response)
    response = agent.post(url, {"relation": "out:depends_on", "target": "srv-spare-01"})
    assert response.status_code == 422
    assert "cannot depend on itself" in text(response)
    response = agent.post(url, {"relation": "out:depends_on", "target": "nowhere"})
    assert "No configuration item named “nowhere” here." in text(response)
    response = agent.post(url, {"relation": "out:teleports_to", "target": "db-07"})
    assert response.status_code == 422
    assert "Select a valid choice" in text(response)

    remove = f"/cmdb/cis/{spare.pk}/relationships/{rel.pk}/remove/"
    assert agent.post(remove).status_code == 403  # agents add, managers remove
    assert manager.post(remove).status_code == 302
    assert not Relationship.objects.filter(pk=rel.pk).exists()


# --- Stale CIs --------------------------------------------------------------------------------------


def test_stale_page_lists_cis_a_source_stopped_reporting(cast, banking):  # type: ignore[no-untyped-def]
    now = timezone.now()
    for item, age in ((banking["server"], 45), (banking["db"], 2), (banking["b"], 90)):
        CISourceRecord.objects.create(
            organization_id=item.organization_id,
            ci=item,
            source="azure-prod",
            first_seen=now - timedelta(days=100),
            last_seen=now - timedelta(days=age),
        )
    agent = client_for(cast.agent)
    body = text(agent.get("/cmdb/stale/?days=30"))
    assert "srv-db-07" in body and ">db-07</a>" not in body
    assert f"/cmdb/cis/{banking['b'].pk}/" not in body
    assert "1 stale CI" in body
    assert "0 stale CIs" in text(agent.get("/cmdb/stale/?days=60"))
    assert "0 stale CIs" in text(agent.get("/cmdb/stale/?days=30&source=aws"))
    assert agent.get("/cmdb/stale/?days=banana").status_code == 200


# --- Import wizard ------------------------------------------------------------------------------

CSV = (
    "class,name,status,environment,criticality,country,owner_team,attr:os,attr:fqdn,rel:runs_on\n"
    "server,lnx-101,operational,production,2,ZA,Service Desk A,Ubuntu,lnx-101.acme.test,\n"
    "application,billing,operational,production,1,ZA,,,,lnx-101\n"
)


def upload(client, content: str, name: str = "inventory.csv", **extra):  # type: ignore[no-untyped-def]
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = {"format": "csv", "source": "cmdb-sheet", **extra}
    data["file"] = SimpleUploadedFile(name, content.encode(), content_type="text/csv")
    return client.post("/cmdb/imports/new/", data)


def work(job_id: int) -> None:
    """What the worker does with the queued task."""
    from opsdesk.cmdb.imports import run_import

    run_import(job_id)


def test_import_wizard_preview_then_run(cast):  # type: ignore[no-untyped-def]
    from opsdesk.cmdb.models import ImportJob

    agent = client_for(cast.agent)
    response = upload(agent, CSV)
    assert response.status_code == 302
    preview = ImportJob.objects.get()
    assert preview.dry_run and preview.created_by == cast.agent
    assert response["Location"] == f"/cmdb/imports/{preview.pk}/"

    # Queued: the page polls every second.
    page = text(agent.get(response["Location"]))
    assert 'hx-trigger="every 1s"' in page and "Waiting for a worker" in page
    work(preview.pk)
    partial = text(agent.get(response["Location"], HTTP_HX_REQUEST="true"))
    assert partial.lstrip().startswith('<section id="import-progress"')
    assert "every 1s" not in partial  # finished: polling stops
    assert re.search(r'data-count="created">2<', partial)
    assert "Would create" in partial
    assert re.search(
        r"<td>lnx-101</td>\s*<td class=\"mono\">server</td>\s*<td><span[^>]*>create<", partial
    )
    assert "Run the import" in partial
    assert not ConfigurationItem.objects.filter(name="lnx-101").exists()  # a preview only

    response = agent.post(f"/cmdb/imports/{preview.pk}/run/")
    job = ImportJob.objects.exclude(pk=preview.pk).get()
    assert response["Location"] == f"/cmdb/imports/{job.pk}/"
    assert not job.dry_run and bytes(job.payload) == CSV.encode()
    work(job.pk)
    page = text(agent.get(f"/cmdb/imports/{job.pk}/"))
    assert 'value="100"' in page and "2 of 2 rows" in page
    assert re.search(r'data-count="created">2<', page)
    server = ConfigurationItem.objects.get(name="lnx-101", organization=cast.org_a)
    assert server.owner_team == cast.team_a
    assert Relationship.objects.filter(source__name="billing", target=server).exists()
    assert "Discovered by" in text(agent.get(f"/cmdb/cis/{server.pk}/"))
    listing = text(agent.get("/cmdb/imports/"))
    assert job.number in listing and preview.number in listing

    # The same file again: a preview that changes nothing.
    upload(agent, CSV)
    again = ImportJob.objects.order_by("-pk").first()
    work(again.pk)
    assert re.search(r'data-count="unchanged">2<', text(agent.get(f"/cmdb/imports/{again.pk}/")))


def test_import_report_names_row_and_field_and_partial_is_a_choice(cast):  # type: ignore[no-untyped-def]
    from opsdesk.cmdb.models import ImportJob

    agent = client_for(cast.agent)
    bad = CSV + "server,lnx-102,exploded,production,7,ZA,,,,\n"
    upload(agent, bad)
    preview = ImportJob.objects.get()
    work(preview.pk)
    page = text(agent.get(f"/cmdb/imports/{preview.pk}/"))
    assert re.search(r'<td class="num mono">4</td><td class="mono">status</td>', page)
    assert re.search(r'<td class="num mono">4</td><td class="mono">criticality</td>', page)
    assert "choose partial" in page
    # Without partial the run is refused; with it, the valid rows go in.
    response = agent.post(f"/cmdb/imports/{preview.pk}/run/", follow=True)
    assert "Some rows failed" in text(response)
    assert ImportJob.objects.count() == 1
    agent.post(f"/cmdb/imports/{preview.pk}/run/", {"partial": "on"})
    job = ImportJob.objects.exclude(pk=preview.pk).get()
    assert job.partial
    work(job.pk)
    assert ConfigurationItem.objects.filter(name="lnx-101").exists()
    assert not ConfigurationItem.objects.filter(name="lnx-102").exists()


def test_import_wizard_refuses_bad_input_and_other_organisations(cast):  # type: ignore[no-untyped-def]
    from opsdesk.cmdb.models import ImportJob

    agent = client_for(cast.agent)
    response = upload(agent, "", format="csv")
    assert response.status_code == 422
    assert "The submitted file is empty." in text(response)
    response = upload(agent, CSV, format="punchcards")
    assert response.status_code == 422
    assert 'id="error-format"' in text(response)
    response = upload(agent, CSV, source="bad source!")
    assert 'id="error-source"' in text(response)
    assert not ImportJob.objects.exists()
    upload(client_for(cast.admin_b), CSV)
    b_job = ImportJob.objects.get()
    assert agent.get(f"/cmdb/imports/{b_job.pk}/").status_code == 404
    assert agent.post(f"/cmdb/imports/{b_job.pk}/run/").status_code == 404
    assert b_job.number not in text(agent.get("/cmdb/imports/"))
    # Auditors read imports but do not start them.
    assert client_for(cast.auditor).get("/cmdb/imports/").status_code == 200
    assert upload(client_for(cast.auditor), CSV).status_code == 403


def test_long_lists_page_with_the_filters_kept(cast, client):
    from opsdesk.cmdb.tests.factories import ci as make_ci

    for i in range(55):
        make_ci(cast.org_a, f"pod-{i:02d}", "k8s_pod")
    make_ci(cast.org_a, "not-a-pod", "server")
    client.force_login(cast.agent)
    first = client.get("/cmdb/cis/", {"class": "k8s_pod"}).content.decode()
    assert "Page 1 of 2" in first and 'href="?class=k8s_pod&page=2"' in first
    second = client.get("/cmdb/cis/", {"class": "k8s_pod", "page": 2}).content.decode()
    assert "Page 2 of 2" in second and "pod-54" in second and "not-a-pod" not in second
    assert 'rel="prev"' in second and 'rel="next"' not in second
