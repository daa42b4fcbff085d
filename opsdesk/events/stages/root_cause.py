"""Root cause: rank the candidates of every group that gained alerts in this batch (or has
no ranking yet) with `opsdesk.events.rootcause`, store them on the group and name the
change that likely caused it. Set-based: one ranking pass for all the batch's groups."""

from __future__ import annotations

from opsdesk.events import rootcause
from opsdesk.events.correlation.topology import Neighbourhood
from opsdesk.events.models import AlertGroup
from opsdesk.events.pipeline import Batch, stage
from opsdesk.events.stages.correlate import SCRATCH_GROWN, SCRATCH_HOOD
from opsdesk.events.stages.dedup import bulk_set


@stage("root_cause")
def root_cause(batch: Batch) -> None:
    if not batch.groups_touched:
        return
    grown: set[int] | None = batch.scratch.get(SCRATCH_GROWN)
    groups = [
        g
        for g in AlertGroup.objects.filter(pk__in=list(batch.groups_touched))
        if grown is None or g.pk in grown or not g.root_causes
    ]
    if not groups:
        return
    hood: Neighbourhood | None = batch.scratch.get(SCRATCH_HOOD)
    ranked = rootcause.rank_groups(
        groups, hood if hood and hood.hops >= rootcause.DOWN_HOPS else None
    )
    changed = []
    for group in groups:
        candidates = ranked.get(group.pk, [])
        cause = rootcause.cause_change_of(candidates)
        if candidates != group.root_causes or cause != group.cause_change_id:
            group.root_causes = candidates
            group.cause_change_id = cause
            changed.append(group)
    if changed:
        bulk_set(AlertGroup, changed, ["root_causes", "cause_change"])
