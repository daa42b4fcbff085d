"""From a committed timeline activity to rows in the outbox.

`on_activity_recorded` listens to `opsdesk.servicedesk.timeline.activity_recorded`, which
is sent after the change's transaction committed. It maps the activity to an event, finds
who should hear about it, renders one message per recipient and channel into
`Notification` rows, and queues a task per row that sends it.

Who hears about what:

=============  ==========================================================================
event          recipients
=============  ==========================================================================
created        the requester (acknowledgement with the number)
assigned       the new assignee, or every member of the group when there is no assignee
comment        requester, watchers and assignee (public comment), never its author
work_note      assignee and the watchers who are agents, never its author
state_changed  requester and watchers
resolved       the requester
approval       the approver(s) named in the activity (``approver_id`` / ``approver_ids``)
sla_warning    the assignee (else the group's members) and whoever an SLA escalation names
sla_breach     as sla_warning, and the group's manager
=============  ==========================================================================

Never to an inactive user, never to someone who is no longer a member of the
organisation, never to a service-desk address (that would loop), and only on the
channels the person has not switched off (`NotificationPreference`). Active chat webhooks
of the organisation get every event they subscribe to, optionally only for one team.

The activities one transaction recorded arrive together (`activities_recorded`): their
tickets, the watchers of those tickets and the organisations' chat webhooks are loaded
once for all of them (`Planning`), then each activity is planned as on its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from email.utils import make_msgid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import NoReverseMatch, reverse

from opsdesk.accounts.models import Membership, Team, User
from opsdesk.core.permissions import Action, has_permission, organization_roles
from opsdesk.notify.choices import Event, NotificationStatus, PreferenceChannel, TemplateChannel
from opsdesk.notify.models import ChatWebhook, Notification, NotificationPreference
from opsdesk.notify.rendering import render
from opsdesk.servicedesk.choices import ActivityKind, IncidentState
from opsdesk.servicedesk.models import Activity, ServiceDeskSettings, Watcher
from opsdesk.servicedesk.timeline import activities_recorded

logger = logging.getLogger(__name__)


def is_requester_only(user: User, organization_id: int) -> bool:
    return not user.is_superuser and organization_roles(user).get(organization_id) == "requester"


def event_for(activity: Activity) -> str | None:
    kind = activity.kind
    if kind == ActivityKind.CREATED:
        return Event.CREATED
    if kind == ActivityKind.ASSIGNED:
        return Event.ASSIGNED
    if kind == ActivityKind.COMMENT:
        return Event.COMMENT
    if kind == ActivityKind.WORK_NOTE:
        return Event.WORK_NOTE
    if kind == ActivityKind.STATE:
        to = (activity.data or {}).get("to")
        return Event.RESOLVED if to == IncidentState.RESOLVED else Event.STATE_CHANGED
    if (
        kind == ActivityKind.APPROVAL
        and (activity.data or {}).get("event", "requested") == "requested"
        and _approver_ids(activity)
    ):
        return Event.APPROVAL
    if kind == ActivityKind.SLA:
        data = activity.data or {}
        if data.get("superseded"):  # a later threshold was recorded with it: mail that one
            return None
        return {"warning": Event.SLA_WARNING, "breach": Event.SLA_BREACH}.get(data.get("event"))
    return None


def _approver_ids(activity: Activity) -> list[int]:
    data = activity.data or {}
    ids = list(data.get("approver_ids") or [])
    if data.get("approver_id"):
        ids.append(data["approver_id"])
    return [int(i) for i in ids if isinstance(i, int) or str(i).isdigit()]


@dataclass
class Recipients:
    users: list[User] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)  # people without an account

    def add(self, user: User | None) -> None:
        if user is not None and all(u.pk != user.pk for u in self.users):
            self.users.append(user)


def load_subject(activity: Activity) -> Any:
    from opsdesk.servicedesk.timeline import subject_model

    try:
        model = subject_model(activity.subject_type)
    except Exception:
        return None
    return model._base_manager.filter(pk=activity.subject_id).first()


#: Events whose recipients include the ticket's watchers.
WATCHER_EVENTS = frozenset({Event.COMMENT, Event.WORK_NOTE, Event.STATE_CHANGED})


class Planning:
    """What planning the notifications of many activities shares, loaded once: their
    tickets, the watchers of those tickets, the organisations' chat webhooks and the
    service-desk addresses. Read after the activities' transaction committed, like
    `plan` reads them for one activity."""

    def __init__(self, activities: list[Activity]) -> None:
        from opsdesk.core.errors import FieldError
        from opsdesk.servicedesk.timeline import subject_model

        events = [(a, event_for(a)) for a in activities]
        events = [(a, e) for a, e in events if e is not None]
        ids: dict[str, set[int]] = {}
        watched: dict[str, set[int]] = {}
        for activity, event in events:
            ids.setdefault(activity.subject_type, set()).add(activity.subject_id)
            if event in WATCHER_EVENTS:
                watched.setdefault(activity.subject_type, set()).add(activity.subject_id)
        self.subjects: dict[tuple[str, int], Any] = {}
        for subject_type, pks in ids.items():
            try:
                model = subject_model(subject_type)
            except FieldError:  # not a ticket model: load_subject finds nothing either
                continue
            for subject in model._base_manager.filter(pk__in=list(pks)):
                self.subjects[(subject_type, subject.pk)] = subject
        self.watchers: dict[tuple[str, int], list[User]] = {
            (t, pk): [] for t, pks in watched.items() for pk in pks
        }
        if watched:
            condition = Q(pk__in=[])
            for subject_type, pks in watched.items():
                condition |= Q(subject_type=subject_type, subject_id__in=list(pks))
            for w in Watcher.objects.filter(condition).select_related("user").order_by("pk"):
                self.watchers[(w.subject_type, w.subject_id)].append(w.user)
        orgs = {a.organization_id for a, _ in events}
        self.hooks: dict[int, list[ChatWebhook]] = {org: [] for org in orgs}
        if orgs:
            for hook in ChatWebhook.objects.filter(organization_id__in=list(orgs)):
                self.hooks[hook.organization_id].append(hook)
        self._desk_addresses: set[str] | None = None

    def subject(self, activity: Activity) -> Any:
        return self.subjects.get((activity.subject_type, activity.subject_id))

    def watchers_of(self, activity: Activity) -> list[User] | None:
        return self.watchers.get((activity.subject_type, activity.subject_id))

    def desk_addresses(self) -> set[str]:
        if self._desk_addresses is None:
            self._desk_addresses = desk_addresses()
        return self._desk_addresses


def desk_addresses() -> set[str]:
    """The service desks' own addresses (lower case): never a recipient."""
    return {
        a.lower()
        for a in ServiceDeskSettings.objects.exclude(email_address="").values_list(
            "email_address", flat=True
        )
    }


