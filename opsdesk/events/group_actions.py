"""Operators' corrections of the grouping: merge groups, split a group, resolve a group.

Each action is atomic, checks that the operator may change alert groups of the
organisation, locks the groups it touches, records `GroupFeedback` (merge / split: what the
quality metrics count) and one `CorrelationDecision` per moved alert with method
``operator``, writes audit records of the groups before and after (alert groups are not
change-logged: the pipeline writes them by the thousand, so only operators' changes are
audited, here) and leaves work notes on the incidents concerned.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone

from opsdesk.core.actions import require
from opsdesk.core.audit import snapshot, write_record
from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError
from opsdesk.core.permissions import Action
from opsdesk.events.choices import EventStatus, FeedbackKind, GroupState, Method, worst
from opsdesk.events.models import (
    Alert,
    AlertEvent,
    AlertGroup,
    CorrelationDecision,
    CorrelationSettings,
    GroupFeedback,
)
from opsdesk.events.stages import incident as stage
from opsdesk.servicedesk import actions as desk
from opsdesk.servicedesk.choices import OPEN_STATES
from opsdesk.servicedesk.models import Incident

#: At most this many groups merged or alerts split in one action.
MAX_ITEMS = 200


def _who(user: Any) -> str:
    return getattr(user, "full_name", "") or getattr(user, "email", "") or "an operator"


def recount(group: AlertGroup) -> AlertGroup:
    """Recompute a group's counts, severity (worst firing, else worst), onset, last event and
    root-cause ranking from its alerts and events (after a merge or a split), and save them."""
    alerts = Alert.objects.filter(group=group)
    agg = alerts.aggregate(
        n=Count("id"),
        firing=Count("id", filter=Q(status=EventStatus.FIRING)),
        events=Sum("count"),
        onset=Min("starts_at"),
        last=Max("last_seen"),
    )
    events = AlertEvent.objects.filter(group=group).aggregate(last=Max("at"))
    firing_severities = set(
        alerts.filter(status=EventStatus.FIRING).values_list("severity", flat=True)
    )
    severities = firing_severities or set(alerts.values_list("severity", flat=True))
    group.alert_count = agg["n"] or 0
    group.firing_count = agg["firing"] or 0
    group.event_count = agg["events"] or 0
    if severities:
        group.severity = worst(*severities)
    if agg["onset"] is not None:
        group.onset_at = agg["onset"]
    lasts = [t for t in (agg["last"], events["last"]) if t is not None]
    if lasts:
        group.last_event_at = max(lasts)
    from opsdesk.events import rootcause

    group.root_causes = rootcause.rank(group) if group.alert_count else []
    group.cause_change_id = rootcause.cause_change_of(group.root_causes)
    group.save(
        update_fields=[
            "root_causes",
            "cause_change",
            "alert_count",
            "firing_count",
            "event_count",
            "severity",
            "onset_at",
            "last_event_at",
            "updated_at",
        ]
    )
    return group


def _audit(group: AlertGroup, before: dict[str, Any] | None) -> None:
    after = snapshot(group)
    write_record(group, "create" if before is None else "update", before, after)


def _lock(organization_id: int, ids: Iterable[int]) -> dict[int, AlertGroup]:
    return {
        g.pk: g
        for g in AlertGroup.objects.select_for_update(of=("self",))
        .filter(organization_id=organization_id, pk__in=list(ids))
        .select_related("incident", "organization")
        .order_by("pk")
    }


def _decisions(
    group: AlertGroup, alert_ids: list[int], reason: str, user: Any, now: datetime
) -> None:
    CorrelationDecision.objects.bulk_create(
        [
            CorrelationDecision(
                organization_id=group.organization_id,
                group=group,
                alert_id=alert_id,
                method=Method.OPERATOR,
                score=1.0,
                reason=reason,
                at=now,
                actor=user if getattr(user, "is_authenticated", False) else None,
            )
            for alert_id in alert_ids
        ]
    )


def _work_note(user: Any, incident: Incident | None, body: str, data: dict[str, Any]) -> None:
    if incident is None:
        return
    desk.add_comment(
        acting_user=user,
        subject=incident,
        body=body,
        public=False,
        data={"alert_group": True, **data},
    )


def _with_note(text: str, note: str) -> str:
    return f"{text} Note: {note.strip()}" if note.strip() else text


# --- merge -----------------------------------------------------------------------------------


@transaction.atomic
def merge_groups(
    *, acting_user: Any, target: AlertGroup, others: Iterable[AlertGroup], note: str = ""
) -> AlertGroup:
    """Move the alerts (and their history) of `others` into `target`; the others become
    MERGED with ``merged_into`` = target. Their incidents: the target keeps its own (or
    adopts the first open one of the others); every other open incident is resolved as a
    duplicate, unless a person has taken it further, in which case it gets a note."""
    org_id = target.organization_id
    require(acting_user, AlertGroup, Action.CHANGE, org_id)
    other_ids = list(dict.fromkeys(g.pk for g in others))
    if not other_ids:
        raise FieldError({"group_ids": "Choose at least one group to merge into this one."})
    if len(other_ids) > MAX_ITEMS:
        raise FieldError({"group_ids": f"At most {MAX_ITEMS} groups at a time."})
    if target.pk in other_ids:
        raise FieldError({"group_ids": "A group cannot be merged into itself."})
    locked = _lock(org_id, [target.pk, *other_ids])
    missing = [str(i) for i in other_ids if i not in locked]
    if missing:
        raise FieldError(
            {"group_ids": f"No alert group of this organisation has id {', '.join(missing)}."}
        )
    target = locked[target.pk]
    if target.state == GroupState.MERGED:
        raise Conflict(
            f"{target.number} was merged into another group; merge into that one.", field="state"
        )
    sources = [locked[i] for i in other_ids]
    merged_away = [g.number for g in sources if g.state == GroupState.MERGED]
    if merged_away:
        raise Conflict(
            f"Already merged into another group: {', '.join(merged_away)}.", field="group_ids"
        )
    now = timezone.now()
    before = {g.pk: snapshot(g) for g in [target, *sources]}
    moved: dict[int, list[int]] = {
        g.pk: list(Alert.objects.filter(group=g).values_list("pk", flat=True)) for g in sources
    }
    all_moved = [pk for ids in moved.values() for pk in ids]
    with acting_as(acting_user):
        Alert.objects.filter(pk__in=all_moved).update(group=target)
        AlertEvent.objects.filter(group_id__in=other_ids).update(group=target)
        numbers = ", ".join(g.number for g in sources)
        reason = _with_note(f"Merged from {numbers} by {_who(acting_user)}.", note)
        _decisions(target, all_moved, reason, acting_user, now)
        if (
            target.state == GroupState.RESOLVED
            and Alert.objects.filter(group=target, status=EventStatus.FIRING).exists()
        ):
            target.state, target.resolved_at = GroupState.OPEN, None
            target.save(update_fields=["state", "resolved_at", "updated_at"])
        # The incidents: the target keeps one, the others are duplicates.
        if target.incident is None or target.incident.state not in OPEN_STATES:
            adopt = next(
                (g.incident for g in sources if g.incident and g.incident.state in OPEN_STATES),
                None,
            )
            if adopt is not None:
                target.incident = adopt
                target.save(update_fields=["incident", "updated_at"])
        kept = target.incident
        for group in sources:
            group.state = GroupState.MERGED
            group.merged_into = target
            group.resolved_at = now
            group.save(update_fields=["state", "merged_into", "resolved_at", "updated_at"])
            GroupFeedback.objects.create(
                organization_id=org_id,
                kind=FeedbackKind.MERGE,
                group=target,
                other_group=group,
                alert_ids=moved[group.pk],
                note=note.strip(),
                actor=acting_user if getattr(acting_user, "is_authenticated", False) else None,
                at=now,
            )
            _settle_duplicate(acting_user, group, target, kept, note)
        recount(target)
        if kept is not None:
            _work_note(
                acting_user,
                kept,
                _with_note(
                    f"{_who(acting_user)} merged alert group(s) {numbers} into {target.number}: "
                    f"{len(all_moved)} alert(s) moved; {target.alert_count} alert(s) in all.",
                    note,
                ),
                {"group_id": target.pk, "merged": other_ids, "severity": target.severity},
            )
        for group in [target, *sources]:
            _audit(group, before[group.pk])
    return target


def _settle_duplicate(
    user: Any, group: AlertGroup, target: AlertGroup, kept: Incident | None, note: str
) -> None:
    incident = group.incident
    if incident is None or (kept is not None and incident.pk == kept.pk):
        return
    if incident.state not in OPEN_STATES:
        return
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    where = f" ({kept.number})" if kept is not None else ""
    text = _with_note(
        f"Alert group {group.number} was merged into {target.number}{where} by {_who(user)}.",
        note,
    )
    if stage.person_took_over(incident):
        _work_note(user, incident, f"{text} Left open: it is being worked.", {"group_id": group.pk})
        return
    desk.transition_incident(
        acting_user=user,
        incident=incident,
        transition="resolve",
        resolution_code=stage.resolution_code(incident.organization_id, stage.DUPLICATE_CODES),
        resolution_notes=f"Duplicate: {text}",
    )


# --- split -----------------------------------------------------------------------------------


@transaction.atomic
def split_group(
    *, acting_user: Any, group: AlertGroup, alerts: Iterable[Alert], note: str = ""
) -> AlertGroup:
    """Move the chosen alerts of `group` (not all of them) into a new group; it opens its own
    incident when the organisation's settings would open one for it."""
    org_id = group.organization_id
    require(acting_user, AlertGroup, Action.CHANGE, org_id)
    alert_ids = list(dict.fromkeys(a.pk for a in alerts))
    if not alert_ids:
        raise FieldError({"alert_ids": "Choose the alerts to split off."})
    if len(alert_ids) > MAX_ITEMS:
        raise FieldError({"alert_ids": f"At most {MAX_ITEMS} alerts at a time."})
    group = _lock(org_id, [group.pk])[group.pk]
    if group.state == GroupState.MERGED:
        raise Conflict(f"{group.number} was merged into another group.", field="state")
    chosen = list(
        Alert.objects.select_for_update()
        .filter(pk__in=alert_ids, group=group)
        .order_by("starts_at", "id")
    )
    found = {a.pk for a in chosen}
    missing = [str(i) for i in alert_ids if i not in found]
    if missing:
        raise FieldError({"alert_ids": f"Not alerts of {group.number}: {', '.join(missing)}."})
    if len(chosen) == Alert.objects.filter(group=group).count():
        raise FieldError({"alert_ids": "Leave at least one alert in the group."})
    now = timezone.now()
    before = snapshot(group)
    firing = [a for a in chosen if a.status == EventStatus.FIRING]
    with acting_as(acting_user):
        new = AlertGroup.objects.create(
            organization_id=org_id,
            title=chosen[0].title[:500],
            state=GroupState.OPEN if firing else GroupState.RESOLVED,
            severity=worst(*[a.severity for a in (firing or chosen)]),
            method=Method.OPERATOR,
            service=group.service,
            onset_at=chosen[0].starts_at,
            opened_at=now,
            last_event_at=max(a.last_seen for a in chosen),
            resolved_at=None if firing else now,
        )
        Alert.objects.filter(pk__in=found).update(group=new)
        AlertEvent.objects.filter(group=group, alert_id__in=found).update(group=new)
        reason = _with_note(f"Split off {group.number} by {_who(acting_user)}.", note)
        _decisions(new, [a.pk for a in chosen], reason, acting_user, now)
        GroupFeedback.objects.create(
            organization_id=org_id,
            kind=FeedbackKind.SPLIT,
            group=group,
            other_group=new,
            alert_ids=[a.pk for a in chosen],
            note=note.strip(),
            actor=acting_user if getattr(acting_user, "is_authenticated", False) else None,
            at=now,
        )
        recount(group)
        recount(new)
        conf = CorrelationSettings.for_org(org_id)
        if stage.wants_incident(new, conf):
            new.organization = group.organization
            stage.open_incident(new, conf, now, acting_user=acting_user)
        _work_note(
            acting_user,
            group.incident if group.incident and group.incident.state in OPEN_STATES else None,
            _with_note(
                f"{_who(acting_user)} split {len(chosen)} alert(s) off {group.number} into "
                f"{new.number}" + (f" ({new.incident.number})." if new.incident else "."),
                note,
            ),
            {"group_id": group.pk, "split_into": new.pk, "severity": group.severity},
        )
        _audit(group, before)
        _audit(new, None)
    return new


