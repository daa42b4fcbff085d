"""Declared workflows: a state machine is data, checked in one place, never an if-tree.

A `Workflow` lists its transitions; each has a name (the verb of the API operation, e.g.
``resolve``), the states it leaves from, the state it goes to and the fields it requires.
`Workflow.check` refuses anything else with a `Conflict` that names the transitions that
*are* allowed from the current state, so the UI, the API and imports obey the same rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opsdesk.core.errors import Conflict, FieldError


@dataclass(frozen=True)
class Transition:
    name: str
    sources: frozenset[str]
    target: str
    label: str = ""
    #: Fields that must be non-empty for this transition (after applying its input).
    requires: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Workflow:
    name: str
    states: tuple[str, ...]
    transitions: tuple[Transition, ...]
    initial: str
    #: States that end the life of the record (nothing may change afterwards).
    final: frozenset[str] = field(default_factory=frozenset)
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [t.name for t in self.transitions]
        if len(names) != len(set(names)):
            raise ValueError(f"{self.name}: transition names must be unique.")
        for t in self.transitions:
            unknown = (t.sources | {t.target}) - set(self.states)
            if unknown:
                raise ValueError(f"{self.name}.{t.name}: unknown states {sorted(unknown)}.")

    def label(self, state: str) -> str:
        return self.labels.get(state, state.replace("_", " ").capitalize())

    def get(self, name: str) -> Transition:
        for t in self.transitions:
            if t.name == name:
                return t
        raise FieldError({"transition": f"Unknown transition {name!r}."})

    def available(self, state: str) -> list[Transition]:
        """Transitions that may leave `state`, in declaration order."""
        return [t for t in self.transitions if state in t.sources]

    def allowed_names(self, state: str) -> list[str]:
        return [t.name for t in self.available(state)]

    def targets(self, state: str) -> list[str]:
        return list(dict.fromkeys(t.target for t in self.available(state)))

    def check(self, state: str, name: str, values: Mapping[str, Any] | None = None) -> Transition:
        """The transition `name` from `state`, or a 409 naming the allowed ones; a 422 naming
        each required field that is empty in `values`."""
        transition = self.get(name)
        if state not in transition.sources:
            allowed = self.allowed_names(state)
            listed = ", ".join(allowed) if allowed else "none (this is a final state)"
            raise Conflict(
                f"Cannot {name} a record that is {self.label(state).lower()}. "
                f"Allowed from {self.label(state).lower()}: {listed}.",
                field="state",
            )
        missing = {
            f: f"Required to {name}."
            for f in transition.requires
            if values is None or _empty(values.get(f))
        }
        if missing:
            raise FieldError(missing, detail=f"Missing fields to {name}.")
        return transition

    def transition_for(self, state: str, target: str) -> Transition | None:
        """The first declared transition from `state` to `target` (used by imports)."""
        for t in self.available(state):
            if t.target == target:
                return t
        return None

    def as_dict(self) -> dict[str, Any]:
        """The workflow as data, for the API and the docs."""
        return {
            "name": self.name,
            "initial": self.initial,
            "final": sorted(self.final),
            "states": [{"value": s, "label": self.label(s)} for s in self.states],
            "transitions": [
                {
                    "name": t.name,
                    "label": t.title,
                    "from": sorted(t.sources, key=self.states.index),
                    "to": t.target,
                    "requires": list(t.requires),
                }
                for t in self.transitions
            ],
        }


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def t(
    name: str, sources: Iterable[str], target: str, *, label: str = "", requires: Iterable[str] = ()
) -> Transition:
    """Shorthand for declaring a transition."""
    return Transition(name, frozenset(sources), target, label, tuple(requires))
