"""/v1/jobs: submit, read, list, cancel, retry, logs and a live status stream."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from api.logs import archive
from api.logs.store import LogStoreError
from api.rest.auth import Principal
from api.rest.deps import (
    CurrentPrincipal,
    LogsDep,
    ResultsDep,
    SettingsDep,
    StoreDep,
    StreamsDep,
)
from api.rest.errors import Conflict, NotFound, Unavailable
from api.rest.results import ResultUnavailable
from api.rest.routes.submission import ACCEPTED_RESPONSES, add_post, submit
from api.rest.schemas import (
    ERROR_RESPONSES,
    SSE_HEADERS,
    TOO_MANY_STREAMS,
    JobCreate,
    JobPublic,
    JobsPublic,
    Problem,
    event_stream_responses,
    to_public,
)
from api.rest.store import JobStore
from api.v1alpha1.public import FINAL, cancel_patch, retry_patch
from api.v1alpha1.resultfiles import FILE_NAME, result_files, result_key, run_folders
from api.v1alpha1.types import UUID_PATTERN, JobType, Phase

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=ERROR_RESPONSES)
JobId = Annotated[str, Path(pattern=UUID_PATTERN, description="The job id (a UUID).")]


def visible_job(store: JobStore, principal: Principal, job_id: str) -> dict[str, Any]:
    """The job, or 404 also when it belongs to a project the caller may not see."""
    ojob = store.get(job_id)
    if not principal.may_access(ojob["spec"]["projectId"]):
        raise NotFound(f"no job {job_id}")
    return ojob


@router.post(
    "",
    status_code=202,
    responses=ACCEPTED_RESPONSES,
    operation_id="submit_job",
    summary="Submit a job of any type",
)
def submit_job(
    body: JobCreate,
    request: Request,
    principal: CurrentPrincipal,
    store: StoreDep,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    """202 with ``JobAccepted`` and a ``Location`` header (see routes.submission.submit).
    Raises NotFound (project not visible), RequestValidationError (422), Conflict (409: the
    id exists with a different request) or Unavailable (503)."""
    return submit(
        body,
        principal=principal,
        store=store,
        settings=settings,
        idempotency_key=idempotency_key,
        request=request,
    )


@router.get("/{job_id}", operation_id="get_job", summary="A job's phase, progress and result")
def get_job(job_id: JobId, principal: CurrentPrincipal, store: StoreDep) -> JobPublic:
    """The job's public view. Raises NotFound (404) for no job or one the caller may not
    see, Unavailable (503) when the Kubernetes API fails."""
    return to_public(visible_job(store, principal, job_id))


@router.get("", operation_id="list_jobs", summary="Jobs, filtered and paginated")
def list_jobs(
    principal: CurrentPrincipal,
    store: StoreDep,
    settings: SettingsDep,
    project_id: Annotated[str | None, Query(pattern=UUID_PATTERN)] = None,
    type: JobType | None = None,
    phase: Phase | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> JobsPublic:
    """One page of at most ``limit`` jobs (capped by ``page_size_max``) matching the filters,
    and the cursor of the next page (None on the last). ``project_id`` may be left out by a
    caller of exactly one project. Raises NotFound (404) for a project the caller may not see,
    several projects and no ``project_id``, or an expired cursor; Unavailable (503)."""
    if project_id is None and principal.projects is not None:
        if len(principal.projects) != 1:
            raise NotFound("pass project_id: your token covers several projects")
        project_id = next(iter(principal.projects))
    if project_id is not None and not principal.may_access(project_id):
        raise NotFound(f"no project {project_id}")
    selectors = {}
    if project_id:
        selectors["spec.projectId"] = project_id.lower()
    if type:
        selectors["spec.type"] = type.value
    if phase:
        selectors["status.phase"] = phase.value
    items, next_cursor = store.list_jobs(
        selectors=selectors, limit=min(limit, settings.page_size_max), cursor=cursor
    )
    return JobsPublic(items=[to_public(item) for item in items], next=next_cursor)


CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "Not possible in the job's phase."}
}


SpecPatch = Callable[[dict[str, Any], str], dict[str, Any] | str]
# The actions on a job: POST /v1/jobs/{job_id}/<action> -> (operation id, patch, summary).
ACTIONS: dict[str, tuple[str, SpecPatch, str]] = {
    "cancel": (
        "cancel_job",
        cancel_patch,
        "Cancel a job: its pods stop, the phase becomes Cancelled",
    ),
    "retry": (
        "retry_job",
        retry_patch,
        "Run a Failed or Cancelled job again, as a new attempt set",
    ),
}


def _action_route(patch_for: SpecPatch) -> Callable[..., JobPublic]:
    """The endpoint applying ``patch_for``'s spec patch (cancel_patch, retry_patch) to the job;
    it answers the job as it is now, or raises Conflict with the sentence ``patch_for`` gives
    when the job's phase forbids it (NotFound for a job the caller may not see)."""

    def endpoint(job_id: JobId, principal: CurrentPrincipal, store: StoreDep) -> JobPublic:
        ojob = visible_job(store, principal, job_id)
        patch = patch_for(ojob, job_id)
        if isinstance(patch, str):
            raise Conflict(patch)
        return to_public(store.patch_spec(ojob, patch))

    return endpoint


