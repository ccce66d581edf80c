"""The routes OMVEE's backend had, per project and job type; each creates an OmveeJob."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.rest.deps import CurrentPrincipal, SettingsDep, StoreDep
from api.rest.routes.submission import ACCEPTED_RESPONSES, submit
from api.rest.schemas import (
    ERROR_RESPONSES,
    ImageGenerationCreate,
    JobCreate,
    SceneGenerationCreate,
    SubmitOptions,
    TranscriptionCreate,
    VideoGenerationCreate,
    VisualPromptsCreate,
)
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


@router.post(
    "/transcriptions",
    status_code=202,
    responses=ACCEPTED_RESPONSES,
    operation_id="transcribe",
    summary="Transcribe a project's audio",
)
def transcribe(
    project_id: ProjectId,
    body: TranscriptionCreate,
    request: Request,
    principal: CurrentPrincipal,
    store: StoreDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return submit(
        _generic(JobType.TRANSCRIPTION, project_id, body),
        principal=principal,
        store=store,
        settings=settings,
        idempotency_key=idempotency_key,
        request=request,
        input_loc=TYPED_INPUT_LOC,
    )


@router.post(
    "/scenes",
    status_code=202,
    responses=ACCEPTED_RESPONSES,
    operation_id="generate_scenes",
    summary="Split a transcript into scenes",
)
def generate_scenes(
    project_id: ProjectId,
    body: SceneGenerationCreate,
    request: Request,
    principal: CurrentPrincipal,
    store: StoreDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return submit(
        _generic(JobType.SCENE_GENERATION, project_id, body),
        principal=principal,
        store=store,
        settings=settings,
        idempotency_key=idempotency_key,
        request=request,
        input_loc=TYPED_INPUT_LOC,
    )


@router.post(
    "/visual-prompts",
    status_code=202,
    responses=ACCEPTED_RESPONSES,
    operation_id="generate_visual_prompts",
    summary="Write image prompts for scenes",
)
def generate_visual_prompts(
    project_id: ProjectId,
    body: VisualPromptsCreate,
    request: Request,
    principal: CurrentPrincipal,
    store: StoreDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return submit(
        _generic(JobType.VISUAL_PROMPTS, project_id, body),
        principal=principal,
        store=store,
        settings=settings,
        idempotency_key=idempotency_key,
        request=request,
        input_loc=TYPED_INPUT_LOC,
    )


@router.post(
    "/images",
    status_code=202,
    responses=ACCEPTED_RESPONSES,
    operation_id="generate_images",
    summary="Render images from prompts",
)
def generate_images(
    project_id: ProjectId,
    body: ImageGenerationCreate,
    request: Request,
    principal: CurrentPrincipal,
    store: StoreDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return submit(
        _generic(JobType.IMAGE_GENERATION, project_id, body),
        principal=principal,
        store=store,
        settings=settings,
        idempotency_key=idempotency_key,
        request=request,
        input_loc=TYPED_INPUT_LOC,
    )


@router.post(
    "/videos",
    status_code=202,
    responses=ACCEPTED_RESPONSES,
    operation_id="generate_video",
    summary="Assemble images and audio into a video",
)
def generate_video(
    project_id: ProjectId,
    body: VideoGenerationCreate,
    request: Request,
    principal: CurrentPrincipal,
    store: StoreDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return submit(
        _generic(JobType.VIDEO_GENERATION, project_id, body),
        principal=principal,
        store=store,
        settings=settings,
        idempotency_key=idempotency_key,
        request=request,
        input_loc=TYPED_INPUT_LOC,
    )
