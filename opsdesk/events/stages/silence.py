"""Stage ``silence`` (first): events matching an active silence of the organisation are
marked suppressed (``item.suppressed_by = "silence #12: <comment>"``); they are still
deduplicated and stored, but open no group. Each silence counts what it muted
(``matched_count``).

A silence applies to the events *received* while it was active, so a backlog processed
after the silence ended is still muted. One query loads the organisation's silences for the
batch; matching is in memory; one UPDATE per silence that matched adds to its count.
"""

from __future__ import annotations

from collections import Counter

from django.db.models import F

from opsdesk.events import pipeline
from opsdesk.events.models import Silence
from opsdesk.events.silences import active_silences, event_values, matches

#: Every reason this stage gives starts so (dedup tells a silence's mark by it).
SILENCE_PREFIX = "silence #"
#: How much of the comment goes into the reason.
COMMENT_IN_REASON = 200


def reason(silence: Silence) -> str:
    comment = " ".join(silence.comment.split())
    if len(comment) > COMMENT_IN_REASON:
        comment = comment[: COMMENT_IN_REASON - 1] + "…"
    return f"{SILENCE_PREFIX}{silence.pk}: {comment}"


@pipeline.stage("silence")
def run(batch: pipeline.Batch) -> None:
    if not batch.items:
        return
    times = [item.event.received_at or batch.now for item in batch.items]
    silences = active_silences(batch.organization_id, min(times), max(times))
    if not silences:
        return
    counts: Counter[int] = Counter()
    reasons = {s.pk: reason(s) for s in silences}
    for item, at in zip(batch.items, times, strict=True):
        if item.suppressed_by:
            continue
        values = event_values(item.event.labels, item.event.resource)
        for silence in silences:
            if silence.is_active_at(at) and matches(silence.matchers, values):
                item.suppressed_by = reasons[silence.pk]
                counts[silence.pk] += 1
                break
    for pk, n in counts.items():
        # Bookkeeping, not a business change: kept out of the audit trail on purpose.
        Silence._base_manager.filter(pk=pk).update(matched_count=F("matched_count") + n)
