"""Validation of CI fields and class-specific attributes, shared by actions and importers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator

from opsdesk.cmdb.choices import CIStatus, DataClassification, Environment
from opsdesk.cmdb.models import CIClass
from opsdesk.core.countries import COUNTRY_CODES

#: Regions accepted in ``allowed_residency`` besides ISO country codes.
REGIONS = frozenset({"EU", "EEA", "AFRICA", "SADC", "EAC", "ECOWAS", "GLOBAL"})


@dataclass(frozen=True)
class _Validators:
    full: Draft202012Validator  # complete error messages
    fast: Callable[[Any], Any] | None  # compiled by fastjsonschema: a quick yes for valid rows


_VALIDATORS: dict[tuple[Any, ...], _Validators] = {}


def _validators(ci_class: CIClass) -> _Validators:
    # Keyed by the class and its last change, so an administrator's edit takes effect at once
    # (unsaved classes, as in tests, are keyed by the schema's text).
    if ci_class.pk is not None and ci_class.updated_at is not None:
        key: tuple[Any, ...] = (ci_class.pk, ci_class.updated_at)
    else:
        key = (None, json.dumps(ci_class.attribute_schema, sort_keys=True))
    found = _VALIDATORS.get(key)
    if found is None:
        schema = json.loads(json.dumps(ci_class.attribute_schema))
        try:
            fast = fastjsonschema.compile(schema)
        except (fastjsonschema.JsonSchemaDefinitionException, ValueError, TypeError):
            fast = None  # a 2020-12 feature fastjsonschema lacks: the full validator decides
        found = _VALIDATORS[key] = _Validators(Draft202012Validator(schema), fast)
        if len(_VALIDATORS) > 512:
            _VALIDATORS.pop(next(iter(_VALIDATORS)))
    return found


def attribute_errors(ci_class: CIClass, attributes: Any) -> dict[str, str]:
    """{"attributes.<key>": message} for attributes that break the class schema."""
    if not isinstance(attributes, dict):
        return {"attributes": "Attributes must be a JSON object."}
    validators = _validators(ci_class)
    if validators.fast is not None:
        try:
            validators.fast(attributes)
            return {}
        except fastjsonschema.JsonSchemaException:
            pass  # invalid: let the full validator name every problem
    errors: dict[str, str] = {}
    for error in validators.full.iter_errors(attributes):
        path = ".".join(str(p) for p in error.absolute_path)
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else ""
            path = missing or path
        key = f"attributes.{path}" if path else "attributes"
        errors.setdefault(key, error.message)
    return errors


def field_errors(data: dict[str, Any]) -> dict[str, str]:
    """Errors in the common CI fields present in `data` (choices, countries, tags)."""
    errors: dict[str, str] = {}
    if "status" in data and data["status"] not in CIStatus.values:
        errors["status"] = f"Choose one of: {', '.join(CIStatus.values)}."
    if "environment" in data and data["environment"] not in Environment.values:
        errors["environment"] = f"Choose one of: {', '.join(Environment.values)}."
    if (
        "data_classification" in data
        and data["data_classification"] not in DataClassification.values
    ):
        errors["data_classification"] = f"Choose one of: {', '.join(DataClassification.values)}."
    if "criticality" in data and data["criticality"] not in (None, 1, 2, 3, 4):
        errors["criticality"] = "Criticality is a tier from 1 (highest) to 4."
    country = data.get("country")
    if country and country not in COUNTRY_CODES:
        errors["country"] = f"{country!r} is not an ISO 3166-1 alpha-2 country code."
    residency = data.get("allowed_residency")
    if residency is not None:
        if not isinstance(residency, list):
            errors["allowed_residency"] = "A list of country codes or regions."
        else:
            bad = [r for r in residency if r not in COUNTRY_CODES and r not in REGIONS]
            if bad:
                errors["allowed_residency"] = (
                    f"Unknown countries or regions: {', '.join(map(str, bad))}."
                )
    tags = data.get("tags")
    if tags is not None and (
        not isinstance(tags, list)
        or not all(isinstance(t, str) and 0 < len(t) <= 100 for t in tags)
    ):
        errors["tags"] = "Tags are a list of short strings."
    name = data.get("name")
    if "name" in data and (not isinstance(name, str) or not name.strip() or len(name) > 255):
        errors["name"] = "A name of 1 to 255 characters is required."
    return errors


def identifier_values(
    ci_class: CIClass, name: str, attributes: dict[str, Any]
) -> list[tuple[str, str]]:
    """(kind, normalised value) pairs that identify a CI of this class, strongest first."""
    pairs: list[tuple[str, str]] = []
    for key in ci_class.identifiers:
        if key == "name":
            value = name
            kind = f"name:{ci_class.key}"
        else:
            value = attributes.get(key)
            kind = key
        if value is None or value == "":
            continue
        pairs.append((kind, str(value).strip().lower()[:500]))
    return pairs
