"""Submitting a job, shared by POST /v1/jobs and the typed per-project routes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.rest.auth import Principal
from api.rest.errors import Conflict, NotFound
from api.rest.metrics import app_metrics
from api.rest.schemas import JobAccepted, JobCreate, Problem
from api.rest.settings import Settings
from api.rest.store import REQUEST_HASH, JobStore
from api.rest.submit import (
    annotation_problems,
    build_omveejob,
    input_problems,
    job_id_for,
    unknown_upstream_problem,
    upstream_job_ids,
)

ACCEPTED_RESPONSES: dict[int | str, dict[str, object]] = {
    202: {"model": JobAccepted, "description": "Accepted: the job exists and will run."},
    409: {
        "model": Problem,
        "description": "The id or Idempotency-Key was used for a different request.",
    },
    503: {
        "model": Problem,
        "description": "The Kubernetes API is unreachable (`kubernetes_unavailable`); "
        "nothing was created, try again later.",
    },
}


def add_post(
    router: APIRouter,
    path: str,
    endpoint: Callable[..., Any],
    operation_id: str,
    summary: str,
    responses: Mapping[int | str, Mapping[str, Any]],
) -> None:
    """Add ``endpoint`` to ``router`` as ``POST <path>`` answering 202 (work accepted), under
    ``operation_id`` (its OpenAPI id and route name) with ``summary`` and ``responses``."""
    router.add_api_route(
        path,
        endpoint,
        methods=["POST"],
        status_code=202,
        operation_id=operation_id,
        name=operation_id,
        summary=summary,
        responses={code: dict(body) for code, body in responses.items()},
    )


def relocated(problems: list[dict[str, Any]], input_loc: tuple[str, ...]) -> list[dict[str, Any]]:
    """422 entries whose ``loc`` starts ``body, input`` moved to ``input_loc``."""
    return [
        p | {"loc": [*input_loc, *p["loc"][2:]]} if list(p["loc"][:2]) == ["body", "input"] else p
        for p in problems
    ]


def submit(
    create: JobCreate,
    *,
    principal: Principal,
    store: JobStore,
    settings: Settings,
    idempotency_key: str | None,
    request: Request,
    input_loc: tuple[str, ...] = ("body", "input"),
) -> JSONResponse:
    """Create the OmveeJob of a submission (idempotent). ``input_loc`` is where the route's
    body holds the input's fields, for the ``loc`` of 422 entries. Raises NotFound,
    RequestValidationError (422), Conflict (409) or Unavailable (503, from the store)."""
    if not principal.may_access(create.project_id):
        raise NotFound(f"no project {create.project_id}")
    refused_annotations = relocated(
        annotation_problems(create, settings.pod_annotation_prefixes), input_loc
    )
    spec_input, problems = input_problems(create, policy=settings.url_policy())
    if spec_input:  # the input is valid: the jobs it names must be this project's
        problems += [
            unknown_upstream_problem(field, upstream)
            for field, upstream in upstream_job_ids(create).items()
            if store.find_in_project(upstream, create.project_id) is None
        ]
    problems = relocated(problems, input_loc) + refused_annotations
    if problems:
        raise RequestValidationError(problems)
    job_id = job_id_for(create, principal.subject, idempotency_key)
    body = build_omveejob(create, job_id, spec_input)
    ojob, created = store.create(body)
    if created:
        app_metrics(request).submitted(create.type)
    else:
        annotations = ojob["metadata"].get("annotations") or {}
        if annotations.get(REQUEST_HASH) != body["metadata"]["annotations"][REQUEST_HASH]:
            raise Conflict(
                f"job {job_id} already exists with a different request; use a new "
                "job_id or Idempotency-Key"
            )
    status_url = str(request.url_for("get_job", job_id=job_id))
    accepted = JobAccepted(
        id=job_id,
        status_url=status_url,
        phase=(ojob.get("status") or {}).get("phase"),
        replayed=not created,
    )
    return JSONResponse(
        accepted.model_dump(mode="json"), status_code=202, headers={"Location": status_url}
    )
