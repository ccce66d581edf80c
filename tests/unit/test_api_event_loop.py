"""Nothing blocks the API's event loop, and no request waits for a thread it does not need.

FastAPI runs a sync (``def``) route or dependency in its worker thread pool and an ``async def``
one on the event loop. So a route that reaches Kubernetes, saved logs or results (blocking
clients) must be sync, and the dependencies, which only read ``app.state`` or check a token in
memory, are ``async def``: a sync one costs a thread hop per request."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from api.rest.deps import get_logs, get_results, get_store
from api.rest.routes import dashboard, health, jobs, live, metrics, projects

BLOCKING_CLIENTS = {get_store, get_logs, get_results}


def calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    """Every dependency callable under ``dependant`` (not the endpoint itself)."""
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from calls(sub)


def routes() -> list[APIRoute]:
    """Every route of every router the app includes (api.rest.main)."""
    found = [
        route
        for module in (live, jobs, projects, health, dashboard, metrics)
        for route in module.router.routes
        if isinstance(route, APIRoute)
    ]
    assert len(found) >= 12
    return found


def test_a_route_that_reaches_a_blocking_client_is_sync() -> None:
    on_the_loop = [
        route.path
        for route in routes()
        if inspect.iscoroutinefunction(route.endpoint)
        and BLOCKING_CLIENTS & set(calls(route.dependant))
    ]
    assert on_the_loop == []


def test_every_dependency_runs_on_the_event_loop() -> None:
    sync = {
        f"{route.path}: {call.__qualname__}"
        for route in routes()
        for call in calls(route.dependant)
        if not inspect.iscoroutinefunction(call)
    }
    assert sync == set()
