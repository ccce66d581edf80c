"""Video generation: images and audio assembled into an MP4 (the ffmpeg imageio-ffmpeg ships)."""

from __future__ import annotations

from pydantic import Field

from api.catalog.definition import JobInput, JobTypeDefinition
from api.v1alpha1.constants import UUID_PATTERN


class VideoGenerationInput(JobInput):
    """``spec.input`` of a video generation: the images to assemble, the audio, frames/s."""

    images_job_id: str = Field(
        pattern=UUID_PATTERN, description="The image-generation job whose images to assemble."
    )
    audio_url: str | None = Field(None, pattern=r"^https?://", max_length=2048)
    fps: int = Field(24, ge=1, le=60)


DEFINITION = JobTypeDefinition(
    name="video-generation",
    input_model=VideoGenerationInput,
    route="videos",
    operation_id="generate_video",
    summary="Assemble images and audio into a video",
    title="Video",
    gpu=True,
    order=50,
)
