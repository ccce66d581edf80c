"""Transcription: an audio file to a timed transcript (faster-whisper)."""

from __future__ import annotations

from pydantic import Field

from api.catalog.definition import JobInput, JobTypeDefinition


class TranscriptionInput(JobInput):
    """``spec.input`` of a transcription: the audio's URL and Whisper's options."""

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


DEFINITION = JobTypeDefinition(
    name="transcription",
    input_model=TranscriptionInput,
    route="transcriptions",
    operation_id="transcribe",
    summary="Transcribe a project's audio",
    title="Transcription",
    gpu=True,
    order=10,
    example={"audio_url": "https://media.example.com/episode-1.mp3", "language": "en"},
)
