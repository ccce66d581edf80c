"""Pure: a scene -> an image prompt. Deterministic: the scene's most telling words, in order
of first appearance, framed by a style."""

from __future__ import annotations

import re
from typing import Any

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "then",
        "than",
        "so",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "into",
        "onto",
        "over",
        "under",
        "about",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "i",
        "you",
        "he",
        "she",
        "we",
        "they",
        "me",
        "him",
        "her",
        "us",
        "them",
        "my",
        "your",
        "his",
        "our",
        "their",
        "not",
        "no",
        "yes",
        "do",
        "does",
        "did",
        "done",
        "have",
        "has",
        "had",
        "will",
        "would",
        "can",
        "could",
        "should",
        "just",
        "very",
        "also",
        "too",
        "up",
        "down",
        "out",
        "off",
        "again",
        "only",
        "own",
        "same",
        "such",
        "what",
        "which",
        "who",
        "whom",
        "when",
        "where",
        "why",
        "how",
        "all",
        "any",
        "both",
        "each",
        "few",
        "more",
        "most",
        "other",
        "some",
    ]
)
DEFAULT_STYLE = "cinematic digital illustration, soft light, 16:9"


def keywords(text: str, limit: int = 8) -> list[str]:
    """Pure: up to ``limit`` distinct lower-case words of ``text`` (over two letters, not stop
    words), in order of first appearance."""
    seen: dict[str, int] = {}
    for word in re.findall(r"[a-zA-Z][a-zA-Z'-]+", text.lower()):
        if word not in STOPWORDS and len(word) > 2:
            seen.setdefault(word, len(seen))
    return sorted(seen, key=seen.__getitem__)[:limit]


def prompt_for(scene: dict[str, Any], style: str | None = None) -> dict[str, Any]:
    """Pure: one scene's ({"index", "start", "end", "text"}) prompt: {"scene", "start", "end",
    "prompt", "negative_prompt"}, the prompt its keywords in ``style`` (``DEFAULT_STYLE`` when
    None). ``KeyError`` for a scene without index, start or end."""
    subject = ", ".join(keywords(scene.get("text", ""))) or "an empty, quiet scene"
    return {
        "scene": scene["index"],
        "start": scene["start"],
        "end": scene["end"],
        "prompt": f"{subject}. {style or DEFAULT_STYLE}",
        "negative_prompt": "text, watermark, blurry, distorted faces",
    }
