"""Live views for people: every job as a stream of changes, and one job's attempts and timeline.
The dashboard is built on these two."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Annotated, Any

import urllib3
from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse
from kubernetes import client

from api.rest import live
from api.rest.auth import Principal
from api.rest.deps import CurrentPrincipal, StoreDep, StreamsDep
from api.rest.errors import ApiError, NotFound
from api.rest.routes.jobs import visible_job
from api.rest.schemas import ERROR_RESPONSES, SSE_HEADERS, event_stream_responses
from api.rest.store import JobStore
from api.v1alpha1.types import UUID_PATTERN

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/jobs", tags=["live"], responses=ERROR_RESPONSES)
# A watch is renewed this often; between two, a comment line keeps proxies from timing out.
WATCH_SECONDS = 15


def _allowed(principal: Principal, project_id: str | None, ojob: dict[str, Any]) -> bool:
    project = str((ojob.get("spec") or {}).get("projectId") or "")
    return principal.may_access(project) and project_id in (None, project.lower())


def _changes(
    store: JobStore,
    principal: Principal,
    project_id: str | None,
    seconds: int,
    listed: tuple[list[dict[str, Any]], str] | None,
) -> Iterator[bytes]:
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            items, version = listed or store.list_all()
            listed = None
            rows = [live.job_row(o) for o in items if _allowed(principal, project_id, o)]
            yield live.sse("snapshot", {"items": rows})
            expired = False
            while not expired and (left := deadline - time.monotonic()) > 0:
                for kind, ojob in store.watch_all(version, max(1, min(WATCH_SECONDS, int(left)))):
                    if kind == "EXPIRED":
                        expired = True  # too far behind: list again, send a new snapshot
                        break
                    version = ojob["metadata"]["resourceVersion"]
                    if kind == "BOOKMARK" or not _allowed(principal, project_id, ojob):
                        continue
                    if kind == "DELETED":
                        yield live.sse("delete", {"id": ojob["spec"]["jobId"]})
                    else:
                        yield live.sse("upsert", live.job_row(ojob))
                yield b": keep-alive\n\n"
        yield live.sse("end", {})
    except (ApiError, client.ApiException, urllib3.exceptions.HTTPError, OSError) as error:
        message = getattr(error, "message", None) or f"the Kubernetes API failed: {error}"
        log.warning("Job stream ended: %s", message)
        yield live.sse("error", {"message": message})


@router.get(
    "/stream",
    operation_id="stream_jobs",
    summary="Server-sent events: a snapshot of every job you may see, then each change",
    response_class=StreamingResponse,
    responses=event_stream_responses(
        "`snapshot` ({items}), then `upsert` (a job) and `delete` ({id}); "
        "`end` after `timeout` seconds, `error` if the cluster stops answering."
    ),
)
def stream_jobs(
    principal: CurrentPrincipal,
    store: StoreDep,
    streams: StreamsDep,
    project_id: Annotated[str | None, Query(pattern=UUID_PATTERN)] = None,
    timeout: Annotated[int, Query(ge=1, le=3600)] = 900,
) -> StreamingResponse:
    """Server-sent events over ``timeout`` seconds: ``snapshot`` ({items: [job row]}) of
    every job the caller may see (of ``project_id`` when given), then ``upsert`` (a job row)
    and ``delete`` ({id}) per change, ``end`` at the deadline, ``error`` ({message}) if the
    cluster stops answering. Raises NotFound (404) for a project the caller may not see,
    Unavailable (503) when the first list fails, TooManyStreams (429) with no free slot."""
    if project_id is not None and not principal.may_access(project_id):
        raise NotFound(f"no project {project_id}")
    project = project_id.lower() if project_id else None
    listed = store.list_all()  # here, not in the stream: an unreachable cluster is a 503
    return StreamingResponse(
        streams.hold(_changes(store, principal, project, timeout, listed)),
        media_type="text/event-stream",
        headers=SSE_HEADERS,
    )


@router.get(
    "/{job_id}/timeline",
    operation_id="get_job_timeline",
    summary="A job with its attempts (pods, nodes, exit codes, saved logs) and timeline",
)
def get_job_timeline(
    job_id: Annotated[str, Path(pattern=UUID_PATTERN)],
    principal: CurrentPrincipal,
    store: StoreDep,
) -> dict[str, Any]:
    """``{"job": job row, "attempts": [attempt], "timeline": [entry]}`` of the job's latest
    run (see api.rest.live). Raises NotFound (404) for a job the caller may not see,
    Unavailable (503) when the Kubernetes API fails."""
    ojob = visible_job(store, principal, job_id)
    run = int((ojob.get("status") or {}).get("run") or 0)
    return {
        "job": live.job_row(ojob),
        "attempts": live.attempts(ojob, store.pods(ojob, run)),
        "timeline": live.timeline(ojob, store.events(ojob)),
    }
