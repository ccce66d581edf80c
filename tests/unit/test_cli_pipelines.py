"""Pure: what `omvee pipelines list|get` prints."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from controller.cli.backend import CliError
from controller.cli.pipelines import pipeline_detail, pipeline_id_of, pipelines_table

NOW = datetime(2026, 1, 1, 0, 10, tzinfo=UTC)
PIPELINE = "4d8b1f0e-2c3a-4b5d-8e6f-7a9b0c1d2e3f"
PROJECT = "2f1c6a0e-8d3b-4c55-9a57-3f0b7e6d9c10"


def test_the_list_is_a_table_and_says_when_empty() -> None:
    assert pipelines_table([], NOW) == "No pipelines found."
    summary = {
        "id": PIPELINE,
        "project_id": PROJECT,
        "phase": "Running",
        "created_at": "2026-01-01T00:00:00Z",
        "step_count": 5,
    }
    assert pipelines_table([summary], NOW).splitlines() == [
        "ID                                     PROJECT                                "
        "PHASE     STEPS   AGE",
        f"{PIPELINE}   {PROJECT}   Running   5       10m",
    ]
    assert pipelines_table([{"namespace": "media"} | summary], NOW).startswith("NAMESPACE   ID")


def test_the_detail_names_each_steps_phase_progress_job_and_why() -> None:
    pipeline = {
        "id": PIPELINE,
        "project_id": PROJECT,
        "phase": "Failed",
        "created_at": "2026-01-01T00:00:00Z",
        "steps": [
            {"id": "a", "type": "transcription", "phase": "Failed", "progress": 40,
             "reason": "BackoffLimitExceeded", "message": "failed 3 times,\nlast exit code 1"},
            {"id": "b", "type": "scene-generation", "phase": None, "progress": 0,
             "reason": None, "message": None},
        ],
    }  # fmt: skip
    assert pipeline_detail(pipeline, NOW).splitlines() == [
        f"Pipeline:      {PIPELINE}",
        f"Project:       {PROJECT}",
        "Phase:         Failed",
        "Created:       2026-01-01T00:00:00Z (10m ago)",
        "",
        "STEP   TYPE               PHASE     PROGRESS   JOB   REASON / MESSAGE",
        "1      transcription      Failed    40%        a     "
        "BackoffLimitExceeded: failed 3 times, last exit code 1",
        "2      scene-generation   Pending   0%         b     -",
    ]


def test_a_pipeline_id_is_a_uuid() -> None:
    assert pipeline_id_of(PIPELINE.upper()) == PIPELINE
    with pytest.raises(CliError, match="no pipeline job-1: a pipeline id is a UUID"):
        pipeline_id_of("job-1")
