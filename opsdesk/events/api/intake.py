"""``POST /api/v1/events/{source}``: the door monitoring tools post their alerts through.

Authenticated by the event integration's own token (``Authorization: Bearer opsev_...``,
HTTP basic password, or ``?token=``), never a user session. See `opsdesk.events.intake` for
the answers.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema

from opsdesk.core.api import ERROR_RESPONSES, ErrorOut
from opsdesk.events import intake
from opsdesk.events.choices import Source

router = Router(tags=["Events"])


class AcceptedOut(Schema):
    status: str
    inbox_id: int | None
    accepted: int
    firing: int
    resolved: int
    reply: str = ""


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
def post_events(request: HttpRequest, source: str) -> HttpResponse:
    from opsdesk.config.api import api

    answer = intake.respond_to(request, source)
    response = api.create_response(request, answer.body, status=answer.status)
    for name, value in answer.headers.items():
        response[name] = value
    return response
