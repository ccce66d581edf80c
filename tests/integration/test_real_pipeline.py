"""The whole chain for real, from one API call: espeak-ng speech -> transcript (faster-whisper)
-> scenes -> visual prompts -> storyboard frames -> an MP4 with the audio, each step a real
pod of its built image on the real node, each starting only once its upstream succeeded.

``POST /v1/projects/{project}/pipelines`` with the audio URL creates all five OmveeJobs at
once; the operator holds each downstream until its upstream succeeded. The local profiles
(charts/omvee/examples/profiles-local.yaml) run every type on the node's CPU and draw the
images as storyboard frames (OMVEE_IMAGE_BACKEND=storyboard: no GPU, no image service). The
stack is test_real_jobs' (tests/realstack.py), with all five job images loaded.

Run alone: ``OMVEE_STATE_DIR=... OMVEE_PORT_BASE=... OMVEE_PG_PORT=...
.venv/bin/pytest -q tests/integration/test_real_pipeline.py``.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import subprocess
import wave
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client
from PIL import Image

from api.catalog.registry import DEFINITIONS
from api.v1alpha1 import constants
from jobimages.image_generation.storyboard import COMMENT, LABEL_FILL
from tests.api_process import SERVICE_TOKEN
from tests.helm import Release
from tests.localcluster.binaries import real_node_enabled
from tests.localcluster.cluster import LocalCluster
from tests.media import serving, speak
from tests.operator_process import OperatorProcess
from tests.realstack import RealStack, load_images, start_real_stack, stop_real_stack
from tests.waiting import wait_for

pytestmark = [
    pytest.mark.skipif(
        not real_node_enabled(), reason="OMVEE_REAL_NODE=0: the cluster runs without its real node"
    ),
    pytest.mark.cluster,
    pytest.mark.postgres,
    pytest.mark.media,
    pytest.mark.realnode,
]

PROJECT = "5d2e8a41-7c3b-4f6e-9a1d-2b4c6e8f0a13"
# A few sentences, none twice (see tests.media.PARAGRAPH): two or three scenes.
SPEECH = (
    "A lighthouse keeper climbs the stairs before dawn. "
    "The lamp turns slowly over the grey sea. "
    "Fishing boats return to the harbour with the morning tide. "
    "Children run along the beach looking for shells."
)
STEPS = [d.name for d in DEFINITIONS]  # pipeline order
FINAL = ("Succeeded", "Failed", "Cancelled")
TOLERANCE_SECONDS = 0.2


@pytest.fixture(scope="module")
def real_stack(
    local_cluster: LocalCluster,
    operator: OperatorProcess,
    chart_release: Release,
    api_namespace: str,
    operator_mirror_dsn: str,
) -> Iterator[RealStack]:
    operator.stop()  # the session's cluster-wide operator would act in this namespace too
    load_images(local_cluster, [d.image_name for d in DEFINITIONS])  # every step's image
    stack = start_real_stack(
        local_cluster,
        namespace=api_namespace,
        operator_kubeconfig=chart_release.operator_kubeconfig,
        api_kubeconfig=chart_release.api_kubeconfig,
        mirror_dsn=operator_mirror_dsn,
    )
    try:
        yield stack
    finally:
        stop_real_stack(stack)
        operator.start()


@pytest.fixture(scope="module")
def speech(
    real_stack: RealStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """(URL, path) of the spoken WAV, served on the node's address (which pods reach)."""
    folder = tmp_path_factory.mktemp("pipeline-media")
    path = speak(SPEECH, folder / "speech.wav")
    with serving(folder, real_stack.node_ip) as (url, _):
        yield f"{url}/speech.wav", path


@pytest.fixture
def http(real_stack: RealStack) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=real_stack.api.url,
        timeout=30,
        headers={"Authorization": f"Bearer {SERVICE_TOKEN}"},
    ) as session:
        yield session


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as audio:
        return audio.getnframes() / audio.getframerate()


def media_seconds(path: Path) -> float:
    """The duration ffmpeg (the one imageio-ffmpeg ships) reads from the file's header."""
    import imageio_ffmpeg

    probe = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
        capture_output=True,
        text=True,
    )
    match = re.search(r"Duration: (\d+):(\d+):(\d+\.\d+)", probe.stderr)
    assert match, probe.stderr
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def streams(path: Path) -> list[str]:
    import imageio_ffmpeg

    probe = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
        capture_output=True,
        text=True,
    )
    return re.findall(r"Stream #\S+: (\w+): (\w+)", probe.stderr)


