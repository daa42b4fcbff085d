"""Stage ``flapping``: an alert whose status changed ``flap_transitions`` times within
``flap_window_seconds`` (`CorrelationSettings`) is marked ``flapping``; it is un-marked once
quiet, i.e. when its status changes within the last window fall to at most half the
threshold (the gap between the two thresholds keeps the mark itself from flapping).

The recent transition times are the alert's ``fired`` / ``resolved`` history rows
(`AlertEvent`): one query loads them for every alert of the batch that changed status and
every alert of the organisation still marked flapping, so the list is bounded by the window
and needs no extra storage; this batch's rows (from dedup, not written yet) are read from
``batch.history``. Marking and un-marking write
an ``AlertEvent`` of kind ``flapping`` (the note says which) and record the ids in
``batch.scratch["flapping_started"]`` / ``["flapping_stopped"]``.

What later stages do with a flapping alert (``alert.flapping``), and why: each transition
of a flapping alert is noise, not news.

* correlate: a flapping alert stays in the group it is in. Its status changes do not open
  a new group, do not re-open a resolved one, and do not move it to another group; while
  flapping it counts as *firing* for the group's resolution (its group does not resolve
  because the flapping alert happened to be resolved at that moment). A flapping alert that
  has no group yet (it started flapping in its first window) is correlated once, like any
  new alert.
* incident: no incident is opened, re-opened or resolved because of a flapping alert's
  transition; the start of flapping (``flapping_started``) is worth one timeline note on
  the group's incident, the end (``flapping_stopped``) another, after which the alert's
  current status counts again.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from opsdesk.events import pipeline
from opsdesk.events.models import Alert, AlertEvent
from opsdesk.events.stages.dedup import NOT_TRANSITIONS, state_time

TRANSITION_KINDS = ("fired", "resolved")
CHUNK = 2000


def _describe(n: int, window: timedelta) -> str:
    minutes = window.total_seconds() / 60
    span = f"{minutes:g} minutes" if minutes >= 1 else f"{window.total_seconds():g} seconds"
    return f"{n} status changes within {span}"


@pipeline.stage("flapping")
def run(batch: pipeline.Batch) -> None:
    threshold = batch.settings.flap_transitions
    window = timedelta(seconds=batch.settings.flap_window_seconds)
    if threshold < 2 or window.total_seconds() <= 0:
        return  # flapping detection is off
    quiet_at_most = threshold // 2
    alerts: dict[int, Alert] = {}
    changed: set[int] = set()
    for item in batch.items:
        if item.alert is not None:
            alerts.setdefault(item.alert.pk, item.alert)
            if item.status_changed:
                changed.add(item.alert.pk)
    for alert in Alert.objects.filter(organization_id=batch.organization_id, flapping=True):
        alerts.setdefault(alert.pk, alert)
    candidates = changed | {pk for pk, a in alerts.items() if a.flapping}
    if not candidates:
        return

    times: dict[int, list[datetime]] = defaultdict(list)
    ids = sorted(candidates)
    # The earliest transition that can matter: a window before the oldest event of the batch.
    oldest = min([batch.now, *(state_time(i.event, batch.now) for i in batch.items)])
    since = oldest - window
    for row in batch.history:
        pk = row.alert.pk
        if (
            pk in candidates
            and row.kind in TRANSITION_KINDS
            and row.at >= since
            and row.note not in NOT_TRANSITIONS
        ):
            times[pk].append(row.at)
    # Alerts this batch created have no rows in the database yet.
    stored = [pk for pk in ids if pk not in batch.new_alerts]
    for i in range(0, len(stored), CHUNK):
        rows = (
            AlertEvent.objects.filter(
                alert_id__any=stored[i : i + CHUNK], kind__in=TRANSITION_KINDS, at__gte=since
            )
            .exclude(note__in=NOT_TRANSITIONS)
            .values_list("alert_id", "at")
        )
        for alert_id, at in rows:
            times[alert_id].append(at)

    started, stopped, updated, history = set(), set(), [], []
    for pk in ids:
        alert = alerts[pk]
        seen = times.get(pk, [])
        # Measured back from the alert's latest change when it changed in this batch (so a
        # replayed burst is recognised), else from now.
        ref = max(seen) if pk in changed and seen else batch.now
        n = sum(1 for t in seen if ref - window <= t <= ref)
        if not alert.flapping and n >= threshold:
            alert.flapping = True
            started.add(pk)
            note = f"Started flapping: {_describe(n, window)}."
        elif alert.flapping and n <= quiet_at_most:
            alert.flapping = False
            stopped.add(pk)
            note = f"Stopped flapping: {_describe(n, window)}."
        else:
            continue
        updated.append(alert)
        history.append(
            pipeline.HistoryRow(
                alert,
                "flapping",
                ref,
                alert.status,
                alert.severity,
                note=note,
                group_id=alert.group_id,
            )
        )
    if updated:
        batch.changed(updated, ["flapping"])
        batch.add_history(history)
    batch.scratch["flapping_started"] = started
    batch.scratch["flapping_stopped"] = stopped
