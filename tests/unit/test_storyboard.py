"""The storyboard image backend: one honest frame per prompt (its words, the scene's time, a
STORYBOARD label on a plain background), deterministic, at the job's size; chosen by
OMVEE_IMAGE_BACKEND=storyboard. And the video's timeline, which makes the MP4 last as long as
the audio."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from jobimages.image_generation.__main__ import generate, scene_span
from jobimages.image_generation.backends import backend_from_env
from jobimages.image_generation.scene import SceneSpan, clock
from jobimages.image_generation.storyboard import (
    COMMENT,
    LABEL_FILL,
    LABEL_INK,
    PAPER,
    StoryboardBackend,
    draw_frame,
)
from jobimages.runtime.exitcodes import PermanentError
from jobimages.runtime.job import Job
from jobimages.runtime.progress import ConsoleReporter
from jobimages.runtime.results import LocalResults
from jobimages.runtime.run import Context
from jobimages.video_generation.assemble import timeline

PROMPT = "fox, jumps, lazy, dog, dark, forest. cinematic digital illustration, soft light, 16:9"
SCENE = SceneSpan(2, 4.25, 8.9)


def opened(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def pixels(image: Image.Image) -> list[tuple[int, ...]]:
    """RGB pixels, row by row (getdata is deprecated in newer Pillow)."""
    data = image.convert("RGB").tobytes()
    return [tuple(data[i : i + 3]) for i in range(0, len(data), 3)]


def colours(image: Image.Image, box: tuple[int, int, int, int]) -> set[tuple[int, ...]]:
    return set(pixels(image.crop(box)))


def dark(image: Image.Image) -> int:
    return sum(1 for pixel in pixels(image) if sum(pixel) < 3 * 100)


@pytest.mark.parametrize(("width", "height"), [(1024, 576), (512, 288), (576, 1024), (64, 64)])
def test_a_frame_has_the_jobs_size_and_is_a_png(width: int, height: int) -> None:
    png = StoryboardBackend().generate(PROMPT, "text", width, height, scene=SCENE)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = opened(png)
    assert (image.format, image.size, image.mode) == ("PNG", (width, height), "RGB")


def test_the_same_prompt_and_scene_give_the_same_bytes() -> None:
    first = draw_frame(PROMPT, 640, 360, SCENE)
    assert draw_frame(PROMPT, 640, 360, SCENE) == first
    assert b"tIME" not in first  # no timestamp in the file
    assert draw_frame(PROMPT, 640, 360, SceneSpan(3, 8.9, 12.0)) != first
    assert draw_frame(PROMPT + " more", 640, 360, SCENE) != first


def test_a_frame_is_labelled_a_storyboard_and_is_not_blank() -> None:
    image = opened(draw_frame(PROMPT, 1024, 576, SCENE))
    assert image.info["Comment"] == COMMENT
    # the label: white letters on red, in the top left corner
    corner = colours(image, (0, 0, 300, 100))
    assert LABEL_FILL in corner and LABEL_INK in corner
    # the prompt's words: dark ink across the middle of the paper
    assert PAPER in colours(image, (0, 200, 1024, 380))
    assert dark(image.crop((0, 200, 1024, 380))) > 1000
    # the scene's time along the bottom
    assert dark(image.crop((0, 500, 512, 560))) > 100


def test_a_longer_prompt_gets_smaller_letters_and_still_fits() -> None:
    long = " ".join([PROMPT] * 12)
    image = opened(draw_frame(long, 320, 180, SCENE))
    assert image.size == (320, 180)
    # nothing drawn past the frame's border (the last row and column are paper)
    edge = colours(image, (0, 179, 320, 180)) | colours(image, (319, 0, 320, 180))
    assert edge == {PAPER}


def test_a_frame_without_a_scene_and_an_empty_prompt_still_draws() -> None:
    image = opened(draw_frame("", 200, 200))
    assert image.size == (200, 200)
    assert LABEL_FILL in colours(image, (0, 0, 200, 60))


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0:00.0"), (4.25, "0:04.2"), (8.96, "0:09.0"), (62, "1:02.0"), (3725.5, "1:02:05.5")],
)
def test_scene_times_read_as_a_clock(seconds: float, shown: str) -> None:
    assert clock(seconds) == shown


def test_the_prompt_items_scene_reaches_the_backend() -> None:
    assert scene_span({"scene": 2, "start": 4.25, "end": "8.9", "prompt": "x"}) == SCENE
    assert scene_span({"prompt": "x"}) is None
    assert scene_span({"scene": "two", "start": 0, "end": 1}) is None


def test_the_job_stores_one_storyboard_frame_per_prompt(tmp_path: Path) -> None:
    job = Job(
        "image-generation",
        "proj",
        str(uuid.uuid4()),
        {"promptsJobId": str(uuid.uuid4()), "width": 320, "height": 180},
    )
    context = Context(job, ConsoleReporter(), LocalResults(tmp_path), tmp_path)
    prompts: dict[str, Any] = {
        "prompts": [
            {"scene": 0, "start": 0.0, "end": 2.0, "prompt": "a fox"},
            {"scene": 1, "start": 2.0, "end": 3.5, "prompt": "a forest"},
        ]
    }
    result = generate(context, prompts, StoryboardBackend())
    assert result["images"] == 2
    folder = tmp_path / "proj" / job.job_id / "run-0"
    images = json.loads((folder / "images.json").read_text())["images"]
    assert [item["scene"] for item in images] == [0, 1]
    first = (folder / "scene-000.png").read_bytes()
    assert first == draw_frame("a fox", 320, 180, SceneSpan(0, 0.0, 2.0))
    assert opened((folder / "scene-001.png").read_bytes()).size == (320, 180)


def test_the_storyboard_backend_is_chosen_by_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMVEE_IMAGE_BACKEND", "storyboard")
    assert isinstance(backend_from_env(), StoryboardBackend)
    monkeypatch.setenv("OMVEE_IMAGE_BACKEND", "sketch")
    with pytest.raises(PermanentError, match="'storyboard' \\(frames drawn without a model\\)"):
        backend_from_env()
    monkeypatch.delenv("OMVEE_IMAGE_BACKEND")
    with pytest.raises(PermanentError, match="or storyboard"):
        backend_from_env()


@pytest.mark.parametrize(
    ("spans", "audio", "expected"),
    [
        # scenes tiling the audio: each for its own span
        ([(0.0, 4.76), (4.76, 11.0), (11.0, 16.9)], 16.9, [4.76, 6.24, 5.9]),
        # the first scene starts late, a gap between scenes: shown at their scene's start
        ([(0.5, 4.0), (5.0, 9.0)], None, [5.0, 4.0]),
        # the audio lasts longer than the scenes: the last image until the audio ends
        ([(0.0, 2.0), (2.0, 4.0)], 6.5, [2.0, 4.5]),
        # the audio is shorter: the scenes' own end (ffmpeg cuts to the shorter)
        ([(0.0, 2.0)], 1.0, [2.0]),
    ],
)
def test_the_video_timeline_follows_the_scenes_and_the_audio(
    spans: list[tuple[float, float]], audio: float | None, expected: list[float]
) -> None:
    assert timeline(spans, audio) == pytest.approx(expected)
    if audio is not None and audio >= spans[-1][1]:
        assert sum(timeline(spans, audio)) == pytest.approx(audio)


def test_a_video_of_no_scene_is_refused() -> None:
    with pytest.raises(PermanentError, match="one image per scene"):
        timeline([], 3.0)
