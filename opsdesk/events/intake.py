"""Intake: authenticate a monitoring tool's request, normalise it with its source's adapter,
store it durably in the inbox, and only then acknowledge it.

Answers: 202 with counts once stored; 400 naming the problem for a malformed body; 401 for a
missing or unknown token; 403 for a disabled integration, a token of another source or a bad
signature; 404 for an unknown source; 413 above ``EVENTS_MAX_BODY_BYTES``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpRequest

from opsdesk.core.errors import NotFound, PermissionDenied
from opsdesk.events import integrations, transport
from opsdesk.events.choices import Source
from opsdesk.events.inbox import store
from opsdesk.events.models import EventIntegration
from opsdesk.events.sources import PayloadError, SourceRequest, parse

DEFAULT_MAX_BODY = 2 * 1024 * 1024


class Unauthenticated(Exception):
    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class TooLarge(Exception):
    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


def max_body() -> int:
    return int(getattr(settings, "EVENTS_MAX_BODY_BYTES", DEFAULT_MAX_BODY))


@dataclass
class Accepted:
    inbox_id: int | None
    accepted: int
    firing: int
    resolved: int
    reply: str = ""


#: ``Source.values`` builds its list on every call.
SOURCES = frozenset(Source.values)


def check_source(source: str) -> None:
    if source not in SOURCES:
        raise NotFound(f"Unknown event source {source!r}; known: {', '.join(Source.values)}.")


def authenticate(source: str, raw_token: str) -> EventIntegration:
    check_source(source)
    if not raw_token:
        raise Unauthenticated(
            "Authentication required: send the integration's token (Bearer, basic auth "
            "password or ?token=)."
        )
    integration = integrations.find_integration(raw_token)
    if integration is None:
        raise Unauthenticated("Authentication failed: unknown integration token.")
    if not integration.is_active:
        raise PermissionDenied(f"The integration {integration.name} is disabled.")
    if integration.source != source:
        raise PermissionDenied(
            f"The integration {integration.name} posts to /events/{integration.source}, "
            f"not /events/{source}."
        )
    return integration


def _nul_in(value: Any, path: str) -> str | None:
    """The path of the first string holding a NUL character, or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}"
            if "\x00" in str(key):
                return where
            if (found := _nul_in(item, where)) is not None:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            if (found := _nul_in(item, f"{path}[{i}]")) is not None:
                return found
    return None


def refuse_nul(events: list[Any]) -> None:
    """A 400 naming the field for a NUL character (``\\u0000``), which the database cannot
    store in text or JSON (the raw body is kept without it)."""
    for i, event in enumerate(events):
        if (found := _nul_in(event.to_json(), f"events[{i}]")) is not None:
            raise PayloadError(f"{found}: must not contain NUL characters (\\u0000).")


def accept(
    *,
    integration: EventIntegration,
    body: bytes,
    headers: Mapping[str, str],
    query: Mapping[str, str] | None = None,
    content_type: str = "",
) -> Accepted:
    """Parse and store; raises `PayloadError` (400), `PermissionDenied` (403), `TooLarge`."""
    if len(body) > max_body():
        raise TooLarge(f"body: {len(body)} bytes; at most {max_body()} per request.")
    lowered = {k.lower(): v for k, v in headers.items()}
    integrations.check_signature(integration, lowered, body)
    parsed = parse(
        integration.source,
        SourceRequest(
            body=body,
            headers=lowered,
            query=dict(query or {}),
            options=integration.options or {},
            secret=integration.secret,
        ),
    )
    if b"\\u0000" in body or b"\x00" in body:
        refuse_nul(parsed.events)
    integrations.touch(integration)
    if not parsed.events:
        return Accepted(None, 0, 0, 0, parsed.reply)
    # One INSERT: in autocommit mode it is durable when it returns (no BEGIN / COMMIT round
    # trips of an atomic block around a single statement: 4 round trips -> 2 with NOTIFY).
    # Inside a caller's transaction the dispatch still waits for its commit.
    entry = store(
        organization_id=integration.organization_id,
        source=integration.source,
        events=parsed.events,
        body=body,
        content_type=content_type,
        integration=integration,
        transport=transport.name(),
    )
    transaction.on_commit(lambda: transport.dispatch(entry))
    firing = sum(1 for e in parsed.events if e.status == "firing")
    return Accepted(entry.pk, len(parsed.events), firing, len(parsed.events) - firing, parsed.reply)


@dataclass
class Answer:
    """What the intake answers, whichever door the request came through (the documented
    django-ninja route or the WSGI fast path, `opsdesk.events.fastpath`): both render it."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _refusal(status: int, detail: str, field_name: str | None = None) -> Answer:
    errors = [{"field": field_name, "message": detail}] if field_name else []
    headers = {"WWW-Authenticate": 'Bearer realm="opsdesk-events"'} if status == 401 else {}
    return Answer(status, {"detail": detail, "errors": errors}, headers)


def respond(
    source: str,
    *,
    token: str,
    declared_length: str,
    read_body: Callable[[], bytes],
    headers: Mapping[str, str],
    query: Mapping[str, str],
    content_type: str,
) -> Answer:
    """Run one intake request: 202 with counts once stored, else the refusal (400 naming the
    field, 401, 403, 404, 413). ``read_body`` may raise `RequestDataTooBig`."""
    try:
        integration = authenticate(source, token)
        if declared_length.isdigit() and int(declared_length) > max_body():
            raise TooLarge(f"body: {declared_length} bytes; at most {max_body()}.")
        try:
            body = read_body()
        except RequestDataTooBig:
            raise TooLarge(f"body: at most {max_body()} bytes.") from None
        result = accept(
            integration=integration,
            body=body,
            headers=headers,
            query=query,
            content_type=content_type,
        )
    except NotFound as exc:
        return _refusal(404, exc.detail)
    except PermissionDenied as exc:
        return _refusal(403, exc.detail)
    except Unauthenticated as exc:
        return _refusal(401, exc.detail)
    except TooLarge as exc:
        return _refusal(413, exc.detail, "body")
    except PayloadError as exc:
        message = str(exc)
        return _refusal(400, message, message.split(":", 1)[0] if ":" in message else "body")
    status = "accepted" if result.accepted else ("ok" if result.reply else "empty")
    return Answer(
        202,
        {
            "status": status,
            "inbox_id": result.inbox_id,
            "accepted": result.accepted,
            "firing": result.firing,
            "resolved": result.resolved,
            "reply": result.reply,
        },
    )


def respond_to(request: HttpRequest, source: str) -> Answer:
    """`respond` to a Django request: the documented route's and the fast path's door."""
    return respond(
        source,
        token=integrations.token_from(request),
        declared_length=request.META.get("CONTENT_LENGTH") or "0",
        read_body=lambda: request.body,
        headers=request.headers,
        query=request.GET.dict(),
        content_type=request.content_type or "",
    )
