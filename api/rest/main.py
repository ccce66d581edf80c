"""Build the FastAPI app: routers, error mapping and the body size limit. Nothing else."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.logs.store import LogStore, logs_from_env
from api.rest.errors import ApiError
from api.rest.metrics import ApiMetrics, RequestMetrics
from api.rest.results import ResultReader, results_reader
from api.rest.routes import dashboard, health, jobs, live, metrics, pipelines, projects, types
from api.rest.settings import Settings, get_settings
from api.rest.store import JobStore, api_client
from api.rest.streams import StreamSlots


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413 before anything parses them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry: other scopes than HTTP pass through; 413 when the declared
        Content-Length, or the body bytes received so far, exceed ``limit``."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        response = JSONResponse(
            {"code": "too_large", "message": f"the body exceeds {self.limit} bytes"},
            status_code=413,
        )
        await response({"type": "http"}, _empty_receive, send)


class _TooLarge(Exception):
    pass


async def _empty_receive() -> Message:
    return {"type": "http.request", "body": b""}


def create_app(
    settings: Settings | None = None,
    store: JobStore | None = None,
    logs: LogStore | None = None,
    api_metrics: ApiMetrics | None = None,
    results: ResultReader | None = None,
) -> FastAPI:
    """The app; what is not given is built from ``settings`` (``get_settings()`` when None): the
    Kubernetes job store, the log store and the result reader. Raises ``SettingsError``,
    ``KubeConfigError`` or ``LogStoreError`` when one of those cannot be built."""
    settings = settings or get_settings()
    app = FastAPI(
        title="OMVEE jobs API",
        version="1.0.0",
        description="Submit OMVEE's long AI jobs (transcription, scenes, visual prompts, "
        "images, video) and follow them. Every accepted job is an OmveeJob in "
        "Kubernetes before the answer is sent, so nothing is lost on a restart.",
    )
    app.state.settings = settings  # SettingsDep reads it (an override would cost per request)
    app.state.store = store or JobStore(api_client(), settings.namespace)
    app.state.logs = logs or logs_from_env()
    app.state.results = results or results_reader(settings)
    app.state.streams = StreamSlots(settings.max_streams)
    app.state.metrics = api_metrics or ApiMetrics()

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(
            {"code": error.code, "message": error.message},
            status_code=error.status,
            headers={"WWW-Authenticate": "Bearer"} if error.status == 401 else None,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        detail: list[dict[str, Any]] = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in error.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    # live first: /v1/jobs/stream must not be taken for a job id
    for module in (live, jobs, projects, pipelines, types, health, dashboard):
        app.include_router(module.router)
    if not settings.metrics_port:  # else on its own port, see api.rest.__main__
        app.include_router(metrics.router)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)  # outermost: sees the 413s
    return app
