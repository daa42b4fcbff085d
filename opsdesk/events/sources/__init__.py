"""Source adapters: each turns one vendor's request into normalised events.

An adapter is a function ``parse(request: SourceRequest) -> Parsed`` registered under its
source key with `@adapter("alertmanager")`. It raises `PayloadError` (the intake answers 400
with its message, which names the problem, e.g. ``alerts[2].labels: must be an object``) and
may return a ``reply`` instead of events for protocol messages (an SNS subscription
confirmation). Adapters never touch the database: they are pure, so contract tests run them
on the real payloads in ``shared/data/payloads``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opsdesk.events.normal import NormalisedEvent


class PayloadError(ValueError):
    """The body is not what this source sends; the message names the field."""


@dataclass
class SourceRequest:
    body: bytes
    headers: Mapping[str, str]  # lower-case names
    query: Mapping[str, str] = field(default_factory=dict)
    #: The integration's options (e.g. accepted SNS topics) and secret, for adapters that
    #: verify signatures themselves.
    options: Mapping[str, Any] = field(default_factory=dict)
    secret: str = ""


@dataclass
class Parsed:
    events: list[NormalisedEvent]
    #: A protocol answer instead of events (e.g. "subscription confirmed"), shown in the 202.
    reply: str = ""


Adapter = Callable[[SourceRequest], Parsed]
ADAPTERS: dict[str, Adapter] = {}


def adapter(source: str) -> Callable[[Adapter], Adapter]:
    def register(fn: Adapter) -> Adapter:
        ADAPTERS[source] = fn
        return fn

    return register


def parse(source: str, request: SourceRequest) -> Parsed:
    _load()
    try:
        fn = ADAPTERS[source]
    except KeyError:
        raise LookupError(source) from None
    return fn(request)


_loaded: list[bool] = []


def _load() -> None:
    """Import every adapter module of this package once (each registers itself)."""
    if _loaded:
        return
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    _loaded.append(True)