for _action, (_operation, _patch, _summary) in ACTIONS.items():
    _path = f"/{{job_id}}/{_action}"
    add_post(router, _path, _action_route(_patch), _operation, _summary, CONFLICT)


@router.get(
    "/{job_id}/logs",
    operation_id="get_job_logs",
    summary="The pod log of an attempt (the latest by default), streamed; saved logs are "
    "served after the pods are gone",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/plain": {}}, "description": "The log."},
        **TOO_MANY_STREAMS,
    },
)
def get_job_logs(
    job_id: JobId,
    principal: CurrentPrincipal,
    store: StoreDep,
    logs: LogsDep,
    streams: StreamsDep,
    attempt: Annotated[int | None, Query(ge=1, le=100)] = None,
    run: Annotated[int | None, Query(ge=0, le=1000)] = None,
    follow: bool = False,
) -> StreamingResponse:
    """An attempt's log as ``text/plain`` bytes: the saved copy when there is one, else the
    pod's (followed while it runs with ``follow``). ``run`` defaults to the latest run and
    ``attempt`` to its latest attempt. Raises NotFound (404) for no such job, run or attempt,
    or a pod gone with no saved log; Unavailable (503) when the saved log is unreadable and
    the pod gone; TooManyStreams (429) when following and no stream slot is free."""
    ojob = visible_job(store, principal, job_id)
    status = ojob.get("status") or {}
    run = int(status.get("run") or 0) if run is None else run
    found = archive.locate(status, run, store.pods(ojob, run), attempt)
    if not found.attempts:
        raise NotFound(f"job {job_id} has no attempt in run {run} yet")
    if found.attempt > found.attempts:
        raise NotFound(f"job {job_id} has {found.attempts} attempt(s) in run {run}, not {attempt}")
    media = "text/plain; charset=utf-8"
    pod = found.pod
    if found.saved and found.saved.get("key") and logs is not None:
        # The key is rebuilt, never read from the status: a job pod may write its own
        # status, and must not point this at another job's log.
        key = archive.attempt_key(
            ojob["metadata"]["namespace"], ojob["spec"]["jobId"], run, found.attempt
        )
        try:
            data = logs.get(key)
        except LogStoreError as error:
            if pod is None:
                raise Unavailable(f"the saved log cannot be read now: {error}") from None
            data = None  # the pod still has it
        if data is not None:
            return StreamingResponse(iter([data]), media_type=media)
    if pod is None:
        why = (found.saved or {}).get("note") or "its log was not saved"
        raise NotFound(f"the pod of attempt {found.attempt} of job {job_id} is gone and {why}")
    stream = store.log_stream(pod["metadata"]["name"], follow)
    return StreamingResponse(streams.hold(stream) if follow else stream, media_type=media)


