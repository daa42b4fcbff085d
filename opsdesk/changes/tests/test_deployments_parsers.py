"""Each source's parser on its published payload, the events that are not deployments, and
shapes refused with the field named. Fixtures: see fixtures/README.md."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from opsdesk.changes.pipelines import Ignored, PayloadError, parse

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_github_deployment_status_from_the_published_example():
    data = parse(
        "github",
        load("github-deployment_status-success.json"),
        {"X-GitHub-Event": "deployment_status"},
    )
    assert data["external_id"] == "deployment:145988746"
    assert data["outcome"] == "success"
    assert data["environment"] == "production"
    assert data["version"] == "master"
    assert data["commit_sha"] == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
    assert data["repository"] == "Codertocat/Hello-World"
    assert data["triggered_by"] == "Codertocat"
    assert data["started_at"] == datetime(2019, 5, 15, 15, 20, 53, tzinfo=UTC)
    assert data["finished_at"] == datetime(2019, 5, 15, 15, 20, 55, tzinfo=UTC)
    assert data["pipeline_url"] == "https://github.com/Codertocat/Hello-World/deployments"
    assert data["service"] is None and data["ci"] is None


def test_github_custom_deployment_payload_names_the_service_and_version():
    payload = load("github-deployment_status-success.json")
    payload["deployment"]["payload"] = {"service": "Online Banking", "version": "2.4.1"}
    payload["deployment_status"]["state"] = "in_progress"
    payload["deployment_status"]["log_url"] = "https://github.com/o/r/actions/runs/1"
    data = parse("github", payload, {"x-github-event": "deployment_status"})
    assert (data["service"], data["version"], data["outcome"]) == (
        "Online Banking",
        "2.4.1",
        "in_progress",
    )
    assert data["finished_at"] is None
    assert data["pipeline_url"] == "https://github.com/o/r/actions/runs/1"


def test_github_ping_and_other_events_are_ignored_with_a_note():
    ping = parse("github", load("github-ping.json"), {"X-GitHub-Event": "ping"})
    assert isinstance(ping, Ignored) and "ping" in ping.note
    push = parse("github", {"ref": "refs/heads/main"}, {"X-GitHub-Event": "push"})
    assert isinstance(push, Ignored) and "push" in push.note
    inactive = load("github-deployment_status-success.json")
    inactive["deployment_status"]["state"] = "inactive"
    assert isinstance(parse("github", inactive, {"X-GitHub-Event": "deployment_status"}), Ignored)


def test_github_workflow_run_outcomes():
    run = {
        "action": "completed",
        "workflow_run": {
            "id": 289782451,
            "status": "completed",
            "conclusion": "failure",
            "run_started_at": "2020-10-05T16:33:49Z",
            "updated_at": "2020-10-05T16:40:00Z",
            "head_sha": "3484a3fb816e0859fd6e1cea078d76385ff50625",
            "html_url": "https://github.com/octo-org/octo-repo/actions/runs/289782451",
            "run_number": 163,
            "actor": {"login": "Codertocat"},
        },
        "repository": {"full_name": "octo-org/octo-repo"},
    }
    data = parse("github", run, {"X-GitHub-Event": "workflow_run"})
    assert data["external_id"] == "workflow_run:289782451"
    assert data["outcome"] == "failure"
    assert data["finished_at"] - data["started_at"] == timedelta(minutes=6, seconds=11)
    run["workflow_run"]["conclusion"] = "skipped"
    assert isinstance(parse("github", run, {"X-GitHub-Event": "workflow_run"}), Ignored)


def test_gitlab_deployment_event_from_the_published_example():
    data = parse("gitlab", load("gitlab-deployment-success.json"), {})
    assert data["external_id"] == "15"
    assert data["outcome"] == "success"
    assert data["environment"] == "staging"
    assert data["version"] == "279484c0"
    assert data["commit_sha"] == "279484c09fbe69ededfced8c1bb6e6d24616b468"
    assert data["repository"] == "root/test-deployment-webhooks"
    assert data["triggered_by"] == "root"
    assert data["finished_at"] == datetime(2021, 4, 28, 21, 50, tzinfo=timezone(timedelta(hours=2)))
    assert data["pipeline_url"].endswith("/-/jobs/796")


def test_gitlab_running_then_other_hooks():
    payload = load("gitlab-deployment-success.json")
    payload["status"] = "running"
    data = parse("gitlab", payload, {})
    assert data["outcome"] == "in_progress" and data["started_at"] and not data["finished_at"]
    note = parse("gitlab", {"object_kind": "push"}, {"X-Gitlab-Event": "Push Hook"})
    assert isinstance(note, Ignored) and "Push Hook" in note.note


def test_azure_devops_release_deployment_completed_from_the_published_example():
    data = parse("azure-devops", load("azure-devops-release-deployment-completed.json"), {})
    assert data["external_id"] == "release:1:environment:5"
    assert data["outcome"] == "success" and data["partial"] is False
    assert data["environment"] == "Dev"
    assert data["version"] == "Release-1"
    assert data["repository"] == "Fabrikam"
    assert data["finished_at"].year == 2016
    assert data["pipeline_url"].startswith("http://fabfiber.vsrm.visualstudio.com/")


def test_azure_devops_statuses_and_builds():
    payload = load("azure-devops-release-deployment-completed.json")
    payload["resource"]["environment"]["status"] = "partiallySucceeded"
    assert parse("azure-devops", payload, {})["partial"] is True
    payload["resource"]["environment"]["status"] = "rejected"
    assert parse("azure-devops", payload, {})["outcome"] == "failure"
    build = {
        "eventType": "build.complete",
        "resource": {
            "id": 2,
            "buildNumber": "ConsumerAddressModule_20150407.1",
            "url": "https://dev.azure.com/fabrikam-fiber-inc/DefaultCollection/x/_apis/build/Builds/2",
            "startTime": "2015-04-07T18:04:06.83Z",
            "finishTime": "2015-04-07T18:06:10.69Z",
            "status": "succeeded",
            "sourceGetVersion": "LG:refs/heads/master:600c52d2d5b655caa111abfd863e5a9bd304bb0e",
            "definition": {"name": "ConsumerAddressModule"},
        },
    }
    data = parse("azure-devops", build, {})
    assert data["external_id"] == "build:2"
    assert data["commit_sha"] == "600c52d2d5b655caa111abfd863e5a9bd304bb0e"
    assert data["outcome"] == "success"
    other = parse("azure-devops", {"eventType": "git.push"}, {})
    assert isinstance(other, Ignored)


def test_generic_shape():
    data = parse(
        "generic",
        {
            "external_id": "jenkins-42",
            "service": "Online Banking",
            "environment": "production",
            "version": "1.2.3",
            "outcome": "failure",
            "started_at": "2026-01-05T10:00:00Z",
            "finished_at": "2026-01-05T10:07:00Z",
            "commit": "abcdef1",
            "url": "https://ci.example.com/job/42",
        },
        {},
    )
    assert data["outcome"] == "failure" and data["commit_sha"] == "abcdef1"
    assert data["pipeline_url"] == "https://ci.example.com/job/42"


@pytest.mark.parametrize(
    ("source", "payload", "headers", "field"),
    [
        (
            "github",
            {"deployment_status": {"state": "success"}},
            {"X-GitHub-Event": "deployment_status"},
            "deployment.id",
        ),
        (
            "github",
            {"deployment_status": {}},
            {"X-GitHub-Event": "deployment_status"},
            "deployment_status.state",
        ),
        (
            "github",
            {"deployment_status": {"state": "weird"}},
            {"X-GitHub-Event": "deployment_status"},
            "deployment_status.state",
        ),
        ("gitlab", {"object_kind": "deployment", "status": "success"}, {}, "deployment_id"),
        (
            "gitlab",
            {
                "object_kind": "deployment",
                "status": "success",
                "deployment_id": 1,
                "status_changed_at": "yesterday",
            },
            {},
            "status_changed_at",
        ),
        ("azure-devops", {"resource": {}}, {}, "eventType"),
        (
            "azure-devops",
            {"eventType": "ms.vss-release.deployment-completed-event", "resource": {}},
            {},
            "resource.environment",
        ),
        ("generic", {"service": "x"}, {}, "external_id"),
        ("generic", {"external_id": "1", "outcome": "exploded"}, {}, "outcome"),
        ("generic", {"external_id": "1", "commit": "not-a-sha"}, {}, "commit"),
        ("generic", {"external_id": "1", "surprise": 1}, {}, "surprise"),
    ],
)
def test_bad_shapes_name_the_field(source, payload, headers, field):
    with pytest.raises(PayloadError) as exc:
        parse(source, payload, headers)
    assert exc.value.field == field


def test_a_body_that_is_not_an_object_is_refused():
    with pytest.raises(PayloadError) as exc:
        parse("gitlab", ["not", "an", "object"], {})
    assert exc.value.field == "body"
