"""What each job type takes as ``spec.input``: one pydantic model per type.

Used by the operator (a job whose input fails these checks ends Failed with reason InvalidInput
before any pod starts), by the REST API for field-level 422s, and by the job images.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel

from api.v1alpha1.text import FREE_TEXT, check_value
from api.v1alpha1.types import UUID_PATTERN, JobType


class _Input(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any, info: ValidationInfo) -> Any:
        """Every string of every field, of every type present and future (nested ones and dict
        keys too): no control characters or unpaired surrogates (U+0000 cannot even be stored
        in the jobs row). A field marked ``Annotated[..., FREE_TEXT]`` may hold tabs and line
        breaks. Raises a field-level error (type ``control_character``)."""
        field = cls.model_fields.get(info.field_name or "")
        free_text = field is not None and FREE_TEXT in field.metadata
        return check_value(value, free_text=free_text)


class TranscriptionInput(_Input):
    audio_url: str = Field(
        pattern=r"^https?://",
        max_length=2048,
        description="The audio to transcribe (http or https).",
    )
    language: str | None = Field(
        None, pattern=r"^[a-z]{2,3}$", description="ISO 639 code; detected when unset."
    )
    word_timestamps: bool = True
    vad_filter: bool = True


class SceneGenerationInput(_Input):
    transcript_job_id: str = Field(
        pattern=UUID_PATTERN, description="The transcription job whose result to split."
    )
    max_scene_seconds: float = Field(30.0, gt=0, le=600)


class VisualPromptsInput(_Input):
    scenes_job_id: str = Field(
        pattern=UUID_PATTERN, description="The scene-generation job whose scenes to prompt."
    )
    style: Annotated[str | None, FREE_TEXT] = Field(None, max_length=200)


class ImageGenerationInput(_Input):
    prompts_job_id: str = Field(
        pattern=UUID_PATTERN, description="The visual-prompts job whose prompts to render."
    )
    width: int = Field(1024, ge=64, le=4096)
    height: int = Field(576, ge=64, le=4096)


class VideoGenerationInput(_Input):
    images_job_id: str = Field(
        pattern=UUID_PATTERN, description="The image-generation job whose images to assemble."
    )
    audio_url: str | None = Field(None, pattern=r"^https?://", max_length=2048)
    fps: int = Field(24, ge=1, le=60)


INPUT_MODELS: dict[JobType, type[_Input]] = {
    JobType.TRANSCRIPTION: TranscriptionInput,
    JobType.SCENE_GENERATION: SceneGenerationInput,
    JobType.VISUAL_PROMPTS: VisualPromptsInput,
    JobType.IMAGE_GENERATION: ImageGenerationInput,
    JobType.VIDEO_GENERATION: VideoGenerationInput,
}


def input_errors(job_type: JobType, data: dict[str, Any]) -> list[str]:
    """Field-level problems with ``data`` as input for ``job_type``; empty when valid."""
    try:
        INPUT_MODELS[job_type].model_validate(data)
    except ValidationError as error:
        return [f"input.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]
    return []
