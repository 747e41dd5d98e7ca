"""Telemetry of the worker and the API: the worker's Prometheus endpoint and OpenTelemetry tracing.

- `worker_runtime(settings)`: a Temporal SDK `Runtime` whose Prometheus exporter serves
  `/metrics` on `WORKER_METRICS_HOST:WORKER_METRICS_PORT` — the SDK's `temporal_*`
  series and the `relayflow_*` ones the workflow and the actions record through the
  SDK's metric meters (with the histogram buckets of `workflows.engine.metrics` and
  `activities.metrics`). A port already in use is logged and the worker runs without
  an endpoint rather than not at all.
- `tracing_interceptors(settings)`: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the SDK's
  OpenTelemetry `TracingInterceptor` (spans for start/signal/query/update, workflow
  and activity runs) exporting over OTLP/HTTP; empty (tracing off) otherwise.
"""

from __future__ import annotations

import logging
from typing import Any

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from settings import Settings

log = logging.getLogger("relayflow.telemetry")

_tracer_provider: Any = None


def histogram_buckets() -> dict[str, list[float]]:
    from activities.metrics import BUCKETS as ACTION_BUCKETS
    from workflows.engine.metrics import BUCKETS as WORKFLOW_BUCKETS

    return {**WORKFLOW_BUCKETS, **ACTION_BUCKETS}


def metrics_runtime(bind_address: str) -> Runtime:
    """An SDK runtime exporting Prometheus metrics on `bind_address` (host:port)."""
    prometheus = PrometheusConfig(
        bind_address=bind_address, histogram_bucket_overrides=histogram_buckets()
    )
    return Runtime(telemetry=TelemetryConfig(metrics=prometheus))


def worker_runtime(settings: Settings) -> Runtime | None:
    """The worker's runtime with its metrics endpoint; None when off or the port is taken."""
    if not settings.worker_metrics_port:
        return None
    address = f"{settings.worker_metrics_host}:{settings.worker_metrics_port}"
    try:
        runtime = metrics_runtime(address)
    except Exception as exc:  # noqa: BLE001 - e.g. the port is taken by another worker
        log.error("worker metrics endpoint not started on %s: %s", address, exc)
        return None
    log.info("worker metrics on http://%s/metrics", address)
    return runtime


def tracer_provider(settings: Settings) -> Any:
    """The process's OpenTelemetry tracer provider exporting to the OTLP endpoint (once)."""
    global _tracer_provider
    if _tracer_provider is None:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        endpoint = (settings.otel_exporter_otlp_endpoint or "").rstrip("/")
        provider = TracerProvider(resource=Resource.create({"service.name": "relayflow"}))
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"))
        )
        trace.set_tracer_provider(provider)
        _tracer_provider = provider
    return _tracer_provider


def tracing_interceptors(settings: Settings) -> list[Any]:
    """`[TracingInterceptor]` when OTEL_EXPORTER_OTLP_ENDPOINT is set, else `[]`."""
    if not settings.otel_exporter_otlp_endpoint:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    provider = tracer_provider(settings)
    return [TracingInterceptor(provider.get_tracer("relayflow"))]