def _watchers(activity: Activity, planning: Planning | None = None) -> list[User]:
    found = planning.watchers_of(activity) if planning is not None else None
    if found is not None:
        return found
    return [
        w.user
        for w in Watcher.objects.filter(
            subject_type=activity.subject_type, subject_id=activity.subject_id
        ).select_related("user")
    ]


def _requester(subject: Any, recipients: Recipients) -> None:
    requester = getattr(subject, "requester", None)
    if requester is not None:
        recipients.add(requester)
    elif getattr(subject, "requester_email", ""):
        recipients.addresses.append(subject.requester_email)


def recipients_for(
    event: str, activity: Activity, subject: Any, planning: Planning | None = None
) -> Recipients:
    """Everyone `event` is for, before preferences and the final filters."""
    found = Recipients()
    data = activity.data or {}
    if event in (Event.CREATED, Event.RESOLVED):
        _requester(subject, found)
    elif event == Event.ASSIGNED:
        assignee_id = data.get("assignee_id", getattr(subject, "assignee_id", None))
        group_id = data.get("group_id", getattr(subject, "assignment_group_id", None))
        if assignee_id:
            found.add(User.objects.filter(pk=assignee_id).first())
        elif group_id:
            team = Team.objects.filter(pk=group_id).first()
            for member in team.members.all() if team else []:
                found.add(member)
    elif event == Event.COMMENT:
        _requester(subject, found)
        for user in _watchers(activity, planning):
            found.add(user)
        found.add(getattr(subject, "assignee", None))
    elif event == Event.WORK_NOTE:
        found.add(getattr(subject, "assignee", None))
        model = type(subject)
        for user in _watchers(activity, planning):
            if has_permission(user, model, Action.CHANGE, activity.organization_id):
                found.add(user)
    elif event == Event.STATE_CHANGED:
        _requester(subject, found)
        for user in _watchers(activity, planning):
            found.add(user)
    elif event == Event.APPROVAL:
        for user in User.objects.filter(pk__in=_approver_ids(activity)):
            found.add(user)
    elif event in (Event.SLA_WARNING, Event.SLA_BREACH):
        group = getattr(subject, "assignment_group", None)
        if getattr(subject, "assignee", None) is not None:
            found.add(subject.assignee)
        elif group is not None:
            for member in group.members.all():
                found.add(member)
        if event == Event.SLA_BREACH and group is not None:
            found.add(group.manager)
        named = [int(i) for i in data.get("notify_user_ids") or [] if str(i).isdigit()]
        for user in User.objects.filter(pk__in=named):
            found.add(user)
    return found


