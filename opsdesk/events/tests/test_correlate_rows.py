"""`GroupRows` keeps its dimensions, spans and sums exact under any sequence of changes: the
same as computing them from all of the rows again (what a cold read does)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from opsdesk.events.choices import SEVERITY_RANK
from opsdesk.events.correlation.state import DIMENSIONS, GroupRows, Row
from opsdesk.events.models import AlertGroup

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _random_row(rng: random.Random, old: Row | None) -> Row:
    start = T0 + timedelta(seconds=rng.randrange(0, 40))
    last = max(start, old.last_seen if old else start) + timedelta(seconds=rng.randrange(0, 5))
    return Row(
        rng.choice(["firing", "firing", "resolved"]),
        rng.choice(["critical", "major", "minor", "warning"]),
        old.starts_at if old and rng.random() < 0.7 else start,
        last,
        (old.count if old else 0) + rng.randrange(1, 3),
        rng.choice(["a", "b", "c"]),
        rng.choice([None, 1, 2, 3, 4]),
        rng.choice(["", "t1", "t2", "t3"]),
        rng.choice(["", "k1", "k2"]),
    )


def _expected(rows: dict[int, Row]) -> dict:
    dims = {}
    for name in DIMENSIONS:
        values: dict = {}
        for alert_id, row in sorted(rows.items(), key=lambda kv: (kv[1].last_seen, kv[0])):
            value = getattr(row, name)
            if value:
                span = values.get(value)
                start = row.starts_at
                values[value] = (
                    (min(span[0], start), max(span[1], start)) if span else (start, start)
                )
        dims[name] = list(values.items())
    ordered = sorted(rows.items(), key=lambda kv: (-kv[1].last_seen.timestamp(), -kv[0]))
    lead = min(
        ordered,
        key=lambda kv: (
            SEVERITY_RANK.get(kv[1].severity, 9) if kv[1].status == "firing" else 9,
            kv[1].starts_at,
        ),
    )
    starts = [r.starts_at for r in rows.values()]
    return {
        "dims": dims,
        "span": (min(starts), max(starts)),
        "events": sum(r.count for r in rows.values()),
        "firing": sorted(r.severity for r in rows.values() if r.status == "firing"),
        "last_seen": max(r.last_seen for r in rows.values()),
        "lead": lead[1].title,
    }


def _kept(group: GroupRows) -> dict:
    return {
        "dims": {
            name: [(v, group.dims[name].spans[v]) for v in group.dims[name].ordered()]
            for name in DIMENSIONS
        },
        "span": group.span,
        "events": group.events,
        "firing": sorted(group.firing.elements()),
        "last_seen": group.last_seen,
        "lead": group.lead(),
    }


def test_group_rows_stay_exact_under_random_changes():
    rng = random.Random(7)
    for _round in range(40):
        group = GroupRows(AlertGroup(), T0, (T0, T0))
        truth: dict[int, Row] = {}
        for _step in range(60):
            alert_id = rng.randrange(1, 15)
            row = _random_row(rng, truth.get(alert_id))
            truth[alert_id] = row
            group.put(alert_id, row)
            if rng.random() < 0.3:
                assert _kept(group) == _expected(truth)
        assert _kept(group) == _expected(truth)
        # Read whole (the cold path) gives the same.
        again = GroupRows(AlertGroup(), T0, (T0, T0), dict(truth))
        assert _kept(again) == _expected(truth)
