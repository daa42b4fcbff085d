"""`opsdesk sla recompute` rebuilds clocks from history; `opsdesk sla sweep` records what
is due."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.forms.models import model_to_dict

from opsdesk.servicedesk import actions
from opsdesk.sla.models import Clock, Recompute
from opsdesk.sla.sweep import sweep
from opsdesk.sla.tests.test_sweep import T0, H, open_incident, replay, setup_sla

pytestmark = pytest.mark.django_db

NOW = T0 + 5 * H


def _fields(clock: Clock) -> dict:
    values = model_to_dict(clock)
    values.pop("id")
    return values


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("sla", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_recompute_brings_a_deleted_clock_back_identical(cast, monkeypatch):
    setup_sla(cast.org_a, response_minutes={"3": 60})
    running = open_incident(cast, title="Running")
    done = open_incident(cast, title="Resolved")
    actions.transition_incident(
        acting_user=cast.agent,
        incident=done,
        transition="resolve",
        resolution_code="solved_permanently",
        resolution_notes="Fixed.",
        at=T0 + 2 * H,
    )
    replay(running, NOW)
    replay(done, NOW)
    before = {(c.subject_id, c.metric): _fields(c) for c in Clock.objects.all()}
    assert len(before) == 4
    Clock.objects.filter(subject_id=running.pk, metric="resolution").delete()
    Clock.objects.filter(subject_id=done.pk).update(due_at=None, elapsed_seconds=0)

    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    out, err = run("recompute", "--org", "acme-africa", "--all")
    after = {(c.subject_id, c.metric): _fields(c) for c in Clock.objects.all()}
    assert after == before
    assert "acme-africa: 2 ticket(s), 4 clock(s) recomputed" in out
    assert "2/2" in err  # the progress bar reached the end
    log = Recompute.objects.get()
    assert (log.tickets, log.clocks, log.reason) == (2, 4, "opsdesk sla recompute --all")
    # The sweep finds the recomputed clock's 50 % warning, and records it once.
    assert sweep(NOW).warnings == 1
    assert sweep(NOW).warnings == 0


def test_recompute_open_leaves_resolved_tickets_alone(cast, monkeypatch):
    setup_sla(cast.org_a)
    running = open_incident(cast, title="Running")
    done = open_incident(cast, title="Resolved")
    actions.transition_incident(
        acting_user=cast.agent,
        incident=done,
        transition="resolve",
        resolution_code="solved_permanently",
        resolution_notes="Fixed.",
        at=T0 + 2 * H,
    )
    Clock.objects.all().delete()
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    out, _ = run("recompute", "--org", "acme-africa")  # --open is the default
    assert list(Clock.objects.values_list("subject_id", flat=True)) == [running.pk]
    assert "1 ticket(s), 1 clock(s)" in out
    assert done.pk not in set(Clock.objects.values_list("subject_id", flat=True))


def test_sweep_command_reports_what_it_recorded(cast, monkeypatch):
    setup_sla(cast.org_a)
    open_incident(cast)
    monkeypatch.setattr("django.utils.timezone.now", lambda: T0 + 9 * H)
    out, _ = run("sweep", "--org", "acme-africa")
    assert out.strip() == (
        "acme-africa: 1 clock(s) due on 1 ticket(s); recorded 3 warning(s), 1 breach(es); "
        "0 escalation(s) performed"
    )
    out, _ = run("sweep")
    assert "recorded 0 warning(s), 0 breach(es)" in out


def test_unknown_organisation_is_an_error(cast):
    with pytest.raises(CommandError, match="No organisation with slug 'nope'"):
        run("recompute", "--org", "nope")
    with pytest.raises(CommandError):
        run("recompute", "--all", "--open")
