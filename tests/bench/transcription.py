"""Transcription real-time factor on this machine's CPU: faster-whisper with the tiny.en model
(int8) on about a minute of espeak-ng speech. RTF = processing time / audio duration (lower is
faster)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tests.media import speak

TEXT = " ".join(
    [
        "The quick brown fox jumps over the lazy dog.",
        "Our podcast today is about the history of the city library.",
        "It opened in eighteen ninety with only three hundred books.",
        "Volunteers carried the first shelves up the hill by hand.",
        "Fifty years later the building burned down in a winter storm.",
        "The town rebuilt it in stone, with large windows facing the river.",
        "Today it lends films, music and tools as well as books.",
        "Children come every Saturday morning to hear stories read aloud.",
        "The librarian says the most borrowed item is a ladder.",
        "Next week we will visit the old railway station by the harbour.",
    ]
    * 2
)


def main() -> None:
    print("== transcription ==")
    from faster_whisper import WhisperModel, decode_audio

    from jobimages.transcription.whisper import device, model_dir

    with tempfile.TemporaryDirectory() as scratch:
        audio = decode_audio(str(speak(TEXT, Path(scratch) / "speech.wav")))
    seconds = len(audio) / 16000
    chosen, compute = device()
    started = time.perf_counter()
    model = WhisperModel(model_dir(), device=chosen, compute_type=compute)
    loaded = time.perf_counter() - started
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        segments, _ = model.transcribe(audio, vad_filter=True, word_timestamps=True)
        words = sum(len(s.words or []) for s in segments)
        timings.append(time.perf_counter() - started)
    best = min(timings)
    print(
        f"tiny.en on {chosen} ({compute}): {seconds:.1f} s of speech in {best:.2f} s, "
        f"RTF {best / seconds:.3f} ({seconds / best:.0f}x real time), {words} words; "
        f"model load {loaded:.2f} s"
    )


if __name__ == "__main__":
    main()
