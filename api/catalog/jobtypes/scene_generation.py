"""Scene generation: a transcription's transcript split into scenes."""

from __future__ import annotations

from pydantic import Field

from api.catalog.definition import JobInput, JobTypeDefinition
from api.v1alpha1.constants import UUID_PATTERN


class SceneGenerationInput(JobInput):
    """``spec.input`` of a scene generation: the transcription to split, the longest scene."""

    transcript_job_id: str = Field(
        pattern=UUID_PATTERN, description="The transcription job whose result to split."
    )
    max_scene_seconds: float = Field(30.0, gt=0, le=600)


DEFINITION = JobTypeDefinition(
    name="scene-generation",
    input_model=SceneGenerationInput,
    route="scenes",
    operation_id="generate_scenes",
    summary="Split a transcript into scenes",
    title="Scenes",
    order=20,
)
