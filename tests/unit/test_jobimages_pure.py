"""The pure parts of the job images: subtitle formats, scenes, prompts, the ffmpeg script."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from jobimages.runtime.exitcodes import PermanentError
from jobimages.runtime.job import Job
from jobimages.scene_generation.scenes import split_scenes
from jobimages.transcription.formats import to_srt, to_vtt
from jobimages.video_generation.assemble import concat_list
from jobimages.visual_prompts.prompts import keywords, prompt_for

SEGMENTS = [
    {"start": 0.0, "end": 1.5, "text": " Hello there."},
    {"start": 3661.25, "end": 3662.0, "text": "Later."},
]


def test_srt_and_vtt() -> None:
    assert to_srt(SEGMENTS) == (
        "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n"
        "2\n01:01:01,250 --> 01:01:02,000\nLater.\n"
    )
    assert to_vtt(SEGMENTS) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n\n"
        "01:01:01.250 --> 01:01:02.000\nLater.\n"
    )


def transcript(words: list[tuple[float, float, str]], duration: float) -> dict[str, Any]:
    return {
        "duration": duration,
        "segments": [
            {
                "start": words[0][0],
                "end": words[-1][1],
                "text": " ".join(w for _, _, w in words),
                "words": [{"start": s, "end": e, "word": w} for s, e, w in words],
            }
        ],
    }


def test_scenes_tile_the_audio_and_respect_the_maximum() -> None:
    words = [(i * 0.5, i * 0.5 + 0.4, f"w{i}" + ("." if i % 9 == 8 else "")) for i in range(60)]
    data = transcript(words, 31.0)
    scenes = split_scenes(data, max_seconds=6, min_seconds=2)
    assert scenes[0]["start"] == 0.0 and scenes[-1]["end"] == 31.0
    for before, after in itertools.pairwise(scenes):
        assert before["end"] == after["start"]  # no gap, no overlap
    assert all(s["end"] - s["start"] <= 6.5 for s in scenes[:-1])
    assert [s["index"] for s in scenes] == list(range(len(scenes)))
    assert split_scenes(data, max_seconds=6, min_seconds=2) == scenes  # deterministic
    assert " ".join(s["text"] for s in scenes) == " ".join(w for _, _, w in words)


def test_a_long_pause_closes_a_scene() -> None:
    data = transcript([(0, 1, "one"), (1.1, 3.5, "two"), (6.0, 7.0, "three")], 7.5)
    assert [s["text"] for s in split_scenes(data, min_seconds=3)] == ["one two", "three"]


def test_silence_is_one_scene() -> None:
    assert split_scenes({"duration": 4.0, "segments": []}) == [
        {"index": 0, "start": 0.0, "end": 4.0, "text": "", "title": "Silence"}
    ]


def test_prompts_are_deterministic_keywords_with_a_style() -> None:
    scene = {
        "index": 2,
        "start": 1.0,
        "end": 2.0,
        "text": "The fox runs into the dark forest, and the fox hides.",
    }
    assert keywords(scene["text"]) == ["fox", "runs", "dark", "forest", "hides"]
    prompt = prompt_for(scene, "watercolour")
    assert prompt["prompt"] == "fox, runs, dark, forest, hides. watercolour"
    assert prompt_for(scene, "watercolour") == prompt


def test_concat_script_repeats_the_last_image() -> None:
    script = concat_list([Path("/a.png"), Path("/b.png")], [2.5, 1.0])
    assert script == (
        "file '/a.png'\nduration 2.500\nfile '/b.png'\nduration 1.000\nfile '/b.png'\n"
    )
    with pytest.raises(PermanentError, match="one image per scene"):
        concat_list([Path("/a.png")], [1.0, 2.0])


def test_job_document_errors_are_permanent() -> None:
    with pytest.raises(PermanentError, match="OMVEE_JOB is not set"):
        Job.from_env({})
    with pytest.raises(PermanentError, match="not a valid job document"):
        Job.from_env({"OMVEE_JOB": "{not json"})
    job = Job.from_env(
        {
            "OMVEE_JOB": '{"type": "transcription", "projectId": "p", '
            '"jobId": "j", "input": {"audioUrl": "x"}, '
            '"name": "n", "namespace": "ns", "run": 2}'
        }
    )
    assert (job.name, job.namespace, job.run, job.input) == ("n", "ns", 2, {"audioUrl": "x"})


def test_progress_throttle_lets_phases_through_and_rate_limits_within_one() -> None:
    from jobimages.runtime.progress import ProgressThrottle

    throttle = ProgressThrottle(min_interval=1.0)
    sent = [
        value
        for value, message, now in [
            (0, "downloading audio", 0.0),
            (3, "downloading audio 60%", 0.2),  # same phase, too soon
            (8, "loading the model (cpu, int8)", 0.4),  # a new phase goes at once
            (30, "transcribed 5s of 25s", 0.6),  # and so does this one
            (50, "transcribed 12s of 25s", 0.9),  # too soon
            (70, "transcribed 18s of 25s", 1.7),  # a second later
            (60, "transcribed 15s of 25s", 3.0),  # never lower
            (100, "done", 1.8),  # 100 always goes
        ]
        if throttle.admit(value, message, now)
    ]
    assert sent == [0, 8, 30, 70, 100]
