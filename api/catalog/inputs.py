"""What each job type takes as ``spec.input``: the input model its declaration names.

Used by the operator (a job whose input fails these checks ends Failed with reason InvalidInput
before any pod starts), by the REST API for field-level 422s, and by the job images. The models
live with their job type's declaration (:mod:`api.catalog.jobtypes`); the built-in ones are
re-exported here by name.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from api.catalog.definition import JobInput
from api.catalog.jobtypes.image_generation import ImageGenerationInput as ImageGenerationInput
from api.catalog.jobtypes.scene_generation import SceneGenerationInput as SceneGenerationInput
from api.catalog.jobtypes.transcription import TranscriptionInput as TranscriptionInput
from api.catalog.jobtypes.video_generation import VideoGenerationInput as VideoGenerationInput
from api.catalog.jobtypes.visual_prompts import VisualPromptsInput as VisualPromptsInput
from api.catalog.registry import DEFINITIONS
from api.v1alpha1.types import JobType

_Input = JobInput  # the base's earlier name

#: {job type: its input model}, one entry per declared type.
INPUT_MODELS: dict[JobType, type[JobInput]] = {JobType(d.name): d.input_model for d in DEFINITIONS}


def input_errors(job_type: JobType, data: dict[str, Any]) -> list[str]:
    """Field-level problems with ``data`` (a spec's camelCase input) as input for ``job_type``,
    each ``"input.<field>: <message>"``; empty when valid."""
    try:
        INPUT_MODELS[job_type].model_validate(data)
    except ValidationError as error:
        return [f"input.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]
    return []
