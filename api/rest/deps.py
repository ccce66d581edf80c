"""FastAPI dependencies: settings, the job store, and the caller.

Each is ``async def`` because none does I/O (they read ``app.state``, or check a token in
memory): FastAPI runs a sync dependency in the worker thread pool, one hop per dependency per
request, which at 50 concurrent clients costs more than the work itself. The routes that call
Kubernetes or read files stay sync (``def``), so that FastAPI runs them in the thread pool,
off the event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from api.logs.store import LogStore
from api.rest.auth import Principal, authenticate
from api.rest.results import ResultReader
from api.rest.settings import Settings
from api.rest.store import JobStore
from api.rest.streams import StreamSlots


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was built with (``create_app``; read once, not per request)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_store(request: Request) -> JobStore:
    """The app's ``JobStore`` (``app.state.store``, set by ``create_app``)."""
    store: JobStore = request.app.state.store
    return store


StoreDep = Annotated[JobStore, Depends(get_store)]


async def get_logs(request: Request) -> LogStore | None:
    """The app's saved-log store (``app.state.logs``), None when logs are not kept."""
    logs: LogStore | None = request.app.state.logs
    return logs


LogsDep = Annotated[LogStore | None, Depends(get_logs)]


async def get_results(request: Request) -> ResultReader | None:
    """The app's result-file reader (``app.state.results``), None when results are not served."""
    results: ResultReader | None = request.app.state.results
    return results


ResultsDep = Annotated[ResultReader | None, Depends(get_results)]


async def get_streams(request: Request) -> StreamSlots:
    """The app's cap on open streams (``app.state.streams``)."""
    streams: StreamSlots = request.app.state.streams
    return streams


StreamsDep = Annotated[StreamSlots, Depends(get_streams)]


async def get_principal(
    settings: SettingsDep, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    """The caller; raises ``Unauthenticated`` (401). CPU only (a constant-time comparison or
    an HMAC-SHA256 check of a JWT, microseconds), so it runs on the event loop."""
    return authenticate(
        authorization,
        jwt_secret=settings.jwt_secret,
        audience=settings.jwt_audience,
        service_tokens=settings.service_tokens,
        development=settings.environment == "development",
    )


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
