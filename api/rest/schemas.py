"""Request and response bodies (snake_case JSON). Input fields come from api.catalog.inputs, so
the API, the CRD and the job images validate one model per type."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_snake

from api.catalog.inputs import (
    ImageGenerationInput,
    SceneGenerationInput,
    TranscriptionInput,
    VideoGenerationInput,
    VisualPromptsInput,
)
from api.v1alpha1.types import MAX_RETRIES, MAX_TIMEOUT_SECONDS, UUID_PATTERN, JobType, Phase

SNAKE = ConfigDict(alias_generator=to_snake, populate_by_name=True, extra="forbid")


class SubmitOptions(BaseModel):
    job_id: str | None = Field(
        None,
        pattern=UUID_PATTERN,
        description="Your id for the job (a UUID, e.g. the Supabase jobs.id). Submitting the "
        "same id again returns the same job instead of a second one.",
    )
    retries: int | None = Field(
        None,
        ge=0,
        le=MAX_RETRIES,
        description="Retries after a failed attempt; the type's default when unset.",
    )
    timeout_seconds: int | None = Field(
        None, ge=1, le=MAX_TIMEOUT_SECONDS, description="Deadline for the whole run."
    )
    pod_annotations: dict[str, str] | None = Field(
        None,
        description="Annotations for the job's pods; only keys under the prefixes the "
        "deployment allows (OMVEE_API_POD_ANNOTATION_PREFIXES).",
    )


class JobCreate(SubmitOptions):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "type": "transcription",
                    "project_id": "2f1c6a0e-8d3b-4c55-9a57-3f0b7e6d9c10",
                    "input": {
                        "audio_url": "https://media.example.com/episode-1.mp3",
                        "language": "en",
                    },
                }
            ]
        },
    )
    type: JobType
    project_id: str = Field(pattern=UUID_PATTERN, description="The OMVEE project (a UUID).")
    input: dict[str, Any] = Field(description="The type's input; see the typed routes.")


class TranscriptionCreate(TranscriptionInput, SubmitOptions):
    model_config = SNAKE | {
        "json_schema_extra": {
            "examples": [{"audio_url": "https://media.example.com/episode-1.mp3", "language": "en"}]
        }
    }


class SceneGenerationCreate(SceneGenerationInput, SubmitOptions):
    model_config = SNAKE


class VisualPromptsCreate(VisualPromptsInput, SubmitOptions):
    model_config = SNAKE


class ImageGenerationCreate(ImageGenerationInput, SubmitOptions):
    model_config = SNAKE


class VideoGenerationCreate(VideoGenerationInput, SubmitOptions):
    model_config = SNAKE


class JobAccepted(BaseModel):
    id: str = Field(description="The job id (a UUID).")
    status_url: str
    phase: Phase | None = None
    replayed: bool = Field(False, description="True when this answers a repeated submission.")


class JobPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "7b9e2c41-5a0f-4e8e-b1d2-6c3f4a5b6d7e",
                    "project_id": "2f1c6a0e-8d3b-4c55-9a57-3f0b7e6d9c10",
                    "type": "transcription",
                    "phase": "Running",
                    "progress": 40,
                    "progress_message": "decoding 40%",
                    "attempts": 1,
                    "run": 0,
                    "reason": "Running",
                    "message": "running on gpu-node-1 (attempt 1 of 3)",
                    "created_at": "2026-01-01T00:00:00Z",
                    "started_at": "2026-01-01T00:00:05Z",
                    "finished_at": None,
                    "result": None,
                    "node": "gpu-node-1",
                }
            ]
        }
    )

    id: str
    project_id: str
    type: JobType
    phase: Phase | None = None
    progress: int = 0
    progress_message: str | None = None
    attempts: int = 0
    run: int = 0
    reason: str | None = None
    message: str | None = None
    node: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    result: dict[str, Any] | None = None


class JobsPublic(BaseModel):
    items: list[JobPublic]
    next: str | None = Field(None, description="Pass as `cursor` for the next page.")


class Problem(BaseModel):
    """Every error answer: a code and a sentence."""

    code: str
    message: str


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description}


# Error answers any route may give; documented once for all routers.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _problem("No valid token."),
    404: _problem("No such job, or it belongs to a project you cannot see."),
    413: _problem("The body is too large."),
    503: _problem("The Kubernetes API is unreachable; nothing was changed."),
}


def to_public(ojob: dict[str, Any]) -> JobPublic:
    spec, status = ojob.get("spec") or {}, ojob.get("status") or {}
    return JobPublic(
        id=spec["jobId"],
        project_id=spec["projectId"],
        type=spec["type"],
        phase=status.get("phase"),
        progress=int(status.get("progress") or 0),
        progress_message=status.get("progressMessage"),
        attempts=int(status.get("attempts") or 0),
        run=int(status.get("run") or 0),
        reason=status.get("reason"),
        message=status.get("message"),
        node=status.get("nodeName"),
        created_at=ojob["metadata"].get("creationTimestamp"),
        started_at=status.get("startedAt"),
        finished_at=status.get("finishedAt"),
        result=status.get("result"),
    )
