"""OpenTelemetry: with OTEL_EXPORTER_OTLP_ENDPOINT set, client and worker trace through the
SDK's TracingInterceptor and each action call is a span named after its step; unset, off."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from temporalio.client import Client

import telemetry
from settings import Settings
from tests.helpers.http_receiver import HttpReceiver, Reply

ROOT = Path(__file__).resolve().parents[2]


def test_tracing_is_off_without_an_endpoint() -> None:
    assert telemetry.tracing_interceptors(Settings(otel_exporter_otlp_endpoint=None)) == []


def test_spans_reach_the_otlp_endpoint(client: Client) -> None:
    with HttpReceiver(default=Reply(200, b"")) as collector:
        env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=collector.url, PYTHONPATH=str(ROOT))
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.analytics.otel_run",
                client.service_client.config.target_host,
                client.namespace,
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        posts = collector.at("/v1/traces")
    assert posts, "no spans exported"
    names = set()
    for req in posts:
        export = ExportTraceServiceRequest.FromString(req.body)
        for rs in export.resource_spans:
            for ss in rs.scope_spans:
                names.update(span.name for span in ss.spans)
    assert "step hello" in names, names
    assert {"StartWorkflow:TemplateWorkflow", "RunWorkflow:TemplateWorkflow"} <= names, names
    assert "RunActivity:log" in names, names
