"""Helpers for the metrics / analytics / audit tests: scraping Prometheus text, metric clients."""

from __future__ import annotations

import socket
from collections.abc import Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

import telemetry

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
#: labels the SDK adds to every series it exports; tests compare the rest
SDK_LABELS = {"namespace", "task_queue", "workflow_type", "activity_type", "service_name"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(url: str, prefix: str = "relayflow_") -> Samples:
    """Every sample whose name starts with `prefix`, keyed by (name, labels without SDK ones)."""
    text = httpx.get(url, timeout=10).text
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if not s.name.startswith(prefix):
                continue
            labels = frozenset((k, v) for k, v in s.labels.items() if k not in SDK_LABELS)
            key = (s.name, labels)
            out[key] = out.get(key, 0.0) + s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample `name` with exactly these labels (0 when absent)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def matching(
    samples: Samples, name: str, **labels: str
) -> Mapping[frozenset[tuple[str, str]], float]:
    """All samples of `name` whose labels include `labels`."""
    want = set(labels.items())
    return {k[1]: v for k, v in samples.items() if k[0] == name and want <= k[1]}


class MetricsWorkerClient:
    """A client on its own SDK runtime whose Prometheus endpoint is `url` (one per 'process')."""

    def __init__(self) -> None:
        self.port = free_port()
        self.runtime: Runtime = telemetry.metrics_runtime(f"127.0.0.1:{self.port}")
        self.url = f"http://127.0.0.1:{self.port}/metrics"

    async def connect(self, base: Client) -> Client:
        return await Client.connect(
            base.service_client.config.target_host,
            namespace=base.namespace,
            data_converter=pydantic_data_converter,
            runtime=self.runtime,
        )
