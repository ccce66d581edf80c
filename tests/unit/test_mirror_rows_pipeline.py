"""The jobs row of a pipeline's step carries its pipeline id; a single job's row has none."""

from __future__ import annotations

from controller.mirror.rows import build_row
from tests.unit.test_mirror_rows import ojob

PIPELINE = "4D8B1F0E-2C3A-4B5D-8E6F-7A9B0C1D2E3F"


def test_a_steps_row_carries_its_pipeline_id_in_lower_case() -> None:
    step = ojob({"phase": "Running"})
    step["spec"]["pipelineId"] = PIPELINE
    assert build_row(step)["pipeline_id"] == PIPELINE.lower()


def test_a_single_jobs_row_has_no_pipeline_id() -> None:
    assert "pipeline_id" not in build_row(ojob())
