"""The evaluation on history: the ServiceNow event-log parser on a small fixture, the metrics,
and the experiment on a synthetic log whose answer is known (no database)."""

from __future__ import annotations

import csv
import io
import random
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from opsdesk.sla.evaluation import (
    EvaluationFileError,
    Queues,
    auc,
    evaluate_file,
    metrics,
    parse_date,
    read_log,
)

FIXTURE = Path(__file__).parent / "data" / "servicenow_events.csv"


def test_dates_are_day_first_and_question_marks_are_empty():
    assert parse_date("29/2/2016 01:16") == datetime(2016, 2, 29, 1, 16)
    assert parse_date("1/3/2016 8:05") == datetime(2016, 3, 1, 8, 5)
    assert parse_date("2016-03-01T08:05:00") == datetime(2016, 3, 1, 8, 5)
    assert parse_date("?") is None
    assert parse_date("31/2/2016 10:00") is None


def test_the_log_is_rebuilt_per_incident_in_update_order():
    incidents = {i.number: i for i in read_log(FIXTURE)}
    assert set(incidents) == {"INC0000001", "INC0000002"}  # INC3 has no made_sla
    first = incidents["INC0000001"]
    assert first.made_sla is False  # the last row's, not the first's
    assert first.opened_at == datetime(2016, 2, 29, 1, 16)
    assert first.resolved_at == datetime(2016, 3, 1, 9, 0)
    assert first.hours == pytest.approx(31 + 44 / 60)
    assert [u.group for u in first.updates] == ["Group 1", "Group 2", "Group 2", "Group 2"]
    # As it was at opening, and four hours in (after the reassignment).
    assert (first.at(0).group, first.at(0).priority) == ("Group 1", 3)
    assert first.at(4).group == "Group 2"
    assert first.at(48).priority == 2
    second = incidents["INC0000002"]
    assert second.made_sla is True
    assert second.at(0).group == ""  # "?" is empty
    # No resolved_at: resolved when it first reached Resolved.
    assert second.resolved_at == datetime(2016, 3, 1, 8, 50)


def test_the_log_is_read_from_a_zip(tmp_path):
    archive = tmp_path / "log.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(FIXTURE, "incident_event_log.csv")
    assert [i.number for i in read_log(archive)] == ["INC0000001", "INC0000002"]


def test_a_file_without_the_columns_is_refused(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("number,state\nINC1,New\n")
    with pytest.raises(EvaluationFileError, match="made_sla"):
        read_log(bad)
    with pytest.raises(EvaluationFileError, match="Too few"):
        evaluate_file(FIXTURE)


def test_queues_count_open_incidents_per_group_over_time():
    queues = Queues(read_log(FIXTURE))
    at = lambda text: parse_date(text).timestamp()  # noqa: E731
    assert queues.open_at("Group 1", at("29/2/2016 02:00")) == 1
    assert queues.open_at("Group 1", at("29/2/2016 04:00")) == 0
    assert queues.open_at("Group 2", at("1/3/2016 08:30")) == 1
    assert queues.open_at("", at("1/3/2016 08:30")) == 1
    # Group 1 held INC1 from 01:16 to 03:16, 2 of the 4 hours from 00:00 to 04:00.
    assert queues.average("Group 1", at("29/2/2016 00:00"), at("29/2/2016 04:00")) == 0.5
    assert queues.average("Group 1", at("29/2/2016 02:16"), at("29/2/2016 04:16")) == 0.5


def test_metrics_on_known_predictions():
    truth = [True, True, False, False]
    assert auc([0.9, 0.8, 0.2, 0.1], truth) == 1.0
    assert auc([0.1, 0.2, 0.8, 0.9], truth) == 0.0
    assert auc([0.5, 0.5, 0.5, 0.5], truth) == 0.5
    m = metrics([0.9, 0.2, 0.6, 0.1], truth)
    assert m["accuracy"] == 0.5
    assert m["precision_breach"] == 0.5
    assert m["recall_breach"] == 0.5
    assert m["brier"] == pytest.approx((0.01 + 0.64 + 0.36 + 0.01) / 4, abs=1e-4)
    assert metrics([0.1] * 4, truth)["precision_breach"] is None  # nothing predicted


def _synthetic_log(path: Path, incidents: int = 400) -> None:
    """Group Slow's incidents run two days and breach; Group Fast's take an hour and make it;
    Group Mixed's do either, by how long they run."""
    rng = random.Random(5)
    start = datetime(2016, 3, 1, 8, 0)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(
            [
                "number",
                "incident_state",
                "sys_mod_count",
                "made_sla",
                "opened_at",
                "sys_updated_at",
                "priority",
                "category",
                "assignment_group",
                "resolved_at",
            ]
        )
        for n in range(incidents):
            opened = start + timedelta(hours=2 * n)
            group = ("Group Slow", "Group Fast", "Group Mixed")[n % 3]
            slow = group == "Group Slow" or (group == "Group Mixed" and rng.random() < 0.5)
            resolved = opened + timedelta(hours=48 if slow else 1)
            fmt = lambda d: f"{d.day}/{d.month}/{d.year} {d.hour:02d}:{d.minute:02d}"  # noqa: E731
            made = "false" if slow else "true"
            number = f"INC{n:07d}"
            for mod, (state, at) in enumerate((("New", opened), ("Resolved", resolved))):
                row = [number, state, mod, made, fmt(opened), fmt(at), "3 - Moderate", "Cat"]
                out.writerow([*row, group, fmt(resolved)])


def test_the_model_beats_the_baselines_where_the_answer_is_known(tmp_path):
    log = tmp_path / "synthetic.csv"
    _synthetic_log(log)
    report = evaluate_file(log)
    assert report["incidents"] == 400
    assert report["train"] + report["test"] == 400
    opening = report["checkpoints"]["at_opening"]
    model, majority = opening["model"], opening["majority_baseline"]
    assert majority["auc"] == 0.5 and majority["recall_breach"] == 0.0
    assert model["auc"] > 0.9
    assert model["brier"] < majority["brier"]
    # Four hours in, only the slow ones are left, and every one of them breaches.
    later = report["checkpoints"]["at_4h"]
    assert later["model"]["breach_rate"] == 1.0
    assert later["model"]["recall_breach"] == 1.0


def test_a_text_stream_of_bytes_is_read():
    data = FIXTURE.read_bytes()
    assert len(read_log(io.BytesIO(data))) == 2
