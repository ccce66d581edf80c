"""The routes OMVEE's backend had, per project and job type; each creates an OmveeJob.

One route per declared job type (``POST /v1/projects/{project_id}/<route>``), made by one loop
over :data:`api.catalog.registry.DEFINITIONS`: a new type's route appears with its declaration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.catalog.definition import JobTypeDefinition
from api.catalog.registry import DEFINITIONS
from api.rest.deps import CurrentPrincipal, SettingsDep, StoreDep
from api.rest.routes.submission import ACCEPTED_RESPONSES as ACCEPTED
from api.rest.routes.submission import add_post, submit
from api.rest.schemas import CREATE_MODELS, ERROR_RESPONSES, JobCreate, SubmitOptions
from api.v1alpha1.types import UUID_PATTERN, JobType

router = APIRouter(prefix="/v1/projects/{project_id}", tags=["projects"], responses=ERROR_RESPONSES)
ProjectId = Annotated[str, Path(pattern=UUID_PATTERN, description="The project (a UUID).")]
IdempotencyKey = Annotated[str | None, Header(max_length=200)]
OPTION_FIELDS = set(SubmitOptions.model_fields)
# These routes take the input's fields at the top of the body, so a 422 names them there.
TYPED_INPUT_LOC = ("body",)


def _generic(job_type: JobType, project_id: str, body: BaseModel) -> JobCreate:
    options = body.model_dump(include=OPTION_FIELDS)
    return JobCreate(
        type=job_type,
        project_id=project_id,
        input=body.model_dump(exclude=OPTION_FIELDS),
        **options,
    )


def _typed_route(definition: JobTypeDefinition) -> Callable[..., JSONResponse]:
    """The endpoint for ``definition``'s typed route: its body is the type's create model."""
    job_type = JobType(definition.name)

    def endpoint(
        project_id: ProjectId,
        body: BaseModel,
        request: Request,
        principal: CurrentPrincipal,
        store: StoreDep,
        settings: SettingsDep,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        return submit(
            _generic(job_type, project_id, body),
            principal=principal,
            store=store,
            settings=settings,
            idempotency_key=idempotency_key,
            request=request,
            input_loc=TYPED_INPUT_LOC,
        )

    # FastAPI reads the body's model from the annotation: this type's own.
    annotations: dict[str, Any] = dict(endpoint.__annotations__)
    annotations["body"] = CREATE_MODELS[job_type]
    endpoint.__annotations__ = annotations
    endpoint.__name__ = endpoint.__qualname__ = definition.operation_id
    endpoint.__doc__ = f"{definition.summary}: creates a {definition.name} OmveeJob."
    return endpoint


for _d in DEFINITIONS:
    add_post(router, f"/{_d.route}", _typed_route(_d), _d.operation_id, _d.summary, ACCEPTED)