# Content types of the files job images store; anything else is served as bytes.
RESULT_TYPES = {
    ".json": "application/json",
    ".srt": "application/x-subrip",
    ".vtt": "text/vtt; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".png": "image/png",
    ".mp4": "video/mp4",
}


@router.get(
    "/{job_id}/results/{file}",
    operation_id="get_job_result",
    summary="A result file of the job (the links are in `result_links`), streamed",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The file."}},
)
def get_job_result(
    job_id: JobId,
    file: Annotated[str, Path(description="A file name of the job's latest run.")],
    principal: CurrentPrincipal,
    store: StoreDep,
    results: ResultsDep,
) -> StreamingResponse:
    """A result file of the job's latest run, streamed in chunks, typed by its suffix
    (RESULT_TYPES, else ``application/octet-stream``), with ``Content-Length`` when the store
    knows the size in bytes. Raises NotFound (404) for a name the result does not cover, no
    results store or a missing file; Unavailable (503) when the results store fails."""
    ojob = visible_job(store, principal, job_id)
    spec, status = ojob["spec"], ojob.get("status") or {}
    result = status.get("result")
    if not FILE_NAME.fullmatch(file) or ".." in file:
        raise NotFound(f"job {job_id} has no result file {file!r}")
    # The key is rebuilt from the job's own project, id and run folder: a file the result
    # names, or another file stored beside it in the same run (the images of images.json).
    key = result_files(spec["projectId"], spec["jobId"], result).get(file)
    folders = sorted(run_folders(spec["projectId"], spec["jobId"], result))
    if key is None and len(folders) == 1:
        key = result_key(spec["projectId"], spec["jobId"], folders[0], file)
    if key is None:
        raise NotFound(f"job {job_id} has no result file {file!r}")
    if results is None:
        raise NotFound(
            "this API serves no result files: set OMVEE_RESULTS_STORE (volume with "
            "OMVEE_RESULTS_DIR, or supabase)"
        )
    try:
        opened = results.open(key)
    except ResultUnavailable as error:
        raise Unavailable(str(error)) from None
    if opened is None:
        raise NotFound(f"job {job_id} has no result file {file!r} in the results store")
    suffix = file[file.rfind(".") :] if "." in file else ""
    headers = {"Content-Disposition": f'inline; filename="{file}"'}
    if opened.size is not None:
        headers["Content-Length"] = str(opened.size)
    return StreamingResponse(
        opened.chunks(),
        media_type=RESULT_TYPES.get(suffix.lower(), "application/octet-stream"),
        headers=headers,
    )


def _sse(ojob_stream: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    last = None
    for ojob in ojob_stream:
        public = to_public(ojob).model_dump(mode="json")
        if public != last:
            last = public
            yield f"event: status\ndata: {json.dumps(public)}\n\n".encode()
        if public["phase"] in FINAL:
            yield b"event: end\ndata: {}\n\n"
            return


@router.get(
    "/{job_id}/events",
    operation_id="stream_job_events",
    summary="Server-sent events: the job's status each time it changes",
    response_class=StreamingResponse,
    responses=event_stream_responses("`status` events, then `end` once final."),
)
def stream_job_events(
    job_id: JobId,
    principal: CurrentPrincipal,
    store: StoreDep,
    streams: StreamsDep,
    timeout: Annotated[int, Query(ge=1, le=3600)] = 600,
) -> StreamingResponse:
    """Server-sent events: a ``status`` event (the JobPublic) each time it changes, then
    ``end`` once the phase is final; the stream closes after ``timeout`` seconds. Raises
    NotFound (404) for a job the caller may not see, TooManyStreams (429) with no free slot."""
    ojob = visible_job(store, principal, job_id)
    return StreamingResponse(
        streams.hold(_sse(store.watch(ojob["metadata"]["name"], timeout))),
        media_type="text/event-stream",
        headers=SSE_HEADERS,
    )
