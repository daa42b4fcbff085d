"""Self-observability: Prometheus metrics for requests, latency and the task queue."""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "opsdesk_http_requests_total",
    "HTTP requests handled.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "opsdesk_http_request_duration_seconds",
    "Time to handle an HTTP request.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)


class TaskQueueCollector:
    """Reads queue depth from the task table at scrape time, so every process agrees."""

    def describe(self):  # type: ignore[no-untyped-def]
        yield GaugeMetricFamily(
            "opsdesk_task_queue_depth",
            "Background tasks by queue and status.",
            labels=["queue", "status"],
        )

    def collect(self):  # type: ignore[no-untyped-def]
        from django.db.models import Count
        from django_tasks_db.models import DBTaskResult

        depth = GaugeMetricFamily(
            "opsdesk_task_queue_depth",
            "Background tasks by queue and status.",
            labels=["queue", "status"],
        )
        rows = DBTaskResult.objects.values("queue_name", "status").annotate(n=Count("id"))
        for row in rows:
            depth.add_metric([row["queue_name"], row["status"]], row["n"])
        yield depth


REGISTRY.register(TaskQueueCollector())


def _route(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return "/" + (match.route or match.view_name or "unknown").lstrip("^")


class MetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        route = _route(request)
        if route != "/metrics":
            LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
            REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        return response


def metrics_view(request: HttpRequest) -> HttpResponse:
    expected = settings.METRICS_TOKEN
    if expected:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(TaskQueueCollector())
    else:
        registry = REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
