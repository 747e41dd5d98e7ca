"""`GET /metrics`: the API's Prometheus series (no auth, like the workers' endpoints)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.metrics import REGISTRY

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
def metrics() -> Response:
    """Prometheus text format: `relayflow_http_requests_total` and the ingester's series."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
