"""Pure: a transcript -> scenes that tile the audio from 0 to its end, with no overlaps.

A scene closes at a sentence end once it is at least ``min_seconds`` long, at a pause of
``pause_seconds`` or more once it is at least ``min_seconds`` long, and always before it would
pass ``max_seconds``. Boundaries sit in the middle of the silence between two words, so the
scenes cover everything. The same transcript always gives the same scenes.
"""

from __future__ import annotations

import itertools
from typing import Any

SENTENCE_END = (".", "!", "?", "…")


def _words(transcript: dict[str, Any]) -> list[dict[str, Any]]:
    words = []
    for segment in transcript.get("segments", []):
        if segment.get("words"):
            words += [w for w in segment["words"] if w.get("word", "").strip()]
        elif segment.get("text", "").strip():  # no word timestamps: the segment is one "word"
            words.append(
                {"start": segment["start"], "end": segment["end"], "word": segment["text"].strip()}
            )
    return sorted(words, key=lambda w: (w["start"], w["end"]))


def _title(text: str, size: int = 6) -> str:
    words = text.split()
    title = " ".join(words[:size]).rstrip(",.;:!?")
    return title + ("…" if len(words) > size else "")


def split_scenes(
    transcript: dict[str, Any],
    *,
    max_seconds: float = 30.0,
    min_seconds: float = 3.0,
    pause_seconds: float = 0.8,
) -> list[dict[str, Any]]:
    """Pure: [{"index", "start", "end" (seconds, 3 decimals), "text", "title"}] tiling 0 to the
    transcript's end (its ``duration``, or its last word's end); one "Silence" scene when it has no
    words, [] when it also lasts 0 s. ``KeyError`` for a word or segment without start or end."""
    duration = float(transcript.get("duration") or 0.0)
    words = _words(transcript)
    if not words:
        return (
            [{"index": 0, "start": 0.0, "end": round(duration, 3), "text": "", "title": "Silence"}]
            if duration > 0
            else []
        )
    groups: list[list[dict[str, Any]]] = [[words[0]]]
    for previous, word in itertools.pairwise(words):
        current = groups[-1]
        length = previous["end"] - current[0]["start"]
        gap = word["start"] - previous["end"]
        closes = (
            length >= min_seconds
            and (previous["word"].endswith(SENTENCE_END) or gap >= pause_seconds)
        ) or word["end"] - current[0]["start"] > max_seconds
        if closes:
            groups.append([word])
        else:
            current.append(word)
    scenes = []
    for index, group in enumerate(groups):
        start = 0.0 if index == 0 else (groups[index - 1][-1]["end"] + group[0]["start"]) / 2
        end = (
            max(duration, group[-1]["end"])
            if index == len(groups) - 1
            else (group[-1]["end"] + groups[index + 1][0]["start"]) / 2
        )
        text = " ".join(w["word"].strip() for w in group)
        scenes.append(
            {
                "index": index,
                "start": round(start, 3),
                "end": round(end, 3),
                "text": text,
                "title": _title(text),
            }
        )
    return scenes