def instant(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def fetch(http: httpx.Client, link: str) -> bytes:
    response = http.get(link)
    assert response.status_code == 200, (link, response.status_code, response.text[:300])
    return response.content


def wait_pipeline(http: httpx.Client, pipeline_id: str, timeout: float) -> dict[str, Any]:
    final: dict[str, Any] = {}

    def done() -> bool:
        response = http.get(f"/v1/pipelines/{pipeline_id}")
        assert response.status_code == 200, response.text
        final.clear()
        final.update(response.json())
        steps = final.get("steps") or []
        ended = final.get("phase") in FINAL and all(s.get("phase") in FINAL for s in steps)
        return ended or any(s.get("phase") in ("Failed", "Cancelled") for s in steps)

    wait_for(done, f"pipeline {pipeline_id} to finish", timeout)
    return final


def test_speech_becomes_a_storyboard_video_through_one_api_call(
    real_stack: RealStack,
    speech: tuple[str, Path],
    http: httpx.Client,
    core: client.CoreV1Api,
    tmp_path: Path,
) -> None:
    audio_url, audio_path = speech
    response = http.post(f"/v1/projects/{PROJECT}/pipelines", json={"audio_url": audio_url})
    assert response.status_code in (201, 202), response.text
    pipeline_id = response.json()["id"]

    pipeline = wait_pipeline(http, pipeline_id, timeout=900)
    steps = pipeline["steps"]
    assert [s["type"] for s in steps] == STEPS, pipeline
    assert pipeline["phase"] == "Succeeded", [
        (s["type"], s["phase"], s.get("reason"), s.get("message")) for s in steps
    ]
    assert all(s["phase"] == "Succeeded" and s["attempts"] == 1 for s in steps), steps

    # one submission: every step's OmveeJob existed before the first step had finished
    first_finished = instant(steps[0]["finished_at"])
    assert all(instant(s["created_at"]) <= first_finished for s in steps), steps
    # and each step ran only after its upstream had succeeded
    for upstream, step in itertools.pairwise(steps):
        assert instant(step["started_at"]) >= instant(upstream["finished_at"]), (upstream, step)
    # every step ran for real, one pod each, on the real node
    for step in steps:
        pods = core.list_namespaced_pod(
            real_stack.namespace, label_selector=f"{constants.LABEL_JOB_ID}={step['id']}"
        ).items
        assert [pod.spec.node_name for pod in pods] == [real_stack.node_name], step["type"]

    by_type = {s["type"]: s for s in steps}
    scenes = by_type["scene-generation"]["result"]["scenes"]
    assert scenes >= 1

    # the frames: one storyboard frame per scene, at the default 1024 x 576
    images_step = by_type["image-generation"]
    images = json.loads(fetch(http, images_step["result_links"]["images.json"]))["images"]
    assert len(images) == scenes
    for item in images:
        name = f"scene-{item['scene']:03d}.png"
        frame = Image.open(io.BytesIO(fetch(http, f"/v1/jobs/{images_step['id']}/results/{name}")))
        assert (frame.format, frame.size) == ("PNG", (1024, 576))
        assert frame.info.get("Comment") == COMMENT, frame.info
        corner = frame.convert("RGB").crop((0, 0, 300, 100)).tobytes()
        pixels = {tuple(corner[i : i + 3]) for i in range(0, len(corner), 3)}
        assert LABEL_FILL in pixels  # the red STORYBOARD label

    # the video: as long as the audio, within 0.2 s, with both streams
    audio_seconds = wav_seconds(audio_path)
    video_step = by_type["video-generation"]
    video = tmp_path / "video.mp4"
    video.write_bytes(fetch(http, video_step["result_links"]["video.mp4"]))
    seconds = media_seconds(video)
    assert abs(seconds - audio_seconds) <= TOLERANCE_SECONDS, (seconds, audio_seconds)
    assert abs(video_step["result"]["duration"] - audio_seconds) <= TOLERANCE_SECONDS
    kinds = {kind for kind, _ in streams(video)}
    assert kinds == {"Video", "Audio"}, streams(video)
    assert ("Video", "h264") in streams(video)
