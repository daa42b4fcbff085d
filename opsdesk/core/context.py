"""Who is acting and on behalf of which request: carried in context variables.

Middleware sets them for web and API requests; actions and tasks set them with
`acting_as(user)`. The audit trail reads them, so no call site has to pass them down.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
actor_var: ContextVar[Any] = ContextVar("actor", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return request_id_var.get()


def current_actor() -> Any:
    return actor_var.get()


@contextlib.contextmanager
def acting_as(user: Any, request_id: str | None = None) -> Iterator[None]:
    """Attribute every change made inside the block to `user`."""
    actor_token = actor_var.set(user)
    rid_token = request_id_var.set(request_id or request_id_var.get() or new_request_id())
    try:
        yield
    finally:
        actor_var.reset(actor_token)
        request_id_var.reset(rid_token)
