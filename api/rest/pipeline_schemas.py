"""The bodies of the pipeline routes (snake_case JSON): the submission, its 202 answer and the
list. The pipeline's own view (PipelinePublic, PipelineSummary) is api.catalog.pipelines'; the
202 answer (PipelineAccepted) is api.v1alpha1.public's, shared with the Python client."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.catalog.pipelines import PIPELINE_ORDER, PipelineSummary, steps_problem
from api.rest.schemas import AnnotationKey
from api.v1alpha1.public import PipelineAccepted as PipelineAccepted
from api.v1alpha1.public import PipelineStepAccepted as PipelineStepAccepted
from api.v1alpha1.text import FREE_TEXT, Text
from api.v1alpha1.types import MAX_RETRIES, MAX_TIMEOUT_SECONDS, JobType


class PipelineCreate(BaseModel):
    """The body of ``POST /v1/projects/{project_id}/pipelines``: the first input (the audio), the
    steps wanted (a prefix of the pipeline order; all by default) and the options every step
    gets."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "audio_url": "https://media.example.com/episode-1.mp3",
                    "language": "en",
                    "steps": ["transcription", "scene-generation", "visual-prompts"],
                }
            ]
        },
    )

    audio_url: str = Field(
        description="The audio (http or https): the transcription's input, and the video's "
        "sound track when the pipeline reaches the video."
    )
    language: str | None = Field(
        None, description="ISO 639 code of the speech; detected when unset."
    )
    steps: list[JobType] | None = Field(
        None,
        min_length=1,
        description="The job types to run, a prefix of the pipeline order ("
        + ", ".join(PIPELINE_ORDER)
        + "); all of them when unset.",
    )
    retries: int | None = Field(
        None, ge=0, le=MAX_RETRIES, description="Retries of each step; its type's default."
    )
    timeout_seconds: int | None = Field(
        None, ge=1, le=MAX_TIMEOUT_SECONDS, description="Deadline of each step's run."
    )
    pod_annotations: Annotated[dict[AnnotationKey, Text] | None, FREE_TEXT] = Field(
        None,
        description="Annotations for every step's pods; only keys under the prefixes the "
        "deployment allows (OMVEE_API_POD_ANNOTATION_PREFIXES).",
    )

    @field_validator("steps")
    @classmethod
    def _a_prefix(cls, steps: list[JobType] | None) -> list[JobType] | None:
        """Refuse anything but a prefix of the pipeline order (a 422 at ``body.steps``)."""
        if steps is not None and (problem := steps_problem([s.value for s in steps])):
            raise ValueError(problem)
        return steps

    def step_names(self) -> list[str]:
        """The job types of the pipeline's steps, in order."""
        return [s.value for s in self.steps] if self.steps else list(PIPELINE_ORDER)


class PipelinesPublic(BaseModel):
    """``GET /v1/pipelines``: the caller's pipelines, newest first."""

    items: list[PipelineSummary]
