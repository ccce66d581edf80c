"""Pipelines: submit a chain of jobs at once, read it as a whole, cancel or retry every step.

``POST /v1/projects/{project_id}/pipelines``, ``GET /v1/pipelines``, ``GET /v1/pipelines/{id}``,
``POST /v1/pipelines/{id}/cancel`` and ``.../retry``; the work is in api.rest.pipelines.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.catalog.pipelines import PipelinePublic, summaries, to_pipeline
from api.rest.deps import CurrentPrincipal, SettingsDep, StoreDep
from api.rest.errors import NotFound
from api.rest.metrics import app_metrics
from api.rest.pipeline_schemas import (
    PipelineAccepted,
    PipelineCreate,
    PipelinesPublic,
    PipelineStepAccepted,
)
from api.rest.pipelines import (
    cancel_steps,
    create_steps,
    pipeline_bodies,
    pipeline_id_for,
    pipeline_jobs,
    retry_steps,
)
from api.rest.routes.submission import add_post
from api.rest.schemas import ERROR_RESPONSES, Problem
from api.v1alpha1.types import UUID_PATTERN

router = APIRouter(tags=["pipelines"], responses=ERROR_RESPONSES)
ProjectId = Annotated[str, Path(pattern=UUID_PATTERN, description="The project (a UUID).")]
PipelineId = Annotated[str, Path(pattern=UUID_PATTERN, description="The pipeline id (a UUID).")]

SUBMITTED: dict[int | str, dict[str, Any]] = {
    202: {"model": PipelineAccepted, "description": "Accepted: every step's job exists."},
    409: {
        "model": Problem,
        "description": "The Idempotency-Key was used for a different pipeline request.",
    },
    500: {
        "model": Problem,
        "description": "A step could not be created (`pipeline_incomplete`, naming it).",
    },
    503: {
        "model": Problem,
        "description": "The Kubernetes API is unreachable (`kubernetes_unavailable`, nothing "
        "created; or `pipeline_incomplete`, naming the step not created: submit again).",
    },
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    202: {"model": PipelinePublic, "description": "The pipeline as it is now."},
    409: {"model": Problem, "description": "No step is in a phase that allows it."},
}


def submit_pipeline(
    project_id: ProjectId,
    body: PipelineCreate,
    request: Request,
    principal: CurrentPrincipal,
    store: StoreDep,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    """202 with ``PipelineAccepted`` and a ``Location`` header: every step's OmveeJob exists,
    created upstream first or adopted (a replay). Raises NotFound (project not visible),
    RequestValidationError (422), Conflict (409: the key was used for another request),
    PipelineIncomplete (a step could not be created) or Unavailable (503)."""
    if not principal.may_access(project_id):
        raise NotFound(f"no project {project_id}")
    project_id = project_id.lower()
    pipeline_id = pipeline_id_for(principal.subject, idempotency_key)
    built, problems = pipeline_bodies(
        project_id,
        pipeline_id,
        body,
        policy=settings.url_policy(),
        annotation_prefixes=list(settings.pod_annotation_prefixes),
    )
    if problems:
        raise RequestValidationError(problems)
    metrics = app_metrics(request)
    replayed = create_steps(
        store,
        pipeline_id,
        built,
        keyed=bool(idempotency_key),
        on_created=lambda create: metrics.submitted(create.type),
    )
    status_url = str(request.url_for("get_pipeline", pipeline_id=pipeline_id))
    accepted = PipelineAccepted(
        id=pipeline_id,
        status_url=status_url,
        steps=[
            PipelineStepAccepted(
                type=create.type,
                job_id=ojob["spec"]["jobId"],
                status_url=str(request.url_for("get_job", job_id=ojob["spec"]["jobId"])),
            )
            for create, ojob in built
        ],
        replayed=replayed,
    )
    return JSONResponse(
        accepted.model_dump(mode="json"), status_code=202, headers={"Location": status_url}
    )


add_post(
    router,
    "/v1/projects/{project_id}/pipelines",
    submit_pipeline,
    "submit_pipeline",
    "Submit a pipeline: every step's job at once, each starting when its upstream succeeded",
    SUBMITTED,
)


@router.get(
    "/v1/pipelines/{pipeline_id}",
    operation_id="get_pipeline",
    summary="A pipeline's phase and each step's job",
)
def get_pipeline(
    pipeline_id: PipelineId, principal: CurrentPrincipal, store: StoreDep
) -> PipelinePublic:
    """The pipeline's public view. Raises NotFound (404) for no pipeline or one the caller may
    not see, Unavailable (503)."""
    return to_pipeline(pipeline_id, pipeline_jobs(store, principal, pipeline_id))


@router.get("/v1/pipelines", operation_id="list_pipelines", summary="Pipelines, newest first")
def list_pipelines(
    principal: CurrentPrincipal,
    store: StoreDep,
    project_id: Annotated[str | None, Query(pattern=UUID_PATTERN)] = None,
) -> PipelinesPublic:
    """The pipelines of ``project_id``, or, when it is left out, of every project the caller
    may see, newest first. Raises NotFound (404) for a project the caller may not see;
    Unavailable (503)."""
    if project_id is not None and not principal.may_access(project_id):
        raise NotFound(f"no project {project_id}")
    selector = "spec.pipelineId!="
    if project_id:
        selector = f"spec.projectId={project_id.lower()},{selector}"
    elif principal.projects is not None and len(principal.projects) == 1:
        selector = f"spec.projectId={next(iter(principal.projects)).lower()},{selector}"
    visible = [
        ojob
        for ojob in store.select(selector)
        if principal.may_access(str(ojob["spec"].get("projectId", "")))
    ]
    return PipelinesPublic(items=summaries(visible))


def cancel_pipeline(
    pipeline_id: PipelineId, principal: CurrentPrincipal, store: StoreDep
) -> PipelinePublic:
    """Cancel every unfinished step (the last first); the pipeline as it is now. Raises
    NotFound (404), Conflict (409) when every step has ended, Unavailable (503)."""
    steps = pipeline_jobs(store, principal, pipeline_id)
    cancel_steps(store, pipeline_id, steps)
    return to_pipeline(pipeline_id, pipeline_jobs(store, principal, pipeline_id))


def retry_pipeline(
    pipeline_id: PipelineId, principal: CurrentPrincipal, store: StoreDep
) -> PipelinePublic:
    """Retry every Failed or Cancelled step, upstream first (a new run of each, as
    ``POST /v1/jobs/{id}/retry``); the pipeline as it is now. Raises NotFound (404), Conflict
    (409) when no step is Failed or Cancelled, Unavailable (503)."""
    steps = pipeline_jobs(store, principal, pipeline_id)
    retry_steps(store, pipeline_id, steps)
    return to_pipeline(pipeline_id, pipeline_jobs(store, principal, pipeline_id))


add_post(
    router,
    "/v1/pipelines/{pipeline_id}/cancel",
    cancel_pipeline,
    "cancel_pipeline",
    "Cancel every unfinished step of a pipeline",
    CONFLICT,
)
add_post(
    router,
    "/v1/pipelines/{pipeline_id}/retry",
    retry_pipeline,
    "retry_pipeline",
    "Retry every Failed or Cancelled step of a pipeline, upstream first",
    CONFLICT,
)
