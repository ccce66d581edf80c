"""Each job type has an image recipe whose entrypoint is the catalog's command, run non-root."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from api.catalog.profiles import load_catalog
from api.v1alpha1.types import JobType
from controller.builders import RUN_AS_USER
from tests.localcluster.images_plan import IMAGES
from tests.localcluster.layout import REPO_ROOT


@pytest.mark.parametrize("job_type", list(JobType))
def test_dockerfile_matches_the_catalog(job_type: JobType) -> None:
    profile = load_catalog().profile(job_type)
    module = profile.command[-1]
    assert profile.command[:2] == ["python", "-m"] and module.startswith("jobimages.")
    assert importlib.util.find_spec(f"{module}.__main__") is not None
    dockerfile = (REPO_ROOT / module.replace(".", "/") / "Dockerfile").read_text()
    base = default_base(dockerfile)
    assert ":" in base and not base.endswith(":latest")
    assert f"USER {RUN_AS_USER}" in dockerfile
    assert f'ENTRYPOINT ["python", "-m", "{module}"]' in dockerfile
    if job_type == JobType.TRANSCRIPTION:  # CTranslate2 needs cuDNN on the GPU
        assert base.startswith("nvidia/cuda:12.") and "cudnn" in base
    else:
        assert base == "python:3.11-slim"


def default_base(dockerfile: str) -> str:
    """The production base: the BASE_IMAGE arg's default, which the FROM line uses."""
    arg = re.search(r"^ARG BASE_IMAGE=(\S+)$", dockerfile, re.MULTILINE)
    assert arg, "the base must be the build arg BASE_IMAGE"
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", dockerfile, re.MULTILINE)
    return arg.group(1)


DOCKERFILES = [REPO_ROOT / image.dockerfile for image in IMAGES]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_image_is_lean_and_runs_on_a_read_only_root(path: Path) -> None:
    """No pip cache, no bytecode, no apt lists, no compilers; uid 10001 exists; HOME and the
    caches point into the /tmp emptyDir; `python` (the catalog's command) exists on any base."""
    dockerfile = path.read_text()
    default_base(dockerfile)
    assert "PIP_NO_CACHE_DIR=1" in dockerfile and "PYTHONDONTWRITEBYTECODE=1" in dockerfile
    assert "--no-compile" in dockerfile
    for line in dockerfile.splitlines():
        if "apt-get install" in line:
            assert "--no-install-recommends" in line
    if "apt-get update" in dockerfile:
        assert "rm -rf /var/lib/apt/lists/*" in dockerfile
        assert "python-is-python3" in dockerfile
    for compiler in ("build-essential", "gcc", "python3-dev"):
        assert compiler not in dockerfile
    assert "useradd --uid 10001" in dockerfile and f"\nUSER {RUN_AS_USER}\n" in dockerfile
    runtime_env = dockerfile[dockerfile.index("ENV HOME=/tmp") :]
    assert "XDG_CACHE_HOME=/tmp/" in runtime_env and "HF_HOME=/tmp/" in runtime_env
    assert runtime_env.index("ENV HOME") < runtime_env.index(f"USER {RUN_AS_USER}")


def test_each_job_image_installs_only_the_extras_it_imports() -> None:
    """faster-whisper only in transcription, imageio-ffmpeg only in video, torch only as the
    image-generation build arg."""
    installs = {
        p.parent.name: re.search(r"pip install --no-compile (.*?) \\", p.read_text()).group(1)  # type: ignore[union-attr]
        for p in DOCKERFILES
    }
    assert installs == {
        "controller": '"."',
        "transcription": '".[transcription]"',
        "scene_generation": '"."',
        "visual_prompts": '"."',
        "image_generation": '".[images]" ${DIFFUSERS_PACKAGES}',
        "video_generation": '".[video]"',
    }


def test_platform_image_runs_the_operator_and_api_as_the_charts_user() -> None:
    """controller/Dockerfile is the omvee-jobs image the chart runs both commands in."""
    dockerfile = (REPO_ROOT / "controller/Dockerfile").read_text()
    assert f"USER {RUN_AS_USER}" in dockerfile
    assert "--uid 10001" in dockerfile
    deployment = (REPO_ROOT / "charts/omvee/templates/operator/deployment.yaml").read_text()
    assert "command: [python, -m, controller]" in deployment
    api = (REPO_ROOT / "charts/omvee/templates/api/deployment.yaml").read_text()
    assert "command: [python, -m, api.rest]" in api
    assert importlib.util.find_spec("api.rest.__main__") is not None
    assert importlib.util.find_spec("controller.__main__") is not None
