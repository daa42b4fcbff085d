"""`opsdesk events replay` and `export`: recorded streams through the adapters and inbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from opsdesk.core.errors import FieldError
from opsdesk.events import inbox, replay
from opsdesk.events.models import Alert, InboxEntry
from opsdesk.events.tests.helpers import integration, post

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def line(seconds: float, fingerprint: str, source: str = "generic") -> str:
    body = {"title": f"Check {fingerprint} failing", "fingerprint": fingerprint}
    return json.dumps(
        {"at": (T0 + timedelta(seconds=seconds)).isoformat(), "source": source, "body": body}
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def test_relative_timing_divided_by_speed(cast):
    integration(cast.org_a)
    clock = FakeClock()
    lines = [line(0, "a"), line(10, "b"), line(30, "a")]
    result = replay.replay(
        replay.read(lines), organization=cast.org_a, speed=10, sleep=clock.sleep, clock=clock
    )
    assert clock.sleeps == [1.0, 2.0]
    assert (result.records, result.requests, result.events) == (3, 3, 3)
    assert InboxEntry.objects.filter(organization=cast.org_a).count() == 3
    inbox.drain("t")
    assert Alert.objects.get(organization=cast.org_a, fingerprint="a").count == 2


def test_speed_zero_never_waits_and_bad_lines_are_reported(cast):
    integration(cast.org_a)
    clock = FakeClock()
    bad = json.dumps({"at": T0.isoformat(), "source": "generic", "body": {"severity": "x"}})
    result = replay.replay(
        replay.read([line(0, "a"), bad, line(3600, "b")]),
        organization=cast.org_a,
        speed=0,
        sleep=clock.sleep,
        clock=clock,
    )
    assert clock.sleeps == []
    assert result.requests == 2
    assert len(result.rejected) == 1
    assert result.rejected[0].startswith("line 2: ")


def test_malformed_recordings_name_the_line():
    with pytest.raises(FieldError) as exc:
        list(replay.read([line(0, "a"), "{nope"]))
    assert "line 2" in exc.value.errors["file"]
    with pytest.raises(FieldError) as exc:
        list(replay.read([json.dumps({"source": "nagios", "body": {}})]))
    assert "source" in exc.value.errors
    with pytest.raises(FieldError) as exc:
        list(replay.read([json.dumps({"source": "generic", "at": "soon", "body": {}})]))
    assert "at" in exc.value.errors


def test_integration_must_exist_and_take_the_source(cast):
    with pytest.raises(FieldError) as exc:
        replay.replay(replay.read([line(0, "a")]), organization=cast.org_a, speed=0)
    assert "integration" in exc.value.errors
    integration(cast.org_a, source="zabbix", name="zbx")
    with pytest.raises(FieldError) as exc:
        replay.replay(
            replay.read([line(0, "a")]), organization=cast.org_a, integration_name="zbx", speed=0
        )
    assert "not generic" in exc.value.errors["integration"]


def test_export_then_replay_into_another_organisation(cast, api_client, tmp_path: Path):
    _, token, _ = integration(cast.org_a)
    integration(cast.org_b)
    for fp in ("x", "y", "x"):
        assert (
            post(api_client, "generic", {"title": f"T {fp}", "fingerprint": fp}, token).status_code
            == 202
        )
    out = tmp_path / "export.jsonl"
    call_command("events", "export", "--org", cast.org_a.slug, "-o", str(out), stderr=StringIO())
    assert len(out.read_text().splitlines()) == 3
    stdout = StringIO()
    call_command(
        "events",
        "replay",
        str(out),
        "--speed",
        "0",
        "--org",
        cast.org_b.slug,
        "--process",
        stdout=stdout,
        stderr=StringIO(),
    )
    assert "3 requests, 3 events into the inbox" in stdout.getvalue()
    counts = dict(Alert.objects.filter(organization=cast.org_b).values_list("fingerprint", "count"))
    assert counts == {"x": 2, "y": 1}


def test_truncated_raw_bodies_replay_their_stored_events(cast):
    integration(cast.org_a)
    record = {
        "at": T0.isoformat(),
        "source": "generic",
        "body": '{"events": [{"title": "cut',
        "truncated": True,
        "events": [
            {
                "source": "generic",
                "status": "firing",
                "severity": "major",
                "title": "Big",
                "fingerprint": "big",
            }
        ],
    }
    result = replay.replay(replay.read([json.dumps(record)]), organization=cast.org_a, speed=0)
    assert result.events == 1
    inbox.drain("t")
    assert Alert.objects.filter(organization=cast.org_a, fingerprint="big").exists()


def test_command_errors_name_the_argument(cast, tmp_path: Path):
    with pytest.raises(CommandError, match="FILE"):
        call_command("events", "replay", str(tmp_path / "none.jsonl"), "--org", cast.org_a.slug)
    path = tmp_path / "r.jsonl"
    path.write_text(line(0, "a") + "\n")
    with pytest.raises(CommandError, match="--org"):
        call_command("events", "replay", str(path), "--org", "nope")
    with pytest.raises(CommandError, match="speed"):
        integration(cast.org_a)
        call_command("events", "replay", str(path), "--org", cast.org_a.slug, "--speed", "-1")
