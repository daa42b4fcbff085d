"""What an admin defines on a catalogue item (form, approval steps, tasks) and the checks on
it, and the check of a requester's answers against the form.

Definitions are checked with JSON Schema (so the message says where the mistake is, e.g.
``form.2.type``) plus the rules a schema cannot say (unique field names, choices for choice
fields, teams and people of the organisation). Answers are checked field by field and every
error is named ``answers.<field name>``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from jsonschema import Draft202012Validator

from opsdesk.catalog.choices import FIELD_TYPES, StepKind, StepRule

MAX_FIELDS = 50
MAX_TEXT = 2_000
MAX_TEXTAREA = 20_000
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,49}$"

FORM_SCHEMA: dict[str, Any] = {
    "type": "array",
    "maxItems": MAX_FIELDS,
    "items": {
        "type": "object",
        "required": ["name", "label", "type"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "pattern": NAME_PATTERN},
            "label": {"type": "string", "minLength": 1, "maxLength": 200},
            "type": {"enum": list(FIELD_TYPES)},
            "required": {"type": "boolean"},
            "choices": {
                "type": "array",
                "maxItems": 200,
                "items": {"type": "string", "minLength": 1, "maxLength": 200},
            },
            "help": {"type": "string", "maxLength": 500},
        },
    },
}

STEPS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "maxItems": 10,
    "items": {
        "type": "object",
        "required": ["kind"],
        "additionalProperties": False,
        "properties": {
            "kind": {"enum": list(StepKind.values)},
            "label": {"type": "string", "maxLength": 200},
            "rule": {"enum": list(StepRule.values)},
            "user_ids": {
                "type": "array",
                "maxItems": 50,
                "items": {"type": "integer", "minimum": 1},
            },
            "team_id": {"type": "integer", "minimum": 1},
        },
    },
}

TASKS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "maxItems": 30,
    "items": {
        "type": "object",
        "required": ["title", "team_id"],
        "additionalProperties": False,
        "properties": {
            "title": {"type": "string", "minLength": 1, "maxLength": 255},
            "team_id": {"type": "integer", "minimum": 1},
            "order": {"type": "integer", "minimum": 1, "maximum": 100},
        },
    },
}


def _schema_errors(prefix: str, schema: dict[str, Any], value: Any) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in Draft202012Validator(schema).iter_errors(value):
        where = ".".join([prefix, *(str(p) for p in error.absolute_path)])
        if error.validator == "additionalProperties":
            extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            for name in extra:
                errors.setdefault(f"{where}.{name}", "Unknown property.")
            continue
        if error.validator == "required":
            missing = str(error.message).split("'")[1] if "'" in error.message else ""
            errors.setdefault(f"{where}.{missing}" if missing else where, "Required.")
            continue
        if error.validator == "enum":
            message = "One of: " + ", ".join(str(v) for v in error.validator_value) + "."
        elif error.validator == "pattern" and where.endswith(".name"):
            message = "Lower-case letters, digits and _, starting with a letter (max 50)."
        else:
            message = error.message
        errors.setdefault(where, message)
    return errors


def validate_form(form: Any) -> dict[str, str]:
    """Errors of a form definition, keyed ``form.<index>.<property>``; empty if it is fine."""
    errors = _schema_errors("form", FORM_SCHEMA, form)
    if not isinstance(form, list):
        return errors
    seen: set[str] = set()
    for index, field in enumerate(form):
        if not isinstance(field, dict):
            continue
        name = field.get("name")
        if isinstance(name, str):
            if name in seen:
                errors.setdefault(
                    f"form.{index}.name", f"Another field is already called {name!r}."
                )
            seen.add(name)
        choices = field.get("choices") or []
        if not isinstance(choices, list):
            continue
        where = f"form.{index}.choices"
        if field.get("type") in ("choice", "multichoice"):
            if not choices:
                errors.setdefault(where, "A choice field needs at least one choice.")
            elif len({str(c) for c in choices}) != len(choices):
                errors.setdefault(where, "Choices must be different from each other.")
        elif choices and field.get("type") in FIELD_TYPES:
            errors.setdefault(where, f"A {field['type']} field has no choices.")
    return errors


def validate_steps(steps: Any, organization_id: int) -> dict[str, str]:
    """Errors of approval steps, keyed ``approval_steps.<index>.<property>``."""
    from opsdesk.accounts.models import Membership, Team

    errors = _schema_errors("approval_steps", STEPS_SCHEMA, steps)
    if errors or not isinstance(steps, list):
        return errors
    for index, step in enumerate(steps):
        where = f"approval_steps.{index}"
        kind = step["kind"]
        if kind == StepKind.USERS:
            ids = step.get("user_ids") or []
            if not ids:
                errors[f"{where}.user_ids"] = "Name at least one approver."
                continue
            members = set(
                Membership.objects.filter(
                    organization_id=organization_id, user_id__in=ids
                ).values_list("user_id", flat=True)
            )
            strangers = [str(i) for i in ids if i not in members]
            if strangers:
                errors[f"{where}.user_ids"] = (
                    f"Not members of this organisation: {', '.join(strangers)}."
                )
        elif kind == StepKind.GROUP:
            team_id = step.get("team_id")
            if team_id is None:
                errors[f"{where}.team_id"] = "Choose the team that approves."
            elif not Team.objects.filter(organization_id=organization_id, pk=team_id).exists():
                errors[f"{where}.team_id"] = "No team of this organisation has this id."
        if kind != StepKind.USERS and step.get("user_ids"):
            errors[f"{where}.user_ids"] = f"A {kind} step has no named approvers."
        if kind != StepKind.GROUP and step.get("team_id") is not None:
            errors[f"{where}.team_id"] = f"A {kind} step has no team."
        if kind != StepKind.USERS and step.get("rule") == StepRule.ALL:
            errors[f"{where}.rule"] = "Only a step of named approvers can require everyone."
    return errors


def validate_tasks(tasks: Any, organization_id: int) -> dict[str, str]:
    """Errors of fulfilment task definitions, keyed ``tasks.<index>.<property>``."""
    from opsdesk.accounts.models import Team

    errors = _schema_errors("tasks", TASKS_SCHEMA, tasks)
    if errors or not isinstance(tasks, list):
        return errors
    ids = {t["team_id"] for t in tasks}
    known = set(
        Team.objects.filter(organization_id=organization_id, pk__in=ids).values_list(
            "pk", flat=True
        )
    )
    for index, task in enumerate(tasks):
        if task["team_id"] not in known:
            errors[f"tasks.{index}.team_id"] = "No team of this organisation has this id."
    return errors


# --- Answers -------------------------------------------------------------------------------------


def _empty(value: Any) -> bool:
    return (
        value is None
        or value == ""
        or value == []
        or (isinstance(value, str) and not value.strip())
    )


def _check_value(field: dict[str, Any], value: Any, organization_id: int) -> tuple[Any, str]:
    """(normalised value, error message or "") of one answer."""
    kind = field["type"]
    if kind in ("text", "textarea"):
        if not isinstance(value, str):
            return value, "Enter text."
        limit = MAX_TEXT if kind == "text" else MAX_TEXTAREA
        if len(value) > limit:
            return value, f"At most {limit:,} characters."
        return value.strip(), ""
    if kind == "choice":
        if value not in (field.get("choices") or []):
            return value, "One of: " + ", ".join(field.get("choices") or []) + "."
        return value, ""
    if kind == "multichoice":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return value, "Choose from the list."
        unknown = [v for v in value if v not in (field.get("choices") or [])]
        if unknown:
            return value, f"Not a choice: {', '.join(unknown)}."
        return list(dict.fromkeys(value)), ""
    if kind == "date":
        if not isinstance(value, str):
            return value, "Enter a date as YYYY-MM-DD."
        try:
            parsed = dt.date.fromisoformat(value.strip())
        except ValueError:
            return value, "Enter a date as YYYY-MM-DD."
        if not 1900 <= parsed.year <= 2999:
            return value, "Enter a date between 1900 and 2999."
        return parsed.isoformat(), ""
    if kind == "number":
        if isinstance(value, str):
            try:
                value = float(value) if "." in value else int(value)
            except ValueError:
                return value, "Enter a number."
        if isinstance(value, bool) or not isinstance(value, int | float):
            return value, "Enter a number."
        if abs(value) > 1e12 or value != value:  # NaN
            return value, "Enter a reasonable number."
        return value, ""
    if kind == "checkbox":
        if isinstance(value, str) and value in ("on", "true", "1"):
            value = True
        if not isinstance(value, bool):
            return value, "Tick or untick."
        return value, ""
    if kind in ("user", "ci"):
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
            return value, "Choose from the list."
        if kind == "user":
            from opsdesk.accounts.models import Membership

            ok = Membership.objects.filter(organization_id=organization_id, user_id=value).exists()
            return value, "" if ok else "No person of this organisation has this id."
        from opsdesk.cmdb.models import ConfigurationItem

        ok = ConfigurationItem.objects.filter(organization_id=organization_id, pk=value).exists()
        return value, "" if ok else "No configuration item of this organisation has this id."
    return value, "Unknown field type."


def validate_answers(
    form: list[dict[str, Any]], answers: Any, organization_id: int
) -> tuple[dict[str, Any], dict[str, str]]:
    """(clean answers, errors keyed ``answers.<field name>``) of a requester's answers."""
    if answers is None:
        answers = {}
    if not isinstance(answers, dict):
        return {}, {"answers": "Answers are an object of field name to value."}
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    names = {field["name"] for field in form}
    for key in answers:
        if key not in names:
            errors[f"answers.{key}"[:120]] = "This form has no such field."
    for field in form:
        name = field["name"]
        value = answers.get(name)
        if field["type"] == "checkbox" and value is None:
            value = False
        if _empty(value) or (field["type"] == "checkbox" and value is False):
            if field.get("required"):
                errors[f"answers.{name}"] = (
                    "Tick this box to continue." if field["type"] == "checkbox" else "Required."
                )
            elif field["type"] == "checkbox":
                clean[name] = False
            continue
        normalised, problem = _check_value(field, value, organization_id)
        if problem:
            errors[f"answers.{name}"] = problem
        else:
            clean[name] = normalised
    return clean, errors


def display_answers(form: list[dict[str, Any]], answers: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, readable value) of each answered field, in form order."""
    from opsdesk.accounts.models import User
    from opsdesk.cmdb.models import ConfigurationItem

    user_ids = [answers[f["name"]] for f in form if f["type"] == "user" and f["name"] in answers]
    ci_ids = [answers[f["name"]] for f in form if f["type"] == "ci" and f["name"] in answers]
    users = {u.pk: str(u) for u in User.objects.filter(pk__in=user_ids)} if user_ids else {}
    cis = (
        dict(ConfigurationItem.objects.filter(pk__in=ci_ids).values_list("pk", "name"))
        if ci_ids
        else {}
    )
    rows = []
    for field in form:
        name = field["name"]
        if name not in answers:
            continue
        value = answers[name]
        if field["type"] == "user":
            text = users.get(value, f"#{value}")
        elif field["type"] == "ci":
            text = cis.get(value, f"#{value}")
        elif field["type"] == "multichoice":
            text = ", ".join(value)
        elif field["type"] == "checkbox":
            text = "Yes" if value else "No"
        else:
            text = str(value)
        rows.append((field["label"], text))
    return rows
