"""Helpers of the runbook tests: an alert group on CIs with an incident, a runbook, and a
real HTTP server on 127.0.0.1 that keeps what runbooks send it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django.utils import timezone

from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.events import pipeline
from opsdesk.events.models import Alert, AlertGroup, CorrelationSettings, Runbook
from opsdesk.events.runbooks import create_runbook
from opsdesk.servicedesk.actions import create_incident


def alert_group(
    org: Any,
    cis: list[ConfigurationItem],
    *,
    title: str = "Disk full on web servers",
    severity: str = "major",
    now: datetime | None = None,
    incident: bool = True,
    labels: dict[str, str] | None = None,
) -> AlertGroup:
    """An open group with one firing alert per CI (first CI alerted first) and, by default,
    the incident the incident stage would have opened."""
    now = now or timezone.now()
    inc = None
    if incident:
        inc = create_incident(
            acting_user=None,
            organization=org,
            title=title,
            system=pipeline.SYSTEM_ACTOR,
            impact=2,
            urgency=3,
        )
    group = AlertGroup.objects.create(
        organization=org,
        title=title,
        severity=severity,
        onset_at=now,
        last_event_at=now,
        alert_count=len(cis),
        event_count=len(cis),
        firing_count=len(cis),
        incident=inc,
    )
    for i, ci in enumerate(cis):
        start = now - timedelta(seconds=60 - i)
        Alert.objects.create(
            organization=org,
            source="generic",
            fingerprint=f"{group.pk}-{ci.pk}",
            status="firing",
            severity=severity,
            title=f"{title}: {ci.name}",
            resource={"host.name": ci.name},
            labels={"alertname": "DiskFull", "team": "web", **(labels or {})},
            starts_at=start,
            first_seen=start,
            last_seen=start,
            ci=ci,
            group=group,
        )
    return group


def opened(org: Any, group: AlertGroup, now: datetime | None = None) -> pipeline.Batch:
    """The batch that opened `group`, as the runbooks stage sees it."""
    b = pipeline.Batch(
        organization_id=org.pk,
        items=[],
        settings=CorrelationSettings.for_org(org.pk),
        now=now or timezone.now(),
    )
    b.groups_opened.add(group.pk)
    b.groups_touched.add(group.pk)
    return b


def runbook(user: Any, org: Any, **fields: Any) -> Runbook:
    fields.setdefault("name", "Clean the disk")
    fields.setdefault("action_kind", "http")
    fields.setdefault("action", {"url": "http://127.0.0.1:9/hooks/clean", "body": {"ci": "{ci}"}})
    fields.setdefault("conditions", {"ci_classes": ["server"], "title_contains": "disk"})
    fields.setdefault("dry_run", False)
    return create_runbook(acting_user=user, organization=org, **fields)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Hook:
    url: str = ""
    received: list[Received] = field(default_factory=list)
    status: int = 200
    reply: bytes = b'{"job": 42, "status": "pending"}'
    #: path -> Location: those paths answer 302 to it.
    redirects: dict[str, str] = field(default_factory=dict)


@contextmanager
def hook_server() -> Iterator[Hook]:
    """A threaded HTTP server on 127.0.0.1 (an AWX / Resolve / Azure Automation webhook
    stand-in): keeps every request, answers ``hook.status`` with ``hook.reply``."""
    hook = Hook()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length) if length else b""
            hook.received.append(
                Received(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
            )
            if self.path in hook.redirects:
                self.send_response(302)
                self.send_header("Location", hook.redirects[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(hook.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(hook.reply)))
            self.end_headers()
            self.wfile.write(hook.reply)

        do_POST = do_PUT = do_PATCH = do_GET = _serve

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
