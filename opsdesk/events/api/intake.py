"""``POST /api/v1/events/{source}``: the door monitoring tools post their alerts through.

Authenticated by the event integration's own token (``Authorization: Bearer opsev_...``,
HTTP basic password, or ``?token=``), never a user session. See `opsdesk.events.intake` for
the answers.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema, Status

from opsdesk.core.api import ERROR_RESPONSES, ErrorOut
from opsdesk.events import intake
from opsdesk.events.choices import Source
from opsdesk.events.integrations import token_from
from opsdesk.events.sources import PayloadError

router = Router(tags=["Events"])


class AcceptedOut(Schema):
    status: str
    inbox_id: int | None
    accepted: int
    firing: int
    resolved: int
    reply: str = ""


def _error(request: HttpRequest, status: int, detail: str, field: str | None = None) -> Any:
    from opsdesk.config.api import api

    errors = [{"field": field, "message": detail}] if field else []
    response: HttpResponse = api.create_response(
        request, {"detail": detail, "errors": errors}, status=status
    )
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="opsdesk-events"'
    return response


_SOURCES = ", ".join(f"`{s}`" for s in Source.values)


@router.post(
    "/events/{source}",
    auth=None,
    response={202: AcceptedOut, 413: ErrorOut, **ERROR_RESPONSES},
    summary="Post monitoring events",
    description=(
        f"Sources: {_SOURCES}. The body is the source's own webhook payload (Alertmanager "
        "webhook v4, Grafana alerting, Azure Monitor common alert schema, SNS messages "
        "carrying CloudWatch alarms, Zabbix and Datadog webhooks, CloudEvents in structured, "
        "binary and batch mode) or, for `generic`, OpsDesk's JSON (docs/events.md). "
        "Authenticate with the integration's token. The answer is 202 with counts once the "
        "events are durably stored; they are then deduplicated, bound to CIs, correlated "
        "into alert groups and turned into incidents by the workers."
    ),
    # The integration's token is checked by the view (so a missing one is a 401 in the error
    # shape even for unknown sources' 404 ordering); the schema says which scheme it is.
    openapi_extra={
        "security": [{"IntegrationTokenAuth": []}],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object", "x-vendor-payload": True}}
            },
        },
    },
)
def post_events(request: HttpRequest, source: str):  # type: ignore[no-untyped-def]
    try:
        intake.check_source(source)
        integration = intake.authenticate(source, token_from(request))
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit() and int(declared) > intake.max_body():
            raise intake.TooLarge(f"body: {declared} bytes; at most {intake.max_body()}.")
        try:
            body = request.body
        except RequestDataTooBig:
            raise intake.TooLarge(f"body: at most {intake.max_body()} bytes.") from None
        result = intake.accept(
            integration=integration,
            body=body,
            headers=dict(request.headers),
            query=request.GET.dict(),
            content_type=request.content_type or "",
        )
    except intake.Unauthenticated as exc:
        return _error(request, 401, exc.detail)
    except intake.TooLarge as exc:
        return _error(request, 413, exc.detail, "body")
    except PayloadError as exc:
        message = str(exc)
        field = message.split(":", 1)[0] if ":" in message else "body"
        return _error(request, 400, message, field)
    return Status(
        202,
        {
            "status": "accepted" if result.accepted else ("ok" if result.reply else "empty"),
            "inbox_id": result.inbox_id,
            "accepted": result.accepted,
            "firing": result.firing,
            "resolved": result.resolved,
            "reply": result.reply,
        },
    )
