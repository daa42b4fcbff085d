"""Side panels of the incident page that other apps contribute (related knowledge,
suggested known errors, ...), so the page never imports those apps.

An app registers a provider in its ``AppConfig.ready``::

    register_panel(known_error_panel)

A provider takes ``(user, incident)`` and returns a `Panel` or ``None`` (nothing to show,
or the user may not see it). The incident page renders each panel's template with its
context, in ``order``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opsdesk.servicedesk.models import Incident


@dataclass
class Panel:
    title: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    order: int = 100


Provider = Callable[[Any, Incident], Panel | None]
_PROVIDERS: list[Provider] = []


def register_panel(provider: Provider) -> Provider:
    if provider not in _PROVIDERS:
        _PROVIDERS.append(provider)
    return provider


def panels_for(user: Any, incident: Incident) -> list[Panel]:
    panels = [p for p in (provider(user, incident) for provider in _PROVIDERS) if p is not None]
    return sorted(panels, key=lambda p: (p.order, p.title))
