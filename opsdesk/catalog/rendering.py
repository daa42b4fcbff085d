"""Turning catalogue definitions into web forms and timelines into sentences.

The dynamic form of a catalogue item is rendered from its definition by one template
partial (``catalog/_dynamic_form.html``) used by the portal's order page and the admin's
preview; posted values are read back with `answers_from_post` and checked by the same
`validate_answers` as the API.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.http import QueryDict

from opsdesk.accounts.models import User
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.servicedesk.choices import ActivityKind
from opsdesk.servicedesk.models import Activity

MAX_OPTIONS = 500


def answers_from_post(form: list[dict[str, Any]], data: QueryDict) -> dict[str, Any]:
    """The answers of a posted dynamic form (inputs are named ``answers.<field name>``)."""
    answers: dict[str, Any] = {}
    for field in form:
        key = f"answers.{field['name']}"
        if field["type"] == "multichoice":
            values = data.getlist(key)
            if values:
                answers[field["name"]] = values
        elif field["type"] == "checkbox":
            answers[field["name"]] = key in data
        elif key in data:
            value = data.get(key, "")
            if value.strip():
                answers[field["name"]] = value
    return answers


def _options(field: dict[str, Any], organization_id: int) -> list[tuple[str, str]]:
    kind = field["type"]
    if kind in ("choice", "multichoice"):
        return [(c, c) for c in field.get("choices") or []]
    if kind == "user":
        people = User.objects.filter(
            memberships__organization_id=organization_id, is_active=True
        ).order_by("full_name", "email")[:MAX_OPTIONS]
        return [(str(u.pk), str(u)) for u in people]
    if kind == "ci":
        # What a requester can point at: services and end-user devices, not the back end.
        cis = (
            ConfigurationItem.objects.filter(organization_id=organization_id)
            .filter(Q(ci_class__is_service=True) | Q(ci_class__key="end_user_device"))
            .order_by("name")[:MAX_OPTIONS]
        )
        return [(str(ci.pk), ci.name) for ci in cis]
    return []


def form_fields(
    form: list[dict[str, Any]],
    organization_id: int,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    id_prefix: str = "f",
) -> list[dict[str, Any]]:
    """What the template needs to draw each field: its definition, options, current value
    and error."""
    values = values or {}
    errors = errors or {}
    drawn = []
    for index, field in enumerate(form):
        if not isinstance(field, dict) or "name" not in field or "type" not in field:
            continue
        value = values.get(field["name"])
        selected = (
            {str(v) for v in value}
            if isinstance(value, list)
            else ({str(value)} if value not in (None, "") else set())
        )
        drawn.append(
            {
                **field,
                "id": f"{id_prefix}-{index}-{field['name']}",
                "input_name": f"answers.{field['name']}",
                "label": field.get("label") or field["name"],
                "value": "" if value is None else value,
                "selected": selected,
                "options": _options(field, organization_id),
                "error": errors.get(f"answers.{field['name']}", ""),
            }
        )
    return drawn


def _state_label(value: Any) -> str:
    return str(value or "").replace("_", " ")


def describe(activity: Activity) -> str:
    """One sentence saying what a timeline entry is about."""
    data = activity.data or {}
    kind = activity.kind
    subject = {
        "request": "the request",
        "request_item": "the item",
        "task": "the task",
        "incident": "the incident",
    }.get(activity.subject_type, "the ticket")
    if kind == ActivityKind.CREATED:
        return f"opened {subject}"
    if kind == ActivityKind.STATE:
        text = f"moved {subject} to {_state_label(data.get('to'))}"
        if data.get("automatic"):
            text += " (automatically)"
        return text
    if kind == ActivityKind.APPROVAL:
        event = data.get("event")
        if event == "approved":
            return f"approved ({data.get('label', 'approval')})"
        if event == "rejected":
            return f"rejected ({data.get('label', 'approval')})"
        return "asked for approval" if event == "requested" else "approval step skipped"
    if kind == ActivityKind.ASSIGNED:
        who = data.get("assignee") or "nobody in particular"
        return f"assigned {subject} to {data.get('group') or '—'} / {who}"
    if kind == ActivityKind.COMMENT:
        return "commented"
    if kind == ActivityKind.WORK_NOTE:
        return "added a work note"
    if kind == ActivityKind.ATTACHMENT:
        return f"attached {data.get('filename', 'a file')}"
    if kind == ActivityKind.LINK:
        return f"created {data.get('type', 'link')} {data.get('number', '')}".strip()
    if kind == ActivityKind.SURVEY:
        return f"rated it {data.get('rating')}/5"
    if kind == ActivityKind.FIELD:
        return "changed " + ", ".join(sorted((data.get("changes") or {}).keys()))
    return activity.get_kind_display().lower()


def timeline_rows(entries: Any, numbers: dict[tuple[str, int], str] | None = None) -> list[dict]:
    """Entries of a timeline with their sentence, and the number of the item they concern."""
    numbers = numbers or {}
    return [
        {
            "entry": entry,
            "text": describe(entry),
            "about": numbers.get((entry.subject_type, entry.subject_id), ""),
        }
        for entry in entries
    ]
