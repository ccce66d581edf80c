"""Transcription for real: espeak-ng speech over HTTP, faster-whisper tiny.en on the CPU; then
scenes, prompts and a video from that transcript; and the failures a user can cause."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from api.urlpolicy import ENV_ALLOWED_NETWORKS
from jobimages.runtime.job import Job
from jobimages.runtime.results import LocalResults
from jobimages.runtime.run import execute
from jobimages.scene_generation.scenes import split_scenes
from jobimages.transcription.whisper import transcribe
from jobimages.video_generation.assemble import assemble, ffmpeg, probe_seconds
from jobimages.visual_prompts.prompts import prompt_for
from tests.localcluster.layout import REPO_ROOT
from tests.media import SENTENCE, serve, silent_wav, speak, word_error_rate

pytestmark = pytest.mark.media


class Recorder:
    def __init__(self) -> None:
        self.updates: list[tuple[int, str]] = []
        self.final: dict[str, Any] | None = None
        self.notes: list[str] = []

    def progress(self, percent: float, message: str) -> None:
        self.updates.append((int(percent), message))

    def result(self, result: dict[str, Any]) -> None:
        self.final = result

    def note(self, message: str) -> None:
        self.notes.append(message)


@pytest.fixture(scope="module", autouse=True)
def local_media_allowed() -> Iterator[None]:
    """The media server is on 127.0.0.1, which the URL policy refuses; this test-only allowance
    opens that one address to the job runtime, in process and in the entrypoints it starts."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_ALLOWED_NETWORKS, '["127.0.0.1/32"]')
        yield


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    folder = tmp_path_factory.mktemp("media")
    speak(SENTENCE, folder / "speech.wav")
    silent_wav(folder / "empty.wav")
    (folder / "zero.wav").write_bytes(b"")
    (folder / "notes.txt").write_text("this is not audio at all\n" * 100)
    with serve(folder) as url:
        yield folder, url


@pytest.fixture(scope="module")
def transcript(
    media: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], Recorder, Path]:
    _, url = media
    results = tmp_path_factory.mktemp("results")
    job = Job("transcription", "proj", str(uuid.uuid4()), {"audioUrl": f"{url}/speech.wav"})
    recorder = Recorder()
    assert execute(transcribe, job, recorder, LocalResults(results)) == 0, recorder.notes
    assert recorder.final is not None
    path = Path(urlsplit(recorder.final["files"]["json"]).path)
    return json.loads(path.read_text()), recorder, path.parent


def test_transcript_words_timestamps_and_files(
    transcript: tuple[dict[str, Any], Recorder, Path],
) -> None:
    document, recorder, folder = transcript
    text = " ".join(s["text"] for s in document["segments"])
    assert word_error_rate(SENTENCE, text) <= 0.3, text
    assert document["language"] == "en"
    duration = document["duration"]
    assert 3.0 < duration < 10.0
    words = [w for s in document["segments"] for w in s["words"]]
    assert len(words) >= 12
    for word in words:
        assert 0 <= word["start"] <= word["end"] <= duration + 0.5
    starts = [w["start"] for w in words]
    assert starts == sorted(starts)
    percents = [p for p, _ in recorder.updates]
    assert percents == sorted(percents) and percents[-1] == 100
    assert recorder.final and recorder.final["words"] == len(words)

    srt = (folder / "transcript.srt").read_text()
    cues = re.findall(r"(\d+)\n(\d\d:\d\d:\d\d,\d{3}) --> (\d\d:\d\d:\d\d,\d{3})\n(.+)\n", srt)
    assert len(cues) == len(document["segments"])
    assert [int(c[0]) for c in cues] == list(range(1, len(cues) + 1))
    vtt = (folder / "transcript.vtt").read_text()
    assert vtt.startswith("WEBVTT\n\n")
    assert len(re.findall(r"\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}\n", vtt)) == len(cues)