def _final_filter(
    event: str, activity: Activity, found: Recipients, planning: Planning | None = None
) -> Recipients:
    """Drop the author, inactive people, non-members and the service-desk addresses."""
    desk = planning.desk_addresses() if planning is not None else desk_addresses()
    members = set(
        Membership.objects.filter(
            organization_id=activity.organization_id, user__in=[u.pk for u in found.users]
        ).values_list("user_id", flat=True)
    )
    author_id = activity.actor_id
    author_name = (activity.actor_name or "").strip().lower()
    keep_author = event == Event.CREATED  # the acknowledgement goes to whoever raised it
    users = [
        u
        for u in found.users
        if u.is_active
        and u.pk in members
        and (keep_author or u.pk != author_id)
        and u.email.lower() not in desk
    ]
    addresses = []
    for address in found.addresses:
        low = address.strip().lower()
        if not low or low in desk or (not keep_author and low == author_name):
            continue
        if low not in addresses:
            addresses.append(low)
    return Recipients(users=users, addresses=addresses)


#: url name of each ticket's page for agents, and in the requester portal.
DESK_PAGES = {
    "incident": "desk-incident",
    "request": "catalog-request",
    "problem": "problem-detail",
    "known_error": "known-error-detail",
    "article": "kb-article",
    "change": "changes-detail",
}
PORTAL_PAGES = {"incident": "portal-incident", "request": "portal-request"}


def ticket_url(subject_type: str, subject_id: int, *, portal: bool = False) -> str:
    """The absolute link to a ticket: the agent page, or the portal page for requesters."""
    base = getattr(settings, "SITE_URL", "").rstrip("/")
    names = [PORTAL_PAGES.get(subject_type)] if portal else []
    names.append(DESK_PAGES.get(subject_type))
    for name in names:
        if not name:
            continue
        try:
            return f"{base}{reverse(name, args=[subject_id])}"
        except NoReverseMatch:
            continue
    return f"{base}/desk/{subject_type}/{subject_id}/"


def context_for(activity: Activity, subject: Any) -> dict[str, str]:
    data = activity.data or {}
    state = getattr(subject, "get_state_display", None)
    priority = getattr(subject, "get_priority_display", None)
    group = getattr(subject, "assignment_group", None)
    assignee = getattr(subject, "assignee", None)
    org = getattr(subject, "organization", None)
    return {
        "number": getattr(subject, "number", "") or "",
        "title": getattr(subject, "title", "") or str(subject),
        "state": state() if callable(state) else str(getattr(subject, "state", "")),
        "priority": priority() if callable(priority) else "",
        "url": ticket_url(activity.subject_type, activity.subject_id),
        "actor": activity.actor_name or (str(activity.actor) if activity.actor_id else "OpsDesk"),
        "comment": activity.body or "",
        "assignee": str(assignee) if assignee else (data.get("assignee") or ""),
        "group": str(group) if group else (data.get("group") or ""),
        "resolution": getattr(subject, "resolution_notes", "") or "",
        "recipient": "",
        "organization": org.name if org else "",
    }


def _preferences(users: list[User], event: str) -> dict[int, NotificationPreference]:
    return {
        p.user_id: p
        for p in NotificationPreference.objects.filter(user__in=[u.pk for u in users], event=event)
    }


def wants(prefs: dict[int, NotificationPreference], user: User, channel: str) -> bool:
    pref = prefs.get(user.pk)
    return True if pref is None else pref.wants(channel)


def mail_domain() -> str:
    address = settings.DEFAULT_FROM_EMAIL.rsplit("<", 1)[-1].rstrip(">")
    return address.rsplit("@", 1)[-1] or "opsdesk.invalid"


