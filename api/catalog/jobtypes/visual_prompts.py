"""Visual prompts: one image prompt per scene."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from api.catalog.definition import JobInput, JobTypeDefinition
from api.v1alpha1.constants import UUID_PATTERN
from api.v1alpha1.text import FREE_TEXT


class VisualPromptsInput(JobInput):
    """``spec.input`` of visual prompts: the scene generation to prompt, an optional style."""

    scenes_job_id: str = Field(
        pattern=UUID_PATTERN, description="The scene-generation job whose scenes to prompt."
    )
    style: Annotated[str | None, FREE_TEXT] = Field(None, max_length=200)


DEFINITION = JobTypeDefinition(
    name="visual-prompts",
    input_model=VisualPromptsInput,
    route="visual-prompts",
    operation_id="generate_visual_prompts",
    summary="Write image prompts for scenes",
    title="Visual prompts",
    order=30,
)
