"""What one status write of an OmveeJob adds to the event metrics (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from controller.metrics.observations import Observations, observe_write, run_created_at

CREATED = "2026-01-01T00:00:00Z"


def ojob(job_type: str = "transcription", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"creationTimestamp": CREATED},
        "spec": {"type": job_type},
        "status": status,
    }


def finished_condition(status: str, at: str) -> list[dict[str, str]]:
    return [{"type": "Finished", "status": status, "reason": "x", "lastTransitionTime": at}]


PENDING = {"phase": "Pending", "run": 0, "attempts": 0, "reason": "Creating"}
STARTED = {
    "phase": "Running",
    "run": 0,
    "attempts": 1,
    "reason": "Running",
    "startedAt": "2026-01-01T00:00:07Z",
}


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        # the operator's first write: nothing happened yet
        ({}, PENDING, Observations("transcription")),
        # the first pod runs: queue wait from the OmveeJob's creation
        (PENDING, STARTED, Observations("transcription", queue_wait=7.0)),
        # still running, progress only: nothing new
        (STARTED, STARTED | {"reason": "Running"}, Observations("transcription")),
        # a second and third attempt
        (STARTED, STARTED | {"attempts": 3}, Observations("transcription", retries=2)),
        (
            STARTED | {"attempts": 2},
            STARTED | {"attempts": 3},
            Observations("transcription", retries=1),
        ),
        # success: run time and end to end
        (
            STARTED,
            STARTED
            | {"phase": "Succeeded", "reason": "Succeeded", "finishedAt": "2026-01-01T00:01:07Z"},
            Observations(
                "transcription", final_phase="Succeeded", run_seconds=60.0, end_to_end=67.0
            ),
        ),
        # started and ended between two passes (fast pods): all at once
        (
            PENDING,
            STARTED
            | {
                "phase": "Failed",
                "attempts": 3,
                "reason": "BackoffLimitExceeded",
                "finishedAt": "2026-01-01T00:00:17Z",
            },
            Observations(
                "transcription",
                retries=2,
                queue_wait=7.0,
                final_phase="Failed",
                run_seconds=10.0,
                end_to_end=17.0,
                failure_reason="BackoffLimitExceeded",
            ),
        ),
        # never started: no queue wait or run time, only end to end
        (
            PENDING,
            PENDING
            | {"phase": "Failed", "reason": "PendingTimeout", "finishedAt": "2026-01-01T00:15:00Z"},
            Observations(
                "transcription",
                final_phase="Failed",
                end_to_end=900.0,
                failure_reason="PendingTimeout",
            ),
        ),
        # a failure reason outside the known set is Other
        (
            STARTED,
            STARTED
            | {"phase": "Failed", "reason": "NewK8sReason", "finishedAt": STARTED["startedAt"]},
            Observations(
                "transcription",
                final_phase="Failed",
                run_seconds=0.0,
                end_to_end=7.0,
                failure_reason="Other",
            ),
        ),
        # cancelled while running
        (
            STARTED,
            STARTED
            | {"phase": "Cancelled", "reason": "Cancelled", "finishedAt": "2026-01-01T00:00:09Z"},
            Observations("transcription", final_phase="Cancelled", run_seconds=2.0, end_to_end=9.0),
        ),
        # a final phase is written once; later writes (e.g. saved logs) add nothing
        (
            STARTED | {"phase": "Succeeded", "finishedAt": "2026-01-01T00:01:07Z"},
            STARTED | {"phase": "Succeeded", "finishedAt": "2026-01-01T00:01:07Z", "logs": []},
            Observations("transcription"),
        ),
        # clocks that disagree never give a negative duration
        (
            PENDING,
            STARTED | {"startedAt": "2025-12-31T23:59:59Z"},
            Observations("transcription", queue_wait=0.0),
        ),
    ],
)
def test_observations_of_a_first_run(
    before: dict[str, Any], after: dict[str, Any], expected: Observations
) -> None:
    assert observe_write(ojob(**before), ojob(**after)) == expected


def test_a_rerun_counts_from_its_own_start() -> None:
    failed_run0 = {
        "phase": "Failed",
        "run": 0,
        "attempts": 3,
        "reason": "BackoffLimitExceeded",
        "startedAt": "2026-01-01T00:00:05Z",
        "finishedAt": "2026-01-01T00:00:30Z",
    }
    started_at = "2026-01-01T01:00:00Z"
    new_run = {
        "phase": "Pending",
        "run": 1,
        "attempts": 0,
        "reason": "Creating",
        "conditions": finished_condition("False", started_at),
    }
    # starting the rerun: the old run's attempts are not retries of the new one
    assert observe_write(ojob(**failed_run0), ojob(**new_run)) == Observations("transcription")
    running = new_run | {
        "phase": "Running",
        "attempts": 1,
        "startedAt": "2026-01-01T01:00:04Z",
        "reason": "Running",
    }
    assert observe_write(ojob(**new_run), ojob(**running)) == Observations(
        "transcription", queue_wait=4.0
    )
    done = running | {
        "phase": "Succeeded",
        "finishedAt": "2026-01-01T01:00:10Z",
        "conditions": finished_condition("True", "2026-01-01T01:00:10Z"),
    }
    assert observe_write(ojob(**running), ojob(**done)) == Observations(
        "transcription", final_phase="Succeeded", run_seconds=6.0, end_to_end=10.0
    )


def test_a_rerun_cancelled_before_it_started_took_no_time() -> None:
    at = "2026-01-01T01:00:00Z"
    before = {"phase": "Cancelled", "run": 0, "finishedAt": "2026-01-01T00:00:30Z"}
    after = {
        "phase": "Cancelled",
        "run": 1,
        "reason": "Cancelled",
        "finishedAt": at,
        "conditions": finished_condition("True", at),
    }
    assert observe_write(ojob(**before), ojob(**after)) == Observations(
        "transcription", final_phase="Cancelled", end_to_end=0.0
    )


def test_run_created_at_without_conditions_is_unknown() -> None:
    assert run_created_at(ojob(), {"run": 2}, {"run": 2}) is None


def test_an_unknown_type_is_other() -> None:
    assert observe_write(ojob("mystery", **PENDING), ojob("mystery", **STARTED)).job_type == "Other"
