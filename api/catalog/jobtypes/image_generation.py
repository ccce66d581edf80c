"""Image generation: one image per visual prompt (an HTTP image service or diffusers)."""

from __future__ import annotations

from pydantic import Field

from api.catalog.definition import JobInput, JobTypeDefinition
from api.v1alpha1.constants import UUID_PATTERN


class ImageGenerationInput(JobInput):
    """``spec.input`` of an image generation: the prompts to render and the size in pixels."""

    prompts_job_id: str = Field(
        pattern=UUID_PATTERN, description="The visual-prompts job whose prompts to render."
    )
    width: int = Field(1024, ge=64, le=4096)
    height: int = Field(576, ge=64, le=4096)


DEFINITION = JobTypeDefinition(
    name="image-generation",
    input_model=ImageGenerationInput,
    route="images",
    operation_id="generate_images",
    summary="Render images from prompts",
    title="Images",
    gpu=True,
    order=40,
    # The local image is HTTP-backend only: torch with its CUDA wheels is ~4 GB, needs a GPU.
    local_build_args={"DIFFUSERS_PACKAGES": ""},
)
