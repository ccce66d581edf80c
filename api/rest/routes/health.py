"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from api.rest.deps import StoreDep

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:  # async: answers even when every worker thread is busy
    """``{"status": "ok"}`` while the process runs; asks nothing of Kubernetes."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    operation_id="readyz",
    summary="The Kubernetes API answers",
    responses={503: {"description": "The Kubernetes API is unreachable."}},
)
def readyz(store: StoreDep) -> dict[str, str]:
    """``{"status": "ready"}`` once a one-item list of OmveeJobs succeeds. Raises Unavailable
    (503) when the Kubernetes API fails or is unreachable."""
    store.ready()
    return {"status": "ready"}
