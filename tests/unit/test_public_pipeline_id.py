"""JobPublic.pipeline_id: a pipeline's step names its pipeline (the dashboard links a job's page
to it); a job of no pipeline has no such key in its JSON, as before pipelines existed."""

from __future__ import annotations

from typing import Any

from api.catalog.pipelines import PipelinePublic, to_pipeline
from api.v1alpha1.public import to_public

PIPELINE = "4D8B1F0E-2C3A-4B5D-8E6F-7A9B0C1D2E3F"


def ojob(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "job-1", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {
            "type": "transcription",
            "jobId": "7b9e2c41-5a0f-4e8e-b1d2-6c3f4a5b6d7e",
            "projectId": "2f1c6a0e-8d3b-4c55-9a57-3f0b7e6d9c10",
            "input": {"audioUrl": "https://media.example.com/a.mp3"},
            **spec,
        },
    }


def test_a_steps_public_view_names_its_pipeline_in_lower_case() -> None:
    public = to_public(ojob(pipelineId=PIPELINE)).model_dump(mode="json")
    assert public["pipeline_id"] == PIPELINE.lower()


def test_a_job_of_no_pipeline_has_no_pipeline_id_key() -> None:
    public = to_public(ojob()).model_dump(mode="json")
    assert "pipeline_id" not in public
    assert to_public(ojob()).pipeline_id is None


def test_a_pipelines_steps_carry_it_too() -> None:
    view: PipelinePublic = to_pipeline(PIPELINE, [ojob(pipelineId=PIPELINE)])
    [step] = view.model_dump(mode="json")["steps"]
    assert step["pipeline_id"] == PIPELINE.lower()