def plan(activity: Activity, planning: Planning | None = None) -> list[Notification]:
    """Write the outbox rows for `activity` (nothing if it is not an event); return them.
    ``planning``: what was loaded once for all the activities of its transaction."""
    event = event_for(activity)
    if event is None:
        return []
    subject = planning.subject(activity) if planning is not None else load_subject(activity)
    if subject is None:
        return []
    found = recipients_for(event, activity, subject, planning)
    # Most timeline entries (the event pipeline's work notes) have nobody to tell: the
    # filters, preferences and the message context are only worked out for someone.
    recipients = (
        _final_filter(event, activity, found, planning) if found.users or found.addresses else found
    )
    prefs = _preferences(recipients.users, event) if recipients.users else {}
    org_id = activity.organization_id
    team_id = getattr(subject, "assignment_group_id", None)
    org_hooks = (
        planning.hooks.get(org_id)
        if planning is not None and org_id in planning.hooks
        else ChatWebhook.objects.filter(organization_id=org_id)
    )
    hooks = [h for h in org_hooks if h.wants(event, team_id)]
    if not hooks and not recipients.addresses and not recipients.users:
        return []
    context = context_for(activity, subject)
    common = {
        "organization_id": org_id,
        "event": event,
        "subject_type": activity.subject_type,
        "subject_id": activity.subject_id,
        "activity_id": activity.pk,
    }
    rows: list[Notification] = []
    mail_to: list[tuple[User | None, str, str]] = [
        (u, u.email, str(u)) for u in recipients.users if wants(prefs, u, PreferenceChannel.EMAIL)
    ] + [(None, address, address) for address in recipients.addresses]
    for user, address, name in mail_to:
        portal = user is None or is_requester_only(user, org_id)
        personal = {
            **context,
            "recipient": name,
            "url": ticket_url(activity.subject_type, activity.subject_id, portal=portal),
        }
        subject_line, body = render(org_id, event, TemplateChannel.EMAIL, personal)
        rows.append(
            Notification(
                **common,
                channel="email",
                recipient=user,
                recipient_address=address,
                subject=subject_line[:400],
                body=body,
                message_id=make_msgid(domain=mail_domain()),
            )
        )
    if hooks:
        named = [str(u) for u in recipients.users if wants(prefs, u, PreferenceChannel.CHAT)]
        _, text = render(org_id, event, TemplateChannel.CHAT, context)  # chat: the body
        facts = {
            "number": context["number"],
            "title": context["title"],
            "url": context["url"],
            "state": context["state"],
            "priority": context["priority"],
            "for": named,
        }
        for hook in hooks:
            rows.append(
                Notification(
                    **common,
                    channel=hook.kind,
                    webhook=hook,
                    recipient_address=hook.name,
                    subject=text[:400],
                    body=text,
                    data=facts,
                )
            )
    if not rows:
        return []
    with transaction.atomic():
        for row in rows:
            row.status = NotificationStatus.PENDING
            row.save()
        ids = [row.pk for row in rows]
        transaction.on_commit(lambda: enqueue(ids))
    return rows


def enqueue(ids: list[int]) -> None:
    from opsdesk.notify.tasks import send_notification_task

    for pk in ids:
        try:
            send_notification_task.enqueue(pk)
        except Exception:  # the periodic job picks up pending rows whose task was lost
            logger.exception("could not queue notification %s", pk)


def on_activity_recorded(
    sender: Any, activity: Activity, batched: bool = False, **kwargs: Any
) -> None:
    """Runs after the change committed: a failure here is logged, never raised into the
    request that made the change. ``batched``: `on_activities_recorded` planned it."""
    if batched:
        return
    try:
        plan(activity)
    except Exception:
        logger.exception("notifications for activity %s failed", activity.pk)


def on_activities_recorded(sender: Any, activities: list[Activity], **kwargs: Any) -> None:
    """The activities of one committed transaction: what they share is loaded once, then
    each is planned on its own (a failure is logged and the others go on)."""
    planning: Planning | None = None
    try:
        if any(event_for(a) is not None for a in activities):
            planning = Planning(activities)
    except Exception:
        logger.exception("loading what %s activities share failed", len(activities))
    for activity in activities:
        try:
            plan(activity, planning)
        except Exception:
            logger.exception("notifications for activity %s failed", activity.pk)


activities_recorded.connect(on_activities_recorded, dispatch_uid="opsdesk.notify.on_activities")
