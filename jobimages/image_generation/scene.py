"""What a prompt illustrates, as the image backends are given it: its scene's number and span
in the audio. Pillow-free, so the HTTP and diffusers paths do not need it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SceneSpan:
    """Which scene a prompt is for: its ``number`` (the scene's index, from 0) and its span in
    the audio, ``start`` and ``end`` in seconds."""

    number: int
    start: float
    end: float


def clock(seconds: float) -> str:
    """Pure: ``seconds`` (clamped at 0, to the tenth) as ``m:ss.s``, or ``h:mm:ss.s`` from an
    hour on."""
    tenths = round(max(seconds, 0.0) * 10)
    hours, rest = divmod(tenths, 36000)
    minutes, rest = divmod(rest, 600)
    if hours:
        return f"{hours}:{minutes:02d}:{rest // 10:02d}.{rest % 10}"
    return f"{minutes}:{rest // 10:02d}.{rest % 10}"
