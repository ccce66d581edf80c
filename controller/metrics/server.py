"""The operator's HTTP endpoint: /healthz for the kubelet, /metrics for Prometheus, on one port
(OMVEE_HEALTH_PORT). It runs in kopf's event loop, so it answers only while the operator does,
as kopf's own liveness endpoint would; kopf's serves a single path, hence this one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from controller.metrics.registry import OperatorMetrics


def build_app(metrics: OperatorMetrics) -> web.Application:
    """An aiohttp app: GET /healthz answers 200 ``{"status": "ok"}``, GET /metrics the
    Prometheus text exposition of ``metrics``."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def scrape(_: web.Request) -> web.Response:
        body = await asyncio.to_thread(metrics.exposition)  # gauges take a lock
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.add_routes([web.get("/healthz", healthz), web.get("/metrics", scrape)])
    return app


@asynccontextmanager
async def serving(
    port: int, metrics: OperatorMetrics, host: str = "0.0.0.0"
) -> AsyncIterator[None]:
    """Listening once entered (a port in use fails the start), until the block ends."""
    runner = web.AppRunner(
        build_app(metrics), handle_signals=False, shutdown_timeout=1.0, access_log=None
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        yield
    finally:
        await asyncio.shield(runner.cleanup())
