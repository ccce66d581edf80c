"""The API's Prometheus metrics, on a registry of its own per app (tests build fresh ones).

Requests are labelled with the route template (``/v1/jobs/{job_id}``), never the raw path,
so an id never becomes a label; a request no route answered is ``route="unmatched"``.
"""

from __future__ import annotations

import time

from fastapi import Request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.v1alpha1.types import JobType

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
# Most answers take milliseconds; log follows and event streams last as long as the client.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)


class ApiMetrics:
    """The API's counters and histogram (submissions by type, requests by method, route and
    code, request durations in seconds) on ``registry``, a fresh one when None."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.submissions = Counter(
            "omvee_job_submissions_total",
            "Jobs the API accepted as new OmveeJobs (idempotent replays not counted).",
            ["type"],
            registry=self.registry,
        )
        self.requests = Counter(
            "omvee_api_requests_total",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "omvee_api_request_duration_seconds",
            "Time to answer a request (for streams: until the stream ended).",
            ["method", "route"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        for job_type in JobType:
            self.submissions.labels(job_type.value)

    def submitted(self, job_type: JobType) -> None:
        """Count one new OmveeJob of ``job_type`` (not an idempotent replay)."""
        self.submissions.labels(job_type.value).inc()

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format (UTF-8 bytes), for ``GET /metrics``."""
        return generate_latest(self.registry)


def route_label(scope: Scope) -> str:
    """The template of the route that answered (Starlette records it in the scope)."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


def method_label(scope: Scope) -> str:
    """The request's HTTP method, or ``OTHER`` for one outside METHODS (a label never takes
    an unbounded value)."""
    method = scope.get("method")
    return method if method in METHODS else "OTHER"


class RequestMetrics:
    """ASGI middleware: count and time every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry: pass the request on, then count it by the status code sent (500 when an
        exception escaped before a response started) and observe its duration (seconds)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        code = 500  # unless a response starts: an exception escaped

        async def sending(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            method, route = method_label(scope), route_label(scope)
            self.metrics.requests.labels(method, route, str(code)).inc()
            self.metrics.duration.labels(method, route).observe(time.perf_counter() - started)


def app_metrics(request: Request) -> ApiMetrics:
    """The app's ApiMetrics (``app.state.metrics``, set by create_app)."""
    metrics: ApiMetrics = request.app.state.metrics
    return metrics
