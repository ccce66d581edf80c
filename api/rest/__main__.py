"""Serve the API: ``python -m api.rest`` (OMVEE_API_HOST, OMVEE_API_PORT; default :8000;
/metrics on OMVEE_API_METRICS_PORT when set). Exits 2 when a setting is wrong."""

from __future__ import annotations

import logging

import uvicorn
from prometheus_client import disable_created_metrics, start_http_server

from api.envsettings import SettingsError
from api.kubeclient import KubeConfigError
from api.logs.store import LogStoreError
from api.rest.main import create_app
from api.rest.settings import get_settings

log = logging.getLogger("api")


def main() -> None:
    """Build the app from the environment and serve it with uvicorn until stopped (20 s of graceful
    shutdown), /metrics on its own port when set. ``SystemExit(2)`` when a setting, the Kubernetes
    credentials or the log store is wrong."""
    disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series: noise
    try:
        settings = get_settings()
        app = create_app(settings)
    except (SettingsError, KubeConfigError, LogStoreError) as error:
        logging.basicConfig(level=logging.INFO)
        log.error("Cannot start: %s", error)
        raise SystemExit(2) from None
    if port := settings.metrics_port:
        start_http_server(port, addr=settings.host, registry=app.state.metrics.registry)
    uvicorn.run(app, host=settings.host, port=settings.port, timeout_graceful_shutdown=20)


if __name__ == "__main__":
    main()
