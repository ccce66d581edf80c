"""Label values stay within bounded sets, and the job gauges count what the resync listed."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from controller.metrics import labels
from controller.metrics.snapshot import count_jobs


@pytest.mark.parametrize(
    ("function", "value", "expected"),
    [
        (labels.job_type, "transcription", "transcription"),
        (labels.job_type, "transcription-v2", "Other"),
        (labels.job_type, None, "Other"),
        (labels.phase, "Running", "Running"),
        (labels.phase, None, "Pending"),
        (labels.phase, "Lost", "Other"),
        (labels.waiting_reason, "Unschedulable", "Unschedulable"),
        (labels.waiting_reason, "waiting for a GPU node: 0/4 nodes", "Other"),
        (labels.failure_reason, "PermanentFailure", "PermanentFailure"),
        (labels.failure_reason, "MaxFailedIndexesExceeded", "Other"),
        (labels.failure_reason, 7, "Other"),
    ],
)
def test_label_values_are_bounded(function: Any, value: object, expected: str) -> None:
    assert function(value) == expected


def ojob(job_type: str, phase: str | None, reason: str | None = None) -> dict[str, Any]:
    status = {"phase": phase, "reason": reason} if phase else {}
    return {"spec": {"type": job_type}, "status": status}


def test_count_jobs_by_phase_and_waiting_reason() -> None:
    counts = count_jobs(
        [
            ojob("transcription", "Pending", "Unschedulable"),
            ojob("transcription", "Pending", "Unschedulable"),
            # a retry waiting for a GPU node: Running (it has started before), but waiting
            ojob("transcription", "Running", "Unschedulable"),
            ojob("transcription", "Running", "Running"),
            ojob("transcription", "Running", "Finishing"),
            ojob("scene-generation", None),  # not yet seen by the operator
            ojob("scene-generation", "Pending", "SomethingNew"),
            ojob("scene-generation", "Succeeded", "Succeeded"),
            ojob("video-generation", "Failed", "PendingTimeout"),
        ]
    )
    assert counts.by_phase == Counter(
        {
            ("transcription", "Pending"): 2,
            ("transcription", "Running"): 3,
            ("scene-generation", "Pending"): 2,
            ("scene-generation", "Succeeded"): 1,
            ("video-generation", "Failed"): 1,
        }
    )
    assert counts.waiting == Counter(
        {
            ("transcription", "Unschedulable"): 3,
            ("scene-generation", "Creating"): 1,
            ("scene-generation", "Other"): 1,
        }
    )
