"""ISO 3166-1 countries, from pycountry."""

from __future__ import annotations

import pycountry

COUNTRY_NAMES: dict[str, str] = {c.alpha_2: c.name for c in pycountry.countries}
COUNTRY_CODES: frozenset[str] = frozenset(COUNTRY_NAMES)


def country_name(code: str) -> str:
    return COUNTRY_NAMES.get(code, code)
