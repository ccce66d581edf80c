from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from api.catalog.inputs import input_errors
from api.catalog.profiles import DEFAULT_PROFILES, CatalogError, load_catalog, parse_catalog
from api.v1alpha1.types import JobType


def profiles() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DEFAULT_PROFILES.read_text())
    return data


def test_default_profiles_put_whisper_images_and_video_on_the_gpu_pool() -> None:
    catalog = load_catalog()
    gpu = {t for t, p in catalog.profiles.items() if p.gpu}
    assert gpu == {JobType.TRANSCRIPTION, JobType.IMAGE_GENERATION, JobType.VIDEO_GENERATION}
    for job_type in gpu:
        profile = catalog.profile(job_type)
        assert profile.node_selector == {"nvidia.com/gpu.present": "true"}
        assert profile.tolerations[0].key == "nvidia.com/gpu"
    scenes = catalog.profile(JobType.SCENE_GENERATION)
    assert not scenes.node_selector and not scenes.tolerations
    assert scenes.ttl_seconds_after_finished == 86400  # from defaults


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["types"].pop("visual-prompts"), "no profile for job type(s) visual-prompts"),
        (lambda d: d["types"].update({"karaoke": {}}), "unknown job type(s) karaoke"),
        (
            lambda d: d["types"]["transcription"].update({"retries": 11}),
            "transcription.retries: Input should be less than or equal to 10",
        ),
        (
            lambda d: d["types"]["transcription"].update({"imagePullPolicy": "x"}),
            "transcription.imagePullPolicy: Extra inputs are not permitted",
        ),
        (
            lambda d: d["types"]["image-generation"].update({"tolerations": []}),
            "image-generation asks for nvidia.com/gpu but tolerates no taint",
        ),
        (
            lambda d: d["types"]["scene-generation"].pop("image"),
            "scene-generation.image: Field required",
        ),
    ],
)
def test_invalid_profiles_name_the_field(change: Any, message: str) -> None:
    data = profiles()
    change(data)
    with pytest.raises(CatalogError, match="profiles: ") as raised:
        parse_catalog(data)
    assert message in str(raised.value)


def test_unreadable_or_malformed_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"cannot read job profiles .*missing\.yaml"):
        load_catalog(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("types: [unclosed")
    with pytest.raises(CatalogError, match="is not valid YAML"):
        load_catalog(broken)


@pytest.mark.parametrize(
    ("job_type", "data", "errors"),
    [
        (JobType.TRANSCRIPTION, {"audioUrl": "https://x/a.mp3"}, []),
        (JobType.TRANSCRIPTION, {}, ["input.audioUrl: Field required"]),
        (
            JobType.TRANSCRIPTION,
            {"audioUrl": "file:///etc/passwd"},
            ["input.audioUrl: String should match pattern '^https?://'"],
        ),
        (
            JobType.TRANSCRIPTION,
            {"audioUrl": "https://x", "speed": 2},
            ["input.speed: Extra inputs are not permitted"],
        ),
        (
            JobType.SCENE_GENERATION,
            {"transcriptJobId": "nope"},
            ["input.transcriptJobId: String should match pattern"],
        ),
    ],
)
def test_input_errors_name_the_field(
    job_type: JobType, data: dict[str, Any], errors: list[str]
) -> None:
    found = input_errors(job_type, data)
    assert len(found) == len(errors)
    for got, want in zip(found, errors, strict=True):
        assert got.startswith(want)
