"""``GET /v1/types``: the job types this API accepts, from their declarations.

The dashboard builds its type list from it, so a new type shows there with its declaration.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.catalog.registry import DEFINITIONS
from api.rest.deps import CurrentPrincipal
from api.rest.schemas import ERROR_RESPONSES

router = APIRouter(prefix="/v1/types", tags=["types"], responses=ERROR_RESPONSES)


class JobTypeInfo(BaseModel):
    """One job type as clients see it."""

    name: str = Field(description="The type's name: spec.type, jobs.type (transcription...).")
    title: str = Field(description="How people see it (Transcription, Scenes...).")
    summary: str = Field(description="What its typed route does.")
    path: str = Field(description="Its typed route, under /v1/projects/{project_id}/.")
    gpu: bool = Field(description="Whether it runs on a GPU node in production.")
    upstream_fields: list[str] = Field(
        description="Its input fields naming another job whose result it reads."
    )


class JobTypesPublic(BaseModel):
    """Every job type, in pipeline order."""

    items: list[JobTypeInfo]


@router.get("", operation_id="list_job_types", summary="List the job types")
def list_job_types(principal: CurrentPrincipal) -> JobTypesPublic:
    """Every declared job type in pipeline order (any signed-in caller may read it)."""
    del principal  # signed in is enough: the list holds no project's data
    return JobTypesPublic(
        items=[
            JobTypeInfo(
                name=d.name,
                title=d.title,
                summary=d.summary,
                path=f"/v1/projects/{{project_id}}/{d.route}",
                gpu=d.gpu,
                upstream_fields=list(d.upstream_fields()),
            )
            for d in DEFINITIONS
        ]
    )
