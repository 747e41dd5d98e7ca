"""The API's Prometheus series (SPEC §10) and the ASGI middleware that counts requests.

`relayflow_http_requests_total{route,method,status}` labels a request with its route
TEMPLATE (`/runs/{run_id}`), never the raw path, so run ids do not become series;
requests that match no route count as `route="unmatched"`. The analytics ingester
adds its own progress series. Everything lives in one registry, served by
`GET /metrics` (api/routes/metrics.py).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics
from starlette.types import ASGIApp, Message, Receive, Scope, Send

disable_created_metrics()  # no `_created` twin for every counter

REGISTRY = CollectorRegistry()
HTTP_REQUESTS = Counter(
    "relayflow_http_requests",
    "HTTP requests answered by the API, by route template, method and status.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
INGESTED_RUNS = Counter(
    "relayflow_analytics_runs_ingested",
    "Closed runs this API process wrote into the analytics store.",
    registry=REGISTRY,
)
INGEST_ERRORS = Counter(
    "relayflow_analytics_ingest_errors",
    "Ingester polls or runs that failed (retried on the next poll).",
    registry=REGISTRY,
)
WATERMARK = Gauge(
    "relayflow_analytics_watermark_timestamp_seconds",
    "Close time up to which the analytics store has read closed runs (Unix time).",
    registry=REGISTRY,
)


class RequestMetrics:
    """Pure ASGI middleware: counts every HTTP request once its response status is known."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # an exception before any response

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            HTTP_REQUESTS.labels(template, scope.get("method", ""), str(status)).inc()
