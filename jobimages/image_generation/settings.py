"""The image generation image's own settings (beside the job runtime's,
jobimages.runtime.settings): which backend draws the images."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from api.envsettings import EnvSettings


class ImageSettings(EnvSettings):
    """The image backend; read with ``jobimages.runtime.settings.load(ImageSettings)``
    (PermanentError naming a bad variable)."""

    backend: Literal["http", "diffusers"] | None = Field(
        None,
        validation_alias="OMVEE_IMAGE_BACKEND",
        description=(
            "`http` (an image API at OMVEE_IMAGE_URL) or `diffusers` (a local pipeline, "
            "OMVEE_DIFFUSERS_MODEL); unset: none, and an image job fails permanently."
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
