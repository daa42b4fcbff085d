"""Where the parts of change enablement plug into the change workflow, so the kernel
(`opsdesk.changes.actions`) never imports them.

* A **guard** runs inside the transaction before a transition is applied, with the change
  already carrying the transition's input; it may refuse by raising (`FieldError`,
  `Conflict`). Example: scheduling inside a freeze window without a justification.
* An **after** hook runs inside the same transaction once the new state is saved and on the
  timeline. Example: asking the approvers when a change requests authorisation.
* An **update** hook runs after `update_change` saved a change whose listed fields changed
  (e.g. the planned times of a scheduled change, to look for conflicts again).

Each part registers its hooks in its module, imported by `ChangesConfig.ready`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

#: guard(change, transition, values, acting_user) -> None (raise to refuse)
Guard = Callable[[Any, str, dict[str, Any], Any], None]
#: after(change, transition, values, acting_user) -> None
After = Callable[[Any, str, dict[str, Any], Any], None]
#: on_update(change, changed_fields, acting_user) -> None
OnUpdate = Callable[[Any, set[str], Any], None]

ANY = "*"


@dataclass(frozen=True)
class _Entry:
    names: frozenset[str]
    fn: Callable[..., None]
    order: int


_GUARDS: list[_Entry] = []
_AFTER: list[_Entry] = []
_UPDATE: list[_Entry] = []


def _add(registry: list[_Entry], names: Iterable[str], fn: Callable[..., None], order: int) -> None:
    if any(e.fn is fn for e in registry):
        return
    registry.append(_Entry(frozenset(names), fn, order))
    registry.sort(key=lambda e: e.order)


def guard(*names: str, order: int = 100) -> Callable[[Guard], Guard]:
    """Decorator: run `fn` before the named transitions (or ``"*"`` for all)."""

    def register(fn: Guard) -> Guard:
        _add(_GUARDS, names, fn, order)
        return fn

    return register


def after(*names: str, order: int = 100) -> Callable[[After], After]:
    """Decorator: run `fn` after the named transitions (or ``"*"`` for all)."""

    def register(fn: After) -> After:
        _add(_AFTER, names, fn, order)
        return fn

    return register


def on_update(*fields: str, order: int = 100) -> Callable[[OnUpdate], OnUpdate]:
    """Decorator: run `fn` after an update that changed any of `fields` (or ``"*"``)."""

    def register(fn: OnUpdate) -> OnUpdate:
        _add(_UPDATE, fields, fn, order)
        return fn

    return register


def _matching(registry: list[_Entry], name: str) -> list[Callable[..., None]]:
    return [e.fn for e in registry if ANY in e.names or name in e.names]


def run_guards(change: Any, name: str, values: dict[str, Any], acting_user: Any) -> None:
    for fn in _matching(_GUARDS, name):
        fn(change, name, values, acting_user)


def run_after(change: Any, name: str, values: dict[str, Any], acting_user: Any) -> None:
    for fn in _matching(_AFTER, name):
        fn(change, name, values, acting_user)


def run_update(change: Any, changed: set[str], acting_user: Any) -> None:
    done: set[int] = set()
    for entry in _UPDATE:
        if id(entry.fn) in done:
            continue
        if ANY in entry.names or entry.names & changed:
            done.add(id(entry.fn))
            entry.fn(change, changed, acting_user)
