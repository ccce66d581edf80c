"""The storyboard backend: a frame drawn for each prompt without any image model, so that a
machine with no GPU and no image service still runs the whole chain to a video.

What it draws is honest about what it is: on a plain paper-coloured background, a red
``STORYBOARD`` label, the scene's number, the prompt's words wrapped to the frame, and the
scene's span in the audio (``0:04.2 - 0:08.9``). The PNG carries a ``Comment`` text chunk
saying the same. Deterministic: the same prompt, scene and size give the same bytes (Pillow's
built-in font, no timestamp in the file), so a retried job stores the same frames.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from jobimages.image_generation.scene import SceneSpan, clock

LABEL = "STORYBOARD"
#: The PNG ``Comment`` chunk of every storyboard frame: how a reader tells it from a model's.
COMMENT = "OMVEE storyboard frame: drawn from the prompt's words, no image model"
PAPER = (238, 234, 224)
INK = (40, 40, 40)
MUTED = (110, 106, 98)
LABEL_FILL = (178, 34, 34)
LABEL_INK = (255, 255, 255)
SMALLEST_FONT = 6  # pixels; below this nothing is legible anyway
ELLIPSIS = "..."


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _width(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, text: str) -> float:
    return float(font.getlength(text))


def wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: float) -> list[str]:
    """Pure: ``text``'s words in lines no wider than ``width`` pixels in ``font``; a word wider
    than a line is broken between characters."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if _width(font, candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = ""
        for character in word:  # a word longer than the line: cut it
            if current and _width(font, current + character) > width:
                lines.append(current)
                current = ""
            current += character
    if current:
        lines.append(current)
    return lines


def fit(
    text: str, width: float, height: float, largest: int
) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, list[str], int]:
    """Pure: (font, lines, line height in pixels) for ``text`` in a ``width`` x ``height``
    box: the largest size from ``largest`` down whose wrapped lines all fit; at the smallest
    size, the lines that fit, the last ending in ``...``."""
    size = max(largest, SMALLEST_FONT)
    while True:
        font = _font(size)
        step = max(1, round(size * 1.25))
        lines = wrap(text, font, width)
        if len(lines) * step <= height or size <= SMALLEST_FONT:
            break
        size -= max(1, size // 10)
        size = max(size, SMALLEST_FONT)
    room = max(1, int(height // step))
    if len(lines) > room:
        lines = lines[:room]
        last = lines[-1]
        while last and _width(font, last + ELLIPSIS) > width:
            last = last[:-1]
        lines[-1] = last.rstrip() + ELLIPSIS
    return font, lines, step


def one_line(
    candidates: list[str], width: float, largest: int
) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, str]:
    """Pure: (font, text) for one line at most ``width`` pixels wide: the first of
    ``candidates`` (longest first) that fits at the largest size from ``largest`` down; the
    last candidate at the smallest size when none fits (it is then cut at the frame's edge)."""
    size = max(largest, SMALLEST_FONT)
    while True:
        font = _font(size)
        for text in candidates:
            if _width(font, text) <= width:
                return font, text
        if size == SMALLEST_FONT:
            return font, candidates[-1]
        size = max(SMALLEST_FONT, size - max(1, size // 10))


def draw_frame(prompt: str, width: int, height: int, scene: SceneSpan | None = None) -> bytes:
    """One storyboard frame, a PNG of ``width`` x ``height`` pixels (each at least 1): the
    label, the scene's number and span when given, and ``prompt`` wrapped to fit."""
    image = Image.new("RGB", (width, height), PAPER)
    pen = ImageDraw.Draw(image)
    short = min(width, height)
    unit = min(height, width * 9 / 16)  # a 16:9 frame's height; text scales with it
    margin = max(2, round(short * 0.04))
    border = max(1, round(short / 200))
    pen.rectangle(
        (margin // 2, margin // 2, width - 1 - margin // 2, height - 1 - margin // 2),
        outline=MUTED,
        width=border,
    )
    pad = max(1, round(unit / 45))
    inner = width - 2 * (margin + pad)  # the width text may take

    # the label, top left: white on red
    label_font, _ = one_line([LABEL], inner - 2 * pad, round(unit / 16))
    _, _, right, bottom = pen.textbbox((margin + pad, margin + pad), LABEL, font=label_font)
    pen.rectangle((margin, margin, round(right) + pad, round(bottom) + pad), fill=LABEL_FILL)
    pen.text((margin + pad, margin + pad), LABEL, font=label_font, fill=LABEL_INK)
    header_bottom = round(bottom) + pad

    footer_top = height - margin
    if scene is not None:
        seconds = max(scene.end - scene.start, 0.0)
        span = f"{clock(scene.start)} - {clock(scene.end)}"
        title = f"SCENE {scene.number + 1}"
        beside = width - margin - pad - (round(right) + 2 * pad)  # room right of the label
        small, shown = one_line([title], beside, round(unit / 22))
        if _width(small, shown) <= beside:
            pen.text(
                (round(width - margin - pad - _width(small, shown)), margin + pad),
                shown,
                font=small,
                fill=INK,
            )
            footer = [f"{span}  ({seconds:.1f} s)", span]
        else:  # a narrow frame: the number goes to the footer
            footer = [f"{title}  {span}  ({seconds:.1f} s)", f"{title}  {span}", span]
        small, shown = one_line(footer, inner, round(unit / 22))
        box = pen.textbbox((0, 0), shown, font=small)
        footer_top = height - margin - pad - round(box[3] - box[1])
        pen.text((margin + pad, footer_top - round(box[1])), shown, font=small, fill=INK)

    # the prompt's words, centred in what is left
    body_top = header_bottom + margin
    body_bottom = footer_top - margin
    font, lines, step = fit(
        prompt.strip() or "(an empty prompt)",
        inner,
        max(1, body_bottom - body_top),
        round(unit / 12),
    )
    y = body_top + max(0, (body_bottom - body_top - step * len(lines)) // 2)
    for line in lines:
        x = round((width - _width(font, line)) / 2)
        pen.text((x, y), line, font=font, fill=INK)
        y += step

    info = PngInfo()
    info.add_text("Comment", COMMENT)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


class StoryboardBackend:
    """Draws a storyboard frame per prompt (``draw_frame``): no model, no network, no GPU."""

    def generate(
        self,
        prompt: str,
        negative_prompt: str,
        width: int,
        height: int,
        *,
        scene: SceneSpan | None = None,
    ) -> bytes:
        """One PNG (bytes) of ``width`` x ``height`` pixels; ``negative_prompt`` is not drawn
        (it says what a model should avoid). Never raises for a valid size."""
        return draw_frame(prompt, width, height, scene)
