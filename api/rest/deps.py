"""FastAPI dependencies: settings, the job store, and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from api.logs.store import LogStore
from api.rest.auth import Principal, authenticate
from api.rest.results import ResultReader
from api.rest.settings import Settings, get_settings
from api.rest.store import JobStore
from api.rest.streams import StreamSlots

SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_store(request: Request) -> JobStore:
    store: JobStore = request.app.state.store
    return store


StoreDep = Annotated[JobStore, Depends(get_store)]


def get_logs(request: Request) -> LogStore | None:
    logs: LogStore | None = request.app.state.logs
    return logs


LogsDep = Annotated[LogStore | None, Depends(get_logs)]


def get_results(request: Request) -> ResultReader | None:
    results: ResultReader | None = request.app.state.results
    return results


ResultsDep = Annotated[ResultReader | None, Depends(get_results)]


def get_streams(request: Request) -> StreamSlots:
    streams: StreamSlots = request.app.state.streams
    return streams


StreamsDep = Annotated[StreamSlots, Depends(get_streams)]


def get_principal(
    settings: SettingsDep, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    return authenticate(
        authorization,
        jwt_secret=settings.jwt_secret,
        audience=settings.jwt_audience,
        service_tokens=settings.service_tokens,
        development=settings.environment == "development",
    )


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
