"""GET /metrics: Prometheus text format, served here only when no separate metrics port is
set (OMVEE_API_METRICS_PORT), e.g. for local development; see the README's Metrics section."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.rest.metrics import app_metrics

router = APIRouter(tags=["metrics"])


@router.get("/metrics", operation_id="metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Every metric of ``app.state.metrics`` in the Prometheus text format, rendered in a worker
    thread (off the event loop)."""
    body = await asyncio.to_thread(app_metrics(request).exposition)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
