"""`opsdesk cmdb import` and `opsdesk cmdb stale`."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from opsdesk.cmdb.models import ConfigurationItem

pytestmark = pytest.mark.django_db
K8S = Path(__file__).parent / "fixtures" / "kubernetes"


def cmdb(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("cmdb", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_prints_counts_and_is_idempotent(cast):
    path = str(K8S / "pods-sonobuoy.PodList.json")
    out, _ = cmdb(
        "import",
        path,
        "--format",
        "kubernetes",
        "--organization",
        cast.org_a.slug,
        "--as",
        cast.admin.email,
    )
    assert "succeeded" in out and "created 6" in out and "failed 0" in out
    out, _ = cmdb(
        "import",
        path,
        "--format",
        "kubernetes",
        "--organization",
        cast.org_a.slug,
        "--as",
        cast.admin.email,
    )
    assert "created 0, updated 0, unchanged 6" in out


def test_failed_import_exits_non_zero_with_the_report(cast, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("class,name,country\nserver,x,QQ\n")
    with pytest.raises(CommandError):
        cmdb(
            "import",
            str(bad),
            "--format",
            "csv",
            "--organization",
            cast.org_a.slug,
            "--as",
            cast.admin.email,
        )
    assert not ConfigurationItem.objects.exists()
    with pytest.raises(CommandError, match="may not"):
        cmdb(
            "import",
            str(bad),
            "--format",
            "csv",
            "--organization",
            cast.org_a.slug,
            "--as",
            cast.requester.email,
        )
    with pytest.raises(CommandError, match="No organisation"):
        cmdb(
            "import",
            str(bad),
            "--format",
            "csv",
            "--organization",
            "nope",
            "--as",
            cast.admin.email,
        )


def test_report_rows_are_printed(cast, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("class,name,country\nserver,x,QQ\nserver,y,ZA\n")
    out = StringIO()
    with pytest.raises(CommandError):
        call_command(
            "cmdb",
            "import",
            str(bad),
            "--format",
            "csv",
            "--organization",
            cast.org_a.slug,
            "--as",
            cast.admin.email,
            stdout=out,
        )
    assert "row 2: country" in out.getvalue()
    out_dry, _ = cmdb(
        "import",
        str(bad),
        "--format",
        "csv",
        "--organization",
        cast.org_a.slug,
        "--as",
        cast.admin.email,
        "--partial",
        "--dry-run",
    )
    assert "preview row 3: create y" in out_dry
    assert not ConfigurationItem.objects.exists()


def test_stale(cast):
    cmdb(
        "import",
        str(K8S / "nodes.NodeList.json"),
        "--format",
        "kubernetes",
        "--organization",
        cast.org_a.slug,
        "--as",
        cast.admin.email,
    )
    out, _ = cmdb("stale", "--organization", cast.org_a.slug, "--days", "0")
    assert "4 stale CI(s)" in out
    out, _ = cmdb("stale", "--organization", cast.org_a.slug, "--days", "30")
    assert "0 stale CI(s)" in out
