"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from api.rest.deps import StoreDep

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:  # async: answers even when every worker thread is busy
    return {"status": "ok"}


@router.get(
    "/readyz",
    operation_id="readyz",
    summary="The Kubernetes API answers",
    responses={503: {"description": "The Kubernetes API is unreachable."}},
)
def readyz(store: StoreDep) -> dict[str, str]:
    store.ready()
    return {"status": "ready"}
