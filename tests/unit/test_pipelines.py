"""Pure pipeline decisions: which step lists are pipelines, step ids and inputs, the phase of a
pipeline from its steps, and its public view and summary."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from api.catalog.pipelines import (
    PIPELINE_ORDER,
    chain,
    pipeline_phase,
    pipeline_steps,
    step_inputs,
    step_job_id,
    steps_problem,
    summaries,
    to_pipeline,
    upstream_field,
)
from api.v1alpha1.types import Phase

PIPELINE = "4d8b1f0e-2c3a-4b5d-8e6f-7a9b0c1d2e3f"
PROJECT = "2f1c6a0e-8d3b-4c55-9a57-3f0b7e6d9c10"
AUDIO = "https://media.example.com/a.mp3"


def test_the_pipeline_order_is_the_declared_types_order() -> None:
    assert PIPELINE_ORDER == (
        "transcription",
        "scene-generation",
        "visual-prompts",
        "image-generation",
        "video-generation",
    )


def test_the_chain_stops_at_a_type_that_cannot_read_the_step_before() -> None:
    """A type added later whose input names no earlier job (it reads only an audio URL) ends
    the chain: transcription has no upstream field, so it cannot follow anything."""
    assert chain(["transcription", "scene-generation", "transcription", "visual-prompts"]) == (
        "transcription",
        "scene-generation",
    )


@pytest.mark.parametrize("length", range(1, 6))
def test_every_prefix_is_a_pipeline(length: int) -> None:
    assert steps_problem(PIPELINE_ORDER[:length]) is None


@pytest.mark.parametrize(
    "steps",
    [
        [],
        ["scene-generation"],
        ["transcription", "visual-prompts"],
        ["scene-generation", "transcription"],
        ["transcription", "transcription"],
        [*PIPELINE_ORDER, "transcription"],
    ],
)
def test_anything_but_a_prefix_is_refused_with_the_order_named(steps: list[str]) -> None:
    assert steps_problem(steps) == (
        "steps must be a non-empty prefix of transcription, scene-generation, visual-prompts, "
        "image-generation, video-generation (in this order)"
    )


def test_step_ids_are_uuid5s_of_the_pipeline_and_type_and_all_differ() -> None:
    ids = [step_job_id(PIPELINE, t) for t in PIPELINE_ORDER]
    assert len(set(ids)) == 5
    namespace = uuid.UUID("0e3b7c55-6f1d-4a8e-9c2b-5d4f7a1e8b93")
    assert ids[0] == str(uuid.uuid5(namespace, f"{PIPELINE}/transcription"))
    assert step_job_id(PIPELINE.upper(), "transcription") == ids[0]


def test_each_step_names_the_previous_one_and_takes_the_audio_where_it_has_that_field() -> None:
    built = step_inputs(PIPELINE, list(PIPELINE_ORDER), {"audio_url": AUDIO, "language": "en"})
    ids = {t: step_job_id(PIPELINE, t) for t in PIPELINE_ORDER}
    assert built == [
        ("transcription", {"audio_url": AUDIO, "language": "en"}),
        ("scene-generation", {"transcript_job_id": ids["transcription"]}),
        ("visual-prompts", {"scenes_job_id": ids["scene-generation"]}),
        ("image-generation", {"prompts_job_id": ids["visual-prompts"]}),
        ("video-generation", {"audio_url": AUDIO, "images_job_id": ids["image-generation"]}),
    ]


def test_unset_shared_values_are_left_out() -> None:
    assert step_inputs(PIPELINE, ["transcription"], {"audio_url": AUDIO, "language": None}) == [
        ("transcription", {"audio_url": AUDIO})
    ]


def test_the_upstream_field_of_each_later_step() -> None:
    assert [upstream_field(t) for t in PIPELINE_ORDER[1:]] == [
        "transcript_job_id",
        "scenes_job_id",
        "prompts_job_id",
        "images_job_id",
    ]
    with pytest.raises(ValueError, match="transcription has 0 upstream fields"):
        upstream_field("transcription")


@pytest.mark.parametrize(
    ("phases", "expected"),
    [
        ([], Phase.PENDING),
        ([None, None], Phase.PENDING),
        (["Pending", "Pending"], Phase.PENDING),
        (["Running", "Pending"], Phase.RUNNING),
        (["Succeeded", "Pending"], Phase.RUNNING),
        (["Succeeded", "Succeeded"], Phase.SUCCEEDED),
        (["Succeeded", "Cancelled", "Pending"], Phase.CANCELLED),
        (["Failed", "Cancelled", "Running"], Phase.FAILED),
        (["Succeeded", "Failed"], Phase.FAILED),
    ],
)
def test_the_pipeline_phase_from_its_steps(phases: list[str | None], expected: Phase) -> None:
    assert pipeline_phase(phases) is expected


def ojob(
    job_type: str,
    *,
    phase: str | None = None,
    created: str = "2026-01-01T00:00:00Z",
    pipeline: str = PIPELINE,
    project: str = PROJECT,
) -> dict[str, Any]:
    return {
        "metadata": {"name": f"{job_type}-{pipeline[:4]}", "creationTimestamp": created},
        "spec": {
            "type": job_type,
            "projectId": project,
            "jobId": step_job_id(pipeline, job_type),
            "pipelineId": pipeline,
            "input": {},
        },
        "status": {"phase": phase} if phase else {},
    }


def test_the_public_view_orders_steps_and_keeps_only_the_first_steps_project() -> None:
    steps = pipeline_steps(
        [
            ojob("visual-prompts", created="2026-01-01T00:00:02Z"),
            ojob("transcription", phase="Succeeded", created="2026-01-01T00:00:01Z"),
            ojob("scene-generation", phase="Running"),
            ojob("image-generation", project=str(uuid.uuid4())),  # carries the id, not part
        ]
    )
    view = to_pipeline(PIPELINE.upper(), steps)
    assert view.id == PIPELINE and view.project_id == PROJECT
    assert [s.type.value for s in view.steps] == [
        "transcription",
        "scene-generation",
        "visual-prompts",
    ]
    assert [s.id for s in view.steps] == [step_job_id(PIPELINE, s.type.value) for s in view.steps]
    assert (view.phase, view.created_at) == (Phase.RUNNING, "2026-01-01T00:00:00Z")
    assert pipeline_steps([]) == []


def test_summaries_group_by_pipeline_newest_first_and_skip_single_jobs() -> None:
    older, newer = str(uuid.uuid4()), str(uuid.uuid4())
    single = ojob("transcription", pipeline=str(uuid.uuid4()))
    del single["spec"]["pipelineId"]
    found = summaries(
        [
            ojob("transcription", pipeline=older, phase="Succeeded"),
            ojob("scene-generation", pipeline=older, phase="Failed"),
            ojob("transcription", pipeline=newer, created="2026-01-02T00:00:00Z"),
            single,
        ]
    )
    assert [(s.id, s.phase, s.step_count, s.created_at) for s in found] == [
        (newer, Phase.PENDING, 1, "2026-01-02T00:00:00Z"),
        (older, Phase.FAILED, 2, "2026-01-01T00:00:00Z"),
    ]


def test_the_example_manifests_are_the_chain_the_api_would_create() -> None:
    """charts/omvee/examples/pipeline.yaml: one pipeline id and project, the API's step ids,
    each step naming the previous one; the CRD's schema is checked by a server-side dry run
    (tests/integration/test_api_pipelines.py)."""
    from pathlib import Path

    import yaml

    from api.catalog.inputs import input_errors
    from api.v1alpha1.types import JobType, OmveeJobSpec

    path = Path(__file__).resolve().parents[2] / "charts/omvee/examples/pipeline.yaml"
    manifests = list(yaml.safe_load_all(path.read_text()))
    specs = [OmveeJobSpec.model_validate(m["spec"]) for m in manifests]
    pipeline = specs[0].pipeline_id
    assert pipeline and [s.type.value for s in specs] == list(PIPELINE_ORDER)
    previous = None
    for manifest, spec in zip(manifests, specs, strict=True):
        assert (spec.pipeline_id, spec.project_id) == (pipeline, specs[0].project_id)
        assert manifest["metadata"]["labels"] == {"omvee.io/pipeline-id": pipeline}
        assert spec.job_id == step_job_id(pipeline, spec.type.value)
        assert input_errors(JobType(spec.type), spec.input) == []
        if previous:
            field = upstream_field(spec.type.value)
            camel = field.split("_")[0] + "".join(w.title() for w in field.split("_")[1:])
            assert spec.input[camel] == previous
        previous = spec.job_id
