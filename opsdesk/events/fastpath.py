"""A lean WSGI door for ``POST /api/v1/events/<source>``, in front of Django.

Monitoring tools post many small requests; through Django each pays for the URL resolver,
every middleware (sessions, CSRF, authentication, CSP, htmx, ...) and django-ninja, which
this endpoint uses none of: it authenticates by the integration's token, not a session, and
reads its body itself. So `IntakeFastPath` answers these requests directly with the same
implementation as the documented route (`opsdesk.events.intake.respond_to` on Django's own
request object, rendered by the same django-ninja renderer): the same token rules, signature
and size checks, adapter and inbox row, committed before the 202. It keeps what the
middleware stack would still do for it: the host check (``ALLOWED_HOSTS``) and the HTTPS
redirect (``SECURE_SSL_REDIRECT``), by leaving those requests to Django, the request id
(``X-Request-ID``), the request metrics, the security headers of Django's middleware
(`security_headers`: the same ``Strict-Transport-Security``, ``X-Content-Type-Options``,
``Referrer-Policy``, ``Cross-Origin-Opener-Policy``, ``X-Frame-Options`` and
``Content-Security-Policy``, made by the same middleware) and the database connection's
recycling (`finish_request`, with a health check after an idle spell). Every other request,
and any source name that is not an event source, goes to Django unchanged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import request_finished
from django.db import connections
from django.http import HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware

from opsdesk.core.context import request_id_var
from opsdesk.core.metrics import LATENCY, REQUESTS
from opsdesk.core.middleware import request_id_for
from opsdesk.events import intake

logger = logging.getLogger("opsdesk.events.fastpath")

PREFIX = "/api/v1/events/"
#: The metrics' route label: what Django's resolver names this route.
ROUTE = "/api/v1/events/<source>"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
#: A connection unused for this long is checked before its next request (`check_if_idle`).
IDLE_CHECK_SECONDS = 5.0


def finish_request(sender: type) -> None:
    """What Django does after a request (``request_finished``: close a database connection
    that failed or outlived ``CONN_MAX_AGE``), but not what it does before the next one: a
    health check, a round trip per request. A busy intake sends requests far apart from
    each other by milliseconds; the connections are checked only after an idle spell
    (`check_if_idle`), when a database restart may have broken them unnoticed."""
    request_finished.send(sender=sender)
    now = time.monotonic()
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            conn.health_check_done = True
            conn.intake_idle_since = now


def check_if_idle() -> None:
    """Before a request: a connection idle for `IDLE_CHECK_SECONDS` or more gets Django's
    health check at its first query (and is replaced when the database dropped it), so a
    request after a quiet spell is not failed by a connection that broke meanwhile."""
    now = time.monotonic()
    for conn in connections.all(initialized_only=True):
        since = getattr(conn, "intake_idle_since", None)
        if since is not None and now - since >= IDLE_CHECK_SECONDS:
            conn.health_check_done = False


def security_headers(request: WSGIRequest) -> list[tuple[str, str]]:
    """The headers Django's security, clickjacking and CSP middleware would add to this
    request's answer, made by those middleware (so a setting changes both doors alike)."""
    from csp.middleware import CSPMiddleware

    response = HttpResponse()
    del response["Content-Type"]
    # An answer meets them in the reverse of their order in MIDDLEWARE.
    for middleware in (CSPMiddleware, XFrameOptionsMiddleware, SecurityMiddleware):
        response = middleware(_no_view).process_response(request, response)
    return list(response.items())


def _no_view(request: Any) -> HttpResponse:
    raise AssertionError("only process_response is called")


class IntakeFastPath:
    """WSGI middleware: intake requests answered here, everything else by ``app``."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path: str = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "POST" or not path.startswith(PREFIX):
            return self.app(environ, start_response)
        source = path[len(PREFIX) :]
        if source not in intake.SOURCES:
            return self.app(environ, start_response)
        request = WSGIRequest(environ)
        try:
            request.get_host()  # ALLOWED_HOSTS, as Django's CommonMiddleware checks it
        except DisallowedHost:
            return self.app(environ, start_response)  # Django answers 400
        if settings.SECURE_SSL_REDIRECT and not request.is_secure():
            return self.app(environ, start_response)  # Django redirects to HTTPS
        return self.handle(source, request, start_response)

    def handle(
        self, source: str, request: WSGIRequest, start_response: Callable[..., Any]
    ) -> list[bytes]:
        from opsdesk.config.api import api

        started = time.perf_counter()
        rid = request_id_for(request.META.get("HTTP_X_REQUEST_ID", ""))
        token = request_id_var.set(rid)
        check_if_idle()
        try:
            result = intake.respond_to(request, source)
        except Exception:
            logger.exception("unhandled intake error")
            result = intake.Answer(
                500, {"detail": f"Internal error; quote request id {rid}.", "errors": []}
            )
        finally:
            request_id_var.reset(token)
            finish_request(self.__class__)
        content = api.renderer.render(None, result.body, response_status=result.status).encode()
        start_response(
            f"{result.status} {HTTPStatus(result.status).phrase}",
            [
                ("Content-Type", api.get_content_type()),
                ("Content-Length", str(len(content))),
                *security_headers(request),
                *result.headers.items(),
                ("X-Request-ID", rid),
            ],
        )
        LATENCY.labels("POST", ROUTE).observe(time.perf_counter() - started)
        REQUESTS.labels("POST", ROUTE, str(result.status)).inc()
        return [content]
