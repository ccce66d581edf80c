"""Serve the API: ``python -m api.rest`` (OMVEE_API_HOST, OMVEE_API_PORT; default :8000;
/metrics on OMVEE_API_METRICS_PORT when set)."""

from __future__ import annotations

import os

import uvicorn
from prometheus_client import disable_created_metrics, start_http_server

from api.rest.main import create_app
from api.rest.settings import get_settings


def main() -> None:
    disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series: noise
    app = create_app()
    host = os.environ.get("OMVEE_API_HOST", "0.0.0.0")
    if port := get_settings().metrics_port:
        start_http_server(port, addr=host, registry=app.state.metrics.registry)
    uvicorn.run(
        app,
        host=host,
        port=int(os.environ.get("OMVEE_API_PORT", "8000")),
        timeout_graceful_shutdown=20,
    )


if __name__ == "__main__":
    main()
