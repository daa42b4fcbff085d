"""Deployments in the isolation meta-test (opsdesk/core/tests/test_api_access.py) and the
bad-input meta-test (opsdesk/core/tests/test_bad_input.py, ``REAL_IDS``).

The webhooks authenticate with a deployment integration's token, not a user's: the
meta-test has no kind for that, so they are listed as SELF (checked by (a): no token, a
garbage token or a user's token gets 401). What (b) would check for them, an integration of
A posting to a CI of B, is tested in test_deployments_api.py
(``test_an_integration_of_a_cannot_post_to_a_ci_of_b``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

OBJECT, LIST, SELF, REPORT = "object", "list", "self", "report"

OPERATIONS: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/deployments"): SELF,
    ("POST", "/api/v1/deployments/github"): SELF,
    ("POST", "/api/v1/deployments/gitlab"): SELF,
    ("POST", "/api/v1/deployments/azure-devops"): SELF,
    ("GET", "/api/v1/deployments"): LIST,
    ("GET", "/api/v1/deployments/{deployment_id}"): OBJECT,
    ("GET", "/api/v1/changes/gate"): REPORT,
}


def _ci(org: Any, name: str) -> Any:
    from opsdesk.cmdb.models import ConfigurationItem
    from opsdesk.cmdb.tests.factories import ci

    return ConfigurationItem.objects.filter(organization=org, name=name).first() or ci(
        org, name, "business_service"
    )


def _deployment(org: Any, external_id: str) -> Any:
    from opsdesk.changes.models import Deployment

    found = Deployment.objects.filter(organization=org, external_id=external_id).first()
    return found or Deployment.objects.create(
        organization=org,
        source="generic",
        external_id=external_id,
        service=_ci(org, f"deployed-{org.slug}"),
        environment="production",
        version="1.0.0",
        outcome="success",
    )


PATH_PARAMETERS: dict[str, Callable[[Any], int]] = {
    "deployment_id": lambda c: _deployment(c.org_b, "b-deploy-1").pk,
}

REAL_IDS: dict[str, Callable[[Any], int]] = {
    "deployment_id": lambda c: _deployment(c.org_a, "a-deploy-fuzz").pk,
}

BODIES: dict[tuple[str, str], Callable[[Any], dict]] = {
    ("POST", "/api/v1/deployments"): lambda c: {
        "external_id": "intruder-1",
        "service": _ci(c.org_b, "deployed-borealis-europe").pk,
        "outcome": "success",
    },
}

REPORTS: dict[tuple[str, str], Callable[[Any], dict]] = {
    ("GET", "/api/v1/changes/gate"): lambda c: {"ci": str(_ci(c.org_b, "b-gated").pk)},
}


def _is_b(c: Any, caller: Any, item: dict) -> bool:
    return item["organization_id"] == c.org_b.pk


LISTS: dict[str, tuple[Callable[..., bool], Callable[[Any], dict]]] = {
    "/api/v1/deployments": (_is_b, lambda c: {"organization": c.org_b.pk}),
}


def _rows(c: Any) -> None:
    _deployment(c.org_a, "a-deploy-1")
    _deployment(c.org_b, "b-deploy-1")


LIST_DATA: list[Callable[[Any], None]] = [_rows]
