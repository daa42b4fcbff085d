"""The imports API: upload, background run with progress, report; stale CIs; isolation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from opsdesk.cmdb.models import CISourceRecord, ConfigurationItem, ImportJob
from opsdesk.core.models import AuditRecord
from opsdesk.core.testing.api import ApiClient, assert_error

pytestmark = pytest.mark.django_db(transaction=True)
K8S = Path(__file__).parent / "fixtures" / "kubernetes"


def upload(api: ApiClient, org_id: int, fmt: str, name: str, content: bytes, **form):
    data = {
        "file": SimpleUploadedFile(name, content),
        "organization_id": org_id,
        "format": fmt,
        **form,
    }
    return api.client.post("/api/v1/imports", data, **api.headers)


def run_worker() -> None:
    call_command("worker", "--batch", "--no-scheduler", verbosity=0)


def test_upload_runs_in_the_background_and_reports(cast, client):
    api = ApiClient(client, cast.agent)
    resp = upload(
        api,
        cast.org_a.pk,
        "kubernetes",
        "nodes.json",
        (K8S / "nodes.NodeList.json").read_bytes(),
        source="kind-prod",
    )
    assert resp.status_code == 202, resp.content
    job = resp.json()
    assert job["status"] == "pending" and job["percent"] == 0 and job["source"] == "kind-prod"
    run_worker()
    detail = api.get(f"/imports/{job['id']}").json()
    assert detail["status"] == "succeeded"
    assert detail["percent"] == 100
    assert (detail["created"], detail["failed"], detail["relationships_created"]) == (4, 0, 3)
    assert detail["report"] == []
    listed = api.get("/imports", {"organization": cast.org_a.pk, "status": "succeeded"}).json()
    assert [i["id"] for i in listed["items"]] == [job["id"]]
    # The same file again: everything unchanged, no audit record written.
    audit = AuditRecord.objects.count()
    again = upload(
        api,
        cast.org_a.pk,
        "kubernetes",
        "nodes.json",
        (K8S / "nodes.NodeList.json").read_bytes(),
        source="kind-prod",
    ).json()
    run_worker()
    detail = api.get(f"/imports/{again['id']}").json()
    assert (detail["created"], detail["updated"], detail["unchanged"]) == (0, 0, 4)
    assert AuditRecord.objects.count() == audit


def test_a_malformed_csv_fails_with_a_report_and_changes_nothing(cast, client):
    api = ApiClient(client, cast.agent)
    csv = b"class,name,country,criticality\nserver,a,ZA,1\nserver,b,ZZ,1\nrocket,c,ZA,1\nserver,d,ZA,high\n"
    job = upload(api, cast.org_a.pk, "csv", "servers.csv", csv).json()
    run_worker()
    detail = api.get(f"/imports/{job['id']}").json()
    assert detail["status"] == "failed"
    assert {(r["row"], r["field"]) for r in detail["report"]} == {
        (3, "country"),
        (4, "class"),
        (5, "criticality"),
    }
    assert detail["created"] == 0 and detail["failed"] == 3
    assert not ConfigurationItem.objects.exists()
    # Partial: the valid row goes in.
    job = upload(api, cast.org_a.pk, "csv", "servers.csv", csv, partial="true").json()
    run_worker()
    detail = api.get(f"/imports/{job['id']}").json()
    assert detail["status"] == "succeeded" and detail["created"] == 1 and detail["failed"] == 3
    assert list(ConfigurationItem.objects.values_list("name", flat=True)) == ["a"]


def test_bad_json_and_dry_run(cast, client):
    api = ApiClient(client, cast.agent)
    job = upload(api, cast.org_a.pk, "azure", "broken.json", b'{"value": [').json()
    run_worker()
    detail = api.get(f"/imports/{job['id']}").json()
    assert detail["status"] == "failed" and detail["report"][0]["field"] == "file"
    job = upload(
        api, cast.org_a.pk, "csv", "p.csv", b"class,name\nserver,s1\n", dry_run="true"
    ).json()
    run_worker()
    detail = api.get(f"/imports/{job['id']}").json()
    assert detail["status"] == "succeeded"
    assert detail["preview"] == [
        {"row": 2, "name": "s1", "ci_class": "server", "action": "create", "changed": ["name"]}
    ]
    assert not ConfigurationItem.objects.exists()


def test_bad_uploads_name_the_field(cast, client, settings):
    api = ApiClient(client, cast.agent)
    assert_error(upload(api, cast.org_a.pk, "punchcards", "x.csv", b"a"), 422, "format")
    resp = api.client.post(
        "/api/v1/imports", {"organization_id": cast.org_a.pk, "format": "csv"}, **api.headers
    )
    assert_error(resp, 422, "file")
    # unknown form fields are refused, as unknown JSON fields are
    assert_error(
        upload(api, cast.org_a.pk, "csv", "x.csv", b"class,name\n", dryrun="true"), 422, "dryrun"
    )
    import opsdesk.cmdb.imports as imports

    limit = imports.MAX_IMPORT_BYTES
    imports.MAX_IMPORT_BYTES = 10
    try:
        assert_error(
            upload(api, cast.org_a.pk, "csv", "x.csv", b"class,name\nserver,a\n"), 422, "file"
        )
    finally:
        imports.MAX_IMPORT_BYTES = limit
    assert not ImportJob.objects.exists()


def test_permissions_and_isolation(cast, client):
    requester = ApiClient(client, cast.requester)
    assert_error(upload(requester, cast.org_a.pk, "csv", "x.csv", b"class,name\nserver,a\n"), 403)
    agent = ApiClient(client, cast.agent)
    assert_error(upload(agent, cast.org_b.pk, "csv", "x.csv", b"class,name\nserver,a\n"), 404)
    b_job = upload(
        ApiClient(client, cast.admin_b), cast.org_b.pk, "csv", "b.csv", b"class,name\nserver,b\n"
    ).json()
    assert_error(agent.get(f"/imports/{b_job['id']}"), 404)
    assert agent.get("/imports").json()["total"] == 0
    assert agent.get("/stale-cis", {"organization": cast.org_b.pk, "days": 0}).json()["total"] == 0


def test_stale_cis_api(cast, client):
    api = ApiClient(client, cast.agent)
    upload(
        api, cast.org_a.pk, "csv", "s.csv", b"class,name\nserver,old\nserver,new\n", source="scan"
    )
    run_worker()
    old = ConfigurationItem.objects.get(name="old")
    CISourceRecord.objects.filter(ci=old).update(last_seen=old.created_at - timedelta(days=10))
    resp = api.get("/stale-cis", {"organization": cast.org_a.pk, "days": 7})
    assert [c["name"] for c in resp.json()["items"]] == ["old"]
    assert (
        api.get("/stale-cis", {"organization": cast.org_a.pk, "days": 7, "source": "other"}).json()[
            "total"
        ]
        == 0
    )
    assert_error(api.get("/stale-cis", {"organization": cast.org_a.pk, "days": -1}), 422, "days")
