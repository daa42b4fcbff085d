"""How stored inbox entries reach the workers.

``db`` (the default): workers poll the inbox table (`opsdesk worker` runs the event loop).
Other transports (NATS JetStream) register a dispatcher with `register`; the setting
``EVENTS_TRANSPORT`` picks one. The inbox row is always written first, so whatever the
transport, an acknowledged event is in the database.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from opsdesk.events.models import InboxEntry

Dispatcher = Callable[[InboxEntry], None]
DISPATCHERS: dict[str, Dispatcher] = {}


def register(name: str, dispatcher: Dispatcher) -> None:
    DISPATCHERS[name] = dispatcher


def name() -> str:
    return str(getattr(settings, "EVENTS_TRANSPORT", "db") or "db")


#: The built-in transports' modules, imported on first use (each registers its dispatcher).
BUILT_IN = {"db": "opsdesk.events.worker", "nats": "opsdesk.events.transport_nats"}


def dispatch(entry: InboxEntry) -> None:
    current = name()
    if current not in DISPATCHERS and current in BUILT_IN:
        import importlib

        importlib.import_module(BUILT_IN[current])
    fn = DISPATCHERS.get(current)
    if fn is not None:
        fn(entry)
