"""The image generation image's own settings (beside the job runtime's,
jobimages.runtime.settings): which backend draws the images."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import Field, field_validator

from api.envsettings import EnvSettings

Backend = Literal["http", "diffusers", "storyboard"]


class ImageSettings(EnvSettings):
    """The image backend; read with ``jobimages.runtime.settings.load(ImageSettings)``
    (PermanentError naming a bad variable)."""

    backend: Backend | None = Field(
        None,
        validation_alias="OMVEE_IMAGE_BACKEND",
        description=(
            "`http` (an image API at OMVEE_IMAGE_URL) or `diffusers` (a local pipeline, "
            "OMVEE_DIFFUSERS_MODEL) for an image model; `storyboard`: a frame drawn per "
            "prompt (its words, the scene's time, labelled STORYBOARD), no model, no GPU; "
            "unset: none, and an image job fails permanently."
        ),
    )
    url: str | None = Field(
        None,
        validation_alias="OMVEE_IMAGE_URL",
        description="The `http` backend's base URL (an OpenAI-compatible images API).",
    )
    api_key: str = Field(
        "",
        validation_alias="OMVEE_IMAGE_API_KEY",
        repr=False,
        description="The `http` backend's bearer token; empty: none sent.",
    )
    model: str = Field(
        "default", validation_alias="OMVEE_IMAGE_MODEL", description="The `http` backend's model."
    )
    diffusers_model: str = Field(
        "stabilityai/sdxl-turbo",
        validation_alias="OMVEE_DIFFUSERS_MODEL",
        description="The `diffusers` backend's model (a Hugging Face id or a local directory).",
    )

    @field_validator("backend", mode="before")
    @classmethod
    def _known_backend(cls, value: Any) -> Any:
        """The backends in two kinds, image models first: a clearer refusal than pydantic's."""
        if value is None or value in get_args(Backend):
            return value
        raise ValueError(
            "OMVEE_IMAGE_BACKEND should be 'http' or 'diffusers' (an image model) or "
            f"'storyboard' (frames drawn without a model), not {value!r}"
        )