# --- resolve ---------------------------------------------------------------------------------


@transaction.atomic
def resolve_group(*, acting_user: Any, group: AlertGroup, note: str = "") -> AlertGroup:
    """Resolve an open group by hand, and its incident (the operator resolves it; another
    open group feeding the same incident keeps it open, with a note)."""
    org_id = group.organization_id
    require(acting_user, AlertGroup, Action.CHANGE, org_id)
    group = _lock(org_id, [group.pk])[group.pk]
    if group.state != GroupState.OPEN:
        raise Conflict(f"{group.number} is {group.get_state_display().lower()}.", field="state")
    before = snapshot(group)
    now = timezone.now()
    text = _with_note(f"Alert group {group.number} resolved by {_who(acting_user)}.", note)
    with acting_as(acting_user):
        group.state = GroupState.RESOLVED
        group.resolved_at = now
        group.save(update_fields=["state", "resolved_at", "updated_at"])
        incident = group.incident
        if incident is not None and incident.state in OPEN_STATES:
            incident = Incident.objects.select_for_update().get(pk=incident.pk)
            if stage._still_shared(incident.pk, group.pk):
                _work_note(
                    acting_user,
                    incident,
                    f"{text} Other alert groups of this incident are still open.",
                    {"group_id": group.pk},
                )
            else:
                desk.transition_incident(
                    acting_user=acting_user,
                    incident=incident,
                    transition="resolve",
                    resolution_code=stage.resolution_code(org_id, stage.CLEARED_CODES),
                    resolution_notes=text,
                )
        _audit(group, before)
    return group