def test_scenes_and_prompts_from_the_real_transcript(
    transcript: tuple[dict[str, Any], Recorder, Path],
) -> None:
    document, _, _ = transcript
    scenes = split_scenes(document, max_seconds=3.0, min_seconds=1.0)
    assert len(scenes) >= 2
    assert scenes[0]["start"] == 0.0
    assert scenes[-1]["end"] == pytest.approx(document["duration"], abs=0.01)
    for before, after in itertools.pairwise(scenes):
        assert before["end"] == after["start"] and before["start"] < before["end"]
    assert split_scenes(document, max_seconds=3.0, min_seconds=1.0) == scenes
    prompts = [prompt_for(scene, "watercolour") for scene in scenes]
    assert prompts == [prompt_for(scene, "watercolour") for scene in scenes]
    assert any("fox" in p["prompt"] for p in prompts)


def test_video_from_scenes_and_speech(
    transcript: tuple[dict[str, Any], Recorder, Path], media: tuple[Path, str], tmp_path: Path
) -> None:
    document, _, _ = transcript
    folder, _ = media
    scenes = split_scenes(document, max_seconds=3.0, min_seconds=1.0)
    images = []
    for index, colour in zip(
        range(len(scenes)), itertools.cycle(["red", "navy", "green"]), strict=False
    ):
        image = tmp_path / f"scene-{index}.png"
        subprocess.run(
            [
                ffmpeg(),
                "-y",
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                f"color=c={colour}:s=640x360",
                "-frames:v",
                "1",
                str(image),
            ],
            check=True,
        )
        images.append(image)
    video = assemble(
        images,
        [s["end"] - s["start"] for s in scenes],
        folder / "speech.wav",
        tmp_path / "video.mp4",
        24,
    )
    assert probe_seconds(video) == pytest.approx(probe_seconds(folder / "speech.wav"), abs=0.15)
    info = subprocess.run([ffmpeg(), "-i", str(video)], capture_output=True, text=True).stderr
    assert "Video: h264" in info and "Audio: aac" in info and "640x360" in info


def run_entrypoint(url: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    job = {
        "type": "transcription",
        "projectId": "proj",
        "jobId": str(uuid.uuid4()),
        "input": {"audioUrl": url},
    }
    return subprocess.run(
        [sys.executable, "-m", "jobimages.transcription"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMVEE_JOB": json.dumps(job), **(env or {})},
    )


@pytest.mark.parametrize(
    ("path", "env", "code", "message"),
    [
        ("/missing.wav", {}, 65, "does not exist (HTTP 404)"),
        ("/notes.txt", {}, 65, "the file is not audio that can be decoded"),
        ("/empty.wav", {}, 65, "the audio is empty"),
        ("/zero.wav", {}, 65, "the file is empty (0 bytes)"),
        ("/speech.wav", {"OMVEE_MAX_AUDIO_SECONDS": "2"}, 65, "over the 2s limit"),
        ("/speech.wav", {"OMVEE_MAX_AUDIO_BYTES": "1000"}, 65, "over the 1000-byte limit"),
        ("/cut", {}, 75, "failed: RemoteProtocolError"),
    ],
)
def test_bad_inputs_exit_with_the_documented_code(
    media: tuple[Path, str], path: str, env: dict[str, str], code: int, message: str
) -> None:
    _, url = media
    result = run_entrypoint(url + path, env)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    kind = "permanent failure" if code == 65 else "failed"
    assert result.stderr.strip().splitlines()[-1].startswith(kind)


def test_sigterm_stops_cleanly_and_exits_retryable(media: tuple[Path, str]) -> None:
    _, url = media
    job = {
        "type": "transcription",
        "projectId": "proj",
        "jobId": str(uuid.uuid4()),
        "input": {"audioUrl": f"{url}/slow"},
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "jobimages.transcription"],
        cwd=REPO_ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMVEE_JOB": json.dumps(job)},
    )
    assert process.stderr is not None
    for line in process.stderr:  # wait until the download has bytes in hand
        if "downloading audio" in line and not line.startswith("[  0%]"):
            break
    process.send_signal(signal.SIGTERM)
    rest = process.stderr.read()
    assert process.wait(timeout=30) == 75
    assert "failed: stopped by SIGTERM" in rest
