"""Recording deployments: the standard change a pipeline opens and closes, idempotent
redelivery, failures, freezes, the deploy gate, and integrations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from opsdesk.changes import deployments
from opsdesk.changes.integration_actions import (
    check_signature,
    create_integration,
    find_integration,
    rotate_token,
    set_active,
)
from opsdesk.changes.models import Change, ChangeWindow, Deployment, PostImplementationReview
from opsdesk.changes.pipelines import normalised
from opsdesk.changes.tests.factories import ci, template, topology
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.servicedesk.actions import create_incident
from opsdesk.servicedesk.models import Activity

pytestmark = pytest.mark.django_db


def integration(cast: Any, org: Any = None, source: str = "generic", **kw: Any) -> Any:
    found, _, _ = create_integration(
        acting_user=cast.manager if org is None else None,
        organization=org or cast.org_a,
        name=kw.pop("name", f"{source} pipeline"),
        source=source,
        system="" if org is None else "test",
        **kw,
    )
    return found


def data(**values: Any) -> dict[str, Any]:
    values.setdefault("external_id", "run-1")
    values.setdefault("outcome", "success")
    return normalised(**values)


@pytest.fixture
def world(cast):  # type: ignore[no-untyped-def]
    cis = topology(cast.org_a)
    tpl = template(
        cast,
        name="Deploy banking app",
        match_cis=[cis["banking"], cis["app"]],
        match_environments=["production"],
        default_duration_minutes=30,
    )
    return cast, cis, tpl, integration(cast)


def test_a_successful_deployment_opens_and_closes_a_standard_change(world):
    _cast, cis, tpl, pipe = world
    start = timezone.now() - timedelta(minutes=20)
    end = start + timedelta(minutes=7)
    dep, created = deployments.record_deployment(
        integration=pipe,
        data=data(
            ci="bank-app",
            environment="production",
            version="2.4.1",
            started_at=start,
            finished_at=end,
            pipeline_url="https://ci.example.com/run/1",
        ),
    )
    assert created and dep.ci == cis["app"] and dep.change is not None
    change = Change.objects.get(pk=dep.change_id)
    assert change.template == tpl and change.change_type == "standard"
    assert change.state == "closed" and change.close_code == "successful"
    assert change.actual_start == start and change.actual_end == end
    assert "https://ci.example.com/run/1" in change.close_notes
    assert list(change.cis.all()) == [cis["app"]]
    states = Activity.objects.filter(subject_type="change", subject_id=change.pk, kind="state")
    assert [a.data["transition"] for a in states.order_by("at", "id")] == [
        "schedule",
        "implement",
        "complete",
        "close",
    ]
    assert {a.actor_name for a in states} == {"Pipeline: generic pipeline"}


def test_in_progress_leaves_the_change_in_implement_until_the_finished_event(world):
    _cast, _cis, _tpl, pipe = world
    start = timezone.now() - timedelta(minutes=5)
    dep, _ = deployments.record_deployment(
        integration=pipe,
        data=data(ci="bank-app", environment="production", outcome="in_progress", started_at=start),
    )
    change = Change.objects.get(pk=dep.change_id)
    assert change.state == "implement" and dep.finished_at is None
    again, created = deployments.record_deployment(
        integration=pipe,
        data=data(
            ci="bank-app", environment="production", finished_at=start + timedelta(minutes=3)
        ),
    )
    assert not created and again.pk == dep.pk and again.change_id == change.pk
    change.refresh_from_db()
    assert change.state == "closed" and change.close_code == "successful"
    assert Deployment.objects.count() == 1 and Change.objects.count() == 1


def test_redelivery_of_the_same_event_is_idempotent(world):
    _cast, _cis, _tpl, pipe = world
    payload = data(ci="bank-app", environment="production", version="1.0")
    first, _ = deployments.record_deployment(integration=pipe, data=payload)
    second, created = deployments.record_deployment(integration=pipe, data=payload)
    assert not created and first.pk == second.pk and first.change_id == second.change_id
    assert Deployment.objects.count() == 1 and Change.objects.count() == 1
    # A late "running" delivery does not reopen the result.
    late, _ = deployments.record_deployment(
        integration=pipe, data={**payload, "outcome": "in_progress"}
    )
    assert late.outcome == "success"


def test_a_failed_deployment_closes_the_change_as_failed_or_waits_for_its_review(world):
    _cast, _cis, _tpl, pipe = world
    dep, _ = deployments.record_deployment(
        integration=pipe,
        data=data(service="Online Banking", environment="production", outcome="failure"),
    )
    change = Change.objects.get(pk=dep.change_id)
    assert change.close_code == "failed"
    if change.state != "closed":
        # The reviews part requires a post-implementation review before a failed change
        # closes: the change waits in Review, and the deployment says so.
        assert change.state == "review"
        assert PostImplementationReview.objects.filter(change=change).exists()
        assert "review" in dep.flag


def test_no_template_means_a_deployment_without_change_and_a_flag(world):
    _cast, _cis, _tpl, pipe = world
    dep, _ = deployments.record_deployment(
        integration=pipe, data=data(ci="bank-app", environment="staging")
    )
    assert dep.change is None and not dep.during_freeze
    assert dep.flag == "No standard-change template matches bank-app in staging."


def test_a_deployment_during_a_freeze_is_recorded_without_a_change(world):
    cast, cis, _tpl, pipe = world
    now = timezone.now()
    freeze = ChangeWindow.objects.create(
        organization=cast.org_a,
        kind="freeze",
        name="Month-end freeze",
        starts_at=now - timedelta(hours=2),
        ends_at=now + timedelta(hours=2),
    )
    freeze.services.set([cis["banking"]])
    dep, _ = deployments.record_deployment(
        integration=pipe,
        data=data(ci="bank-app", environment="production", started_at=now - timedelta(minutes=5)),
    )
    assert dep.change is None and dep.during_freeze
    assert dep.flag == "Deployed during freeze Month-end freeze."
    assert Change.objects.count() == 0
    # A redelivery keeps it as it was: no change is faked afterwards.
    again, _ = deployments.record_deployment(
        integration=pipe,
        data=data(ci="bank-app", environment="production", started_at=now - timedelta(minutes=5)),
    )
    assert again.change is None and Change.objects.count() == 0


def test_the_target_is_resolved_in_the_integrations_organisation_only(world):
    cast, _cis, _tpl, pipe = world
    b_service = ci(cast.org_b, "B banking", "business_service")
    with pytest.raises(FieldError) as exc:
        deployments.record_deployment(integration=pipe, data=data(service=b_service.pk))
    assert "service" in exc.value.errors
    with pytest.raises(FieldError) as exc:
        deployments.record_deployment(integration=pipe, data=data(ci="B banking"))
    assert "ci" in exc.value.errors
    with pytest.raises(FieldError) as exc:
        deployments.record_deployment(integration=pipe, data=data())
    assert "service" in exc.value.errors
    assert Deployment.objects.count() == 0


def test_the_default_service_of_the_integration_is_used(world):
    cast, cis, _tpl, _pipe = world
    mail = integration(cast, name="mail", default_service=cis["email"])
    dep, _ = deployments.record_deployment(integration=mail, data=data(environment="production"))
    assert dep.service == cis["email"] and dep.ci is None


def test_a_disabled_integration_records_nothing(world):
    cast, _cis, _tpl, pipe = world
    set_active(acting_user=cast.manager, integration=pipe, active=False)
    with pytest.raises(Conflict):
        deployments.record_deployment(integration=pipe, data=data(ci="bank-app"))


# --- the gate --------------------------------------------------------------------------------


def test_the_gate_says_yes_when_nothing_stands_in_the_way(world):
    cast, cis, _tpl, _pipe = world
    answer = deployments.gate(cast.org_a, cis["app_srv"])
    assert answer["allowed"] is True and answer["reasons"] == []


def test_the_gate_says_no_inside_a_freeze_covering_the_cis_services(world):
    cast, cis, _tpl, _pipe = world
    now = timezone.now()
    freeze = ChangeWindow.objects.create(
        organization=cast.org_a,
        kind="freeze",
        name="Month-end freeze",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
    )
    freeze.services.set([cis["banking"]])
    answer = deployments.gate(cast.org_a, cis["app_srv"])  # the server the banking app runs on
    assert answer["allowed"] is False
    assert answer["reasons"][0].startswith("Freeze window Month-end freeze (")
    assert "Online Banking" in answer["reasons"][0]
    assert deployments.gate(cast.org_a, cis["mail_srv"])["allowed"] is True


def test_the_gate_says_no_while_a_p1_is_open_on_a_service_the_ci_can_take_down(world):
    cast, cis, _tpl, _pipe = world
    incident = create_incident(
        acting_user=cast.agent,
        organization=cast.org_a,
        title="Online banking is down",
        service=cis["banking"],
        impact=1,
        urgency=1,
    )
    assert incident.priority == 1
    answer = deployments.gate(cast.org_a, cis["db_srv"])
    assert answer["allowed"] is False
    assert answer["reasons"] == [
        f"P1 incident {incident.number} is open on Online Banking: Online banking is down"
    ]
    assert deployments.gate(cast.org_a, cis["mail_srv"])["allowed"] is True
    create_incident(
        acting_user=cast.agent,
        organization=cast.org_a,
        title="Slow mail",
        ci=cis["mail_srv"],
        impact=3,
        urgency=3,
    )
    assert deployments.gate(cast.org_a, cis["mail_srv"])["allowed"] is True


# --- integrations ----------------------------------------------------------------------------


def test_integrations_keep_only_a_hash_and_rotate(world):
    cast, _cis, _tpl, _pipe = world
    made, token, secret = create_integration(
        acting_user=cast.admin,
        organization=cast.org_a,
        name="gh",
        source="github",
        with_secret=True,
    )
    assert token.startswith("opsdi_") and token not in made.token_hash and secret
    assert find_integration(token) == made
    new = rotate_token(acting_user=cast.manager, integration=made)
    assert find_integration(token) is None and find_integration(new) == made
    with pytest.raises(PermissionDenied):
        create_integration(
            acting_user=cast.agent, organization=cast.org_a, name="x", source="gitlab"
        )
    with pytest.raises(FieldError) as exc:
        create_integration(
            acting_user=cast.admin, organization=cast.org_a, name="GH", source="github"
        )
    assert "name" in exc.value.errors


def test_github_signature_uses_the_published_test_vector(cast):
    made, _, _ = create_integration(
        acting_user=cast.admin, organization=cast.org_a, name="gh", source="github"
    )
    made.secret = "It's a Secret to Everybody"
    good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    check_signature(made, {"X-Hub-Signature-256": good}, b"Hello, World!")
    with pytest.raises(PermissionDenied):
        check_signature(made, {"X-Hub-Signature-256": good}, b"Hello, World?")
    with pytest.raises(PermissionDenied):
        check_signature(made, {}, b"Hello, World!")
