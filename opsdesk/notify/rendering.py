"""Notification templates: the built-in wording, and rendering in a locked-down engine.

Admins edit templates, so a template is treated as untrusted: it is rendered by its own
`django.template.Engine` with no loaders (no ``{% include %}`` or ``{% extends %}``), no
template libraries, autoescape off (the output is plain text), and a context of plain
strings only (no model objects whose attributes could be walked). Tags that reach beyond
the template (``load``, ``include``, ``extends``, ``debug``, ``url``, ``csrf_token``...) are
refused when the template is saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.template import Context, Engine, TemplateSyntaxError
from django.template.base import Lexer, TokenType

from opsdesk.notify.choices import Event, TemplateChannel

ENGINE = Engine(dirs=[], app_dirs=False, loaders=[], libraries={}, autoescape=False, debug=False)

#: Block tags a template may use.
ALLOWED_TAGS = frozenset(
    {
        "if",
        "elif",
        "else",
        "endif",
        "for",
        "empty",
        "endfor",
        "with",
        "endwith",
        "firstof",
        "comment",
        "endcomment",
        "spaceless",
        "endspaceless",
        "now",
        "cycle",
        "filter",
        "endfilter",
        "ifchanged",
        "endifchanged",
        "verbatim",
        "endverbatim",
        "autoescape",
        "endautoescape",
        "templatetag",
        "widthratio",
    }
)

#: The names a template may use, with a description shown in the editor.
CONTEXT_HELP: dict[str, str] = {
    "number": "Ticket number, e.g. INC0000042",
    "title": "Ticket title",
    "state": "Ticket state, e.g. In progress",
    "priority": "Priority, e.g. P2 - High",
    "url": "Link to the ticket",
    "actor": "Who made the change",
    "comment": "The comment or work note text",
    "assignee": "The assignee's name",
    "group": "The assignment group",
    "resolution": "Resolution notes",
    "recipient": "The recipient's name",
    "organization": "The organisation's name",
}

#: A context used to check a template when it is saved and to preview it.
SAMPLE_CONTEXT: dict[str, str] = {
    "number": "INC0000042",
    "title": "Printer on floor 3 does not print",
    "state": "In progress",
    "priority": "P3 - Moderate",
    "url": "https://opsdesk.example/desk/incidents/42/",
    "actor": "Alex Agent",
    "comment": "I have restarted the print spooler; please try again.",
    "assignee": "Alex Agent",
    "group": "Service Desk",
    "resolution": "Restarted the print spooler.",
    "recipient": "Rita Requester",
    "organization": "Acme Africa",
}


@dataclass(frozen=True)
class Wording:
    subject: str
    body: str


_FOOTER = "\n\n{{ url }}\n-- \n{{ organization }} service desk. Reply to this mail to comment."

DEFAULTS: dict[tuple[str, str], Wording] = {
    (Event.CREATED, TemplateChannel.EMAIL): Wording(
        "We received your request: {{ title }}",
        "Hello {{ recipient }},\n\nwe have recorded your request as {{ number }}: "
        "{{ title }}.\nWe will keep you informed; reply to this mail to add information." + _FOOTER,
    ),
    (Event.ASSIGNED, TemplateChannel.EMAIL): Wording(
        "Assigned{% if assignee %} to {{ assignee }}{% else %} to {{ group }}{% endif %}: {{ title }}",
        "{{ number }} ({{ priority }}) is now assigned to "
        "{% if assignee %}{{ assignee }}{% if group %} in {{ group }}{% endif %}"
        "{% else %}the {{ group }} team{% endif %}.\n\n{{ title }}" + _FOOTER,
    ),
    (Event.COMMENT, TemplateChannel.EMAIL): Wording(
        "New comment: {{ title }}",
        "{{ actor }} commented on {{ number }}:\n\n{{ comment }}" + _FOOTER,
    ),
    (Event.WORK_NOTE, TemplateChannel.EMAIL): Wording(
        "Work note: {{ title }}",
        "{{ actor }} added a work note to {{ number }} (internal, not sent to the "
        "requester):\n\n{{ comment }}" + _FOOTER,
    ),
    (Event.STATE_CHANGED, TemplateChannel.EMAIL): Wording(
        "Now {{ state|lower }}: {{ title }}",
        "{{ number }} is now {{ state|lower }}.{% if comment %}\n\n{{ comment }}{% endif %}"
        + _FOOTER,
    ),
    (Event.RESOLVED, TemplateChannel.EMAIL): Wording(
        "Resolved: {{ title }}",
        "Hello {{ recipient }},\n\n{{ number }} has been resolved by {{ actor }}."
        "{% if resolution %}\n\n{{ resolution }}{% endif %}\n\nIf the problem is not solved, "
        "reply to this mail and we will reopen it." + _FOOTER,
    ),
    (Event.APPROVAL, TemplateChannel.EMAIL): Wording(
        "Approval requested: {{ title }}",
        "Hello {{ recipient }},\n\nyour approval is requested for {{ number }}: {{ title }}."
        "{% if comment %}\n\n{{ comment }}{% endif %}" + _FOOTER,
    ),
    (Event.SLA_WARNING, TemplateChannel.EMAIL): Wording(
        "SLA warning: {{ title }}",
        "Hello {{ recipient }},\n\n{{ number }} ({{ priority }}) is running out of time:\n\n"
        "{{ comment }}\n\nAssigned to {% firstof assignee group 'nobody yet' %}." + _FOOTER,
    ),
    (Event.SLA_BREACH, TemplateChannel.EMAIL): Wording(
        "SLA breached: {{ title }}",
        "Hello {{ recipient }},\n\n{{ number }} ({{ priority }}) has missed its target:\n\n"
        "{{ comment }}\n\nAssigned to {% firstof assignee group 'nobody yet' %}." + _FOOTER,
    ),
}
_CHAT_DEFAULTS: dict[str, str] = {
    Event.CREATED: "{{ number }} opened: {{ title }} ({{ priority }})",
    Event.ASSIGNED: "{{ number }} assigned to {% firstof assignee group %}: {{ title }}",
    Event.COMMENT: "{{ actor }} commented on {{ number }}: {{ comment|truncatechars:300 }}",
    Event.WORK_NOTE: "{{ actor }} added a work note to {{ number }}: "
    "{{ comment|truncatechars:300 }}",
    Event.STATE_CHANGED: "{{ number }} is now {{ state|lower }}: {{ title }}",
    Event.RESOLVED: "{{ number }} resolved by {{ actor }}: {{ title }}",
    Event.APPROVAL: "Approval requested for {{ number }}: {{ title }}",
    Event.SLA_WARNING: "{{ number }}: {{ comment }}",
    Event.SLA_BREACH: "{{ number }}: {{ comment }}",
}
for _event, _text in _CHAT_DEFAULTS.items():
    DEFAULTS[(_event, TemplateChannel.CHAT)] = Wording(_text, _text)


def check_source(source: str) -> None:
    """Refuse tags outside `ALLOWED_TAGS`; raises TemplateSyntaxError."""
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.BLOCK:
            name = (token.contents.split() or [""])[0]
            if name not in ALLOWED_TAGS:
                raise TemplateSyntaxError(f"The tag {{% {name} %}} is not allowed here.")


def render_string(source: str, context: dict[str, Any]) -> str:
    """Render `source` with plain-string `context` in the locked-down engine."""
    check_source(source)
    safe = {key: "" if value is None else str(value) for key, value in context.items()}
    return ENGINE.from_string(source).render(Context(safe, autoescape=False))


def validate(subject: str, body: str) -> dict[str, str]:
    """{field: message} for the parts that do not render with the sample context."""
    errors: dict[str, str] = {}
    for field, source in (("subject", subject), ("body", body)):
        try:
            render_string(source, SAMPLE_CONTEXT)
        except Exception as exc:  # any failure to render is the admin's to fix, named
            errors[field] = f"This template does not render: {exc}"
    return errors


def wording_for(organization_id: int | None, event: str, channel: str) -> Wording:
    """The organisation's template, else the platform default row, else the built-in."""
    from opsdesk.notify.models import NotificationTemplate

    rows = {
        row.organization_id: row
        for row in NotificationTemplate.objects.filter(
            Q(organization_id=organization_id) | Q(organization__isnull=True),
            event=event,
            channel=channel,
        )
    }
    row = rows.get(organization_id) or rows.get(None)
    if row is not None:
        return Wording(row.subject, row.body)
    return DEFAULTS[(event, channel)]


def render(
    organization_id: int | None, event: str, channel: str, context: dict[str, Any]
) -> tuple[str, str]:
    """(subject, body) for `event` on `channel`; falls back to the built-in wording if an
    organisation's template fails to render with real data (it rendered when saved)."""
    wording = wording_for(organization_id, event, channel)
    try:
        return render_string(wording.subject, context), render_string(wording.body, context)
    except Exception:
        builtin = DEFAULTS[(event, channel)]
        return render_string(builtin.subject, context), render_string(builtin.body, context)


def preview(subject: str, body: str) -> dict[str, Any]:
    """The sample rendering of a template being edited, and what is wrong with it."""
    errors = validate(subject, body)
    out = {"subject": "", "body": "", "errors": errors}
    if "subject" not in errors:
        out["subject"] = render_string(subject, SAMPLE_CONTEXT)
    if "body" not in errors:
        out["body"] = render_string(body, SAMPLE_CONTEXT)
    return out
