"""Pure: transcript segments -> JSON document, SRT and WebVTT."""

from __future__ import annotations

from typing import Any


def _clock(seconds: float, separator: str) -> str:
    millis = round(max(0.0, seconds) * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(segments: list[dict[str, Any]]) -> str:
    """Pure: SubRip text, one numbered block per segment ({"start", "end" in seconds, "text"});
    ``KeyError`` for a segment without one of those."""
    blocks = [
        f"{i}\n{_clock(s['start'], ',')} --> {_clock(s['end'], ',')}\n{s['text'].strip()}\n"
        for i, s in enumerate(segments, start=1)
    ]
    return "\n".join(blocks)


def to_vtt(segments: list[dict[str, Any]]) -> str:
    """Pure: WebVTT text, one cue per segment ({"start", "end" in seconds, "text"}); ``KeyError``
    for a segment without one of those."""
    blocks = [
        f"{_clock(s['start'], '.')} --> {_clock(s['end'], '.')}\n{s['text'].strip()}\n"
        for s in segments
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)
