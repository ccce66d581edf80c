"""Status derivation: the observed Job and pods -> phase, reason and a readable message."""

from __future__ import annotations

from typing import Any

import pytest

from api.v1alpha1.types import Phase
from controller.status import observe
from tests.unit.objects import JobObj, PodObj

GPU_FULL = (
    "0/4 nodes are available: 2 Insufficient nvidia.com/gpu, 2 node(s) didn't match "
    "Pod's node affinity/selector."
)


@pytest.mark.parametrize(
    ("job", "pods", "gpu", "expected"),
    [
        (
            JobObj().condition("Complete").counts(succeeded=1),
            [PodObj("p1").on("cpu-0").build()],
            False,
            (Phase.SUCCEEDED, "Succeeded", "succeeded", 1),
        ),
        (
            JobObj().condition("Complete").counts(succeeded=1, failed=2),
            [
                PodObj("p1").failed(1).build(),
                PodObj("p2").failed(1).build(),
                PodObj("p3").on("cpu-0").build(),
            ],
            False,
            (Phase.SUCCEEDED, "Succeeded", "succeeded after 3 attempts", 3),
        ),
        (
            JobObj().condition("Failed", "BackoffLimitExceeded").counts(failed=4),
            [PodObj(f"p{i}").failed(1).build() for i in range(4)],
            False,
            (Phase.FAILED, "BackoffLimitExceeded", "failed 4 times, last exit code 1", 4),
        ),
        (
            JobObj().condition("Failed", "BackoffLimitExceeded").counts(failed=1),
            [PodObj("p1").failed(137, "OOMKilled").build()],
            False,
            (
                Phase.FAILED,
                "BackoffLimitExceeded",
                "failed 1 times, last exit code 137 (OOMKilled)",
                1,
            ),
        ),
        (
            JobObj().condition("Failed", "DeadlineExceeded").counts(failed=1),
            [PodObj("p1").failed(143).build()],
            False,
            (Phase.FAILED, "DeadlineExceeded", "deadline exceeded after 600s", 1),
        ),
        (
            JobObj().condition("Failed", "PodFailurePolicy").counts(failed=1),
            [PodObj("p1").failed(65).build()],
            False,
            (
                Phase.FAILED,
                "PermanentFailure",
                "failed permanently with exit code 65 (bad input or unsupported media); "
                "not retried",
                1,
            ),
        ),
        (
            JobObj().counts(active=1),
            [PodObj("p1").on("gpu-1").running().build()],
            True,
            (Phase.RUNNING, "Running", "running on gpu-1 (attempt 1 of 3)", 1),
        ),
        (
            JobObj().counts(active=1),
            [PodObj("p1").unschedulable(GPU_FULL).build()],
            True,
            (Phase.PENDING, "Unschedulable", f"waiting for a GPU node: {GPU_FULL}", 1),
        ),
        (
            JobObj().counts(active=1),
            [PodObj("p1").unschedulable("0/4 nodes").build()],
            False,
            (Phase.PENDING, "Unschedulable", "waiting for a node: 0/4 nodes", 1),
        ),
        (
            JobObj().counts(active=1),
            [PodObj("p1").on("cpu-0").image_pull_error('pull "x": not found').build()],
            False,
            (Phase.PENDING, "ImagePullFailed", 'image pull failed: pull "x": not found', 1),
        ),
        (
            JobObj().counts(failed=1),
            [PodObj("p1").failed(3).build()],
            False,
            (Phase.RUNNING, "Retrying", "attempt 1 failed with exit code 3; retrying", 1),
        ),
        (
            JobObj().counts(active=1),
            [PodObj("p1").on("cpu-0").succeeded().build()],
            False,
            (Phase.RUNNING, "Finishing", "attempt 1 succeeded; waiting for the Job to complete", 1),
        ),
        (
            JobObj(),
            [],
            False,
            (Phase.PENDING, "Creating", "waiting for the Job controller to create a pod", 0),
        ),
    ],
)
def test_observation(
    job: JobObj, pods: list[dict[str, Any]], gpu: bool, expected: tuple[Phase, str, str, int]
) -> None:
    seen = observe(job.build(), pods, gpu=gpu, previous_attempts=0, previous_started_at=None)
    assert (seen.phase, seen.reason, seen.message, seen.attempts) == expected


def test_a_retry_waiting_for_a_node_stays_running_once_the_run_started() -> None:
    pods = [
        PodObj("p1", "2026-01-01T00:00:00Z").failed(1).build(),
        PodObj("p2", "2026-01-01T00:01:00Z").unschedulable("0/4 nodes").build(),
    ]
    seen = observe(
        JobObj().counts(failed=1, active=1).build(),
        pods,
        gpu=False,
        previous_attempts=1,
        previous_started_at="2026-01-01T00:00:05Z",
    )
    assert (seen.phase, seen.reason, seen.attempts) == (Phase.RUNNING, "Unschedulable", 2)
    assert seen.pod_name == "p2"
    assert seen.started_at == "2026-01-01T00:00:05Z"


def test_attempts_never_go_down_when_pods_are_gone() -> None:
    seen = observe(
        JobObj().counts(active=1).build(),
        [],
        gpu=False,
        previous_attempts=3,
        previous_started_at=None,
    )
    assert seen.attempts == 3


def test_times_are_normalized_to_utc_z() -> None:
    job = JobObj().condition("Complete", at="2026-01-01T00:05:00+00:00").build()
    seen = observe(job, [], gpu=False, previous_attempts=1, previous_started_at=None)
    assert seen.finished_at == "2026-01-01T00:05:00Z"


def test_failure_target_is_failing_not_retrying() -> None:
    job = (
        JobObj()
        .counts(failed=1)
        .condition("FailureTarget", "PodFailurePolicy", "Container job exited with exit code 65")
        .build()
    )
    seen = observe(
        job,
        [PodObj("p1").failed(65).build()],
        gpu=False,
        previous_attempts=1,
        previous_started_at="2026-01-01T00:00:00Z",
    )
    assert (seen.phase, seen.reason) == (Phase.RUNNING, "Failing")
    assert seen.message == ("failing (PodFailurePolicy): Container job exited with exit code 65")
    assert seen.pending_since is None


def test_success_criteria_met_is_finishing() -> None:
    job = JobObj().counts(succeeded=1).condition("SuccessCriteriaMet").build()
    seen = observe(
        job,
        [PodObj("p1").succeeded().build()],
        gpu=False,
        previous_attempts=1,
        previous_started_at=None,
    )
    assert (seen.phase, seen.reason) == (Phase.RUNNING, "Finishing")


def test_a_vanished_replacement_pod_does_not_start_a_pending_clock() -> None:
    """After an eviction, no pod exists for a moment: that is not a first attempt waiting."""
    seen = observe(
        JobObj().counts(active=0).build(),
        [],
        gpu=False,
        previous_attempts=1,
        previous_started_at="2026-01-01T00:00:00Z",
    )
    assert seen.reason == "Creating" and seen.pending_since is None
    first = observe(JobObj().build(), [], gpu=False, previous_attempts=0, previous_started_at=None)
    assert first.pending_since is not None


def test_offsets_are_converted_to_utc() -> None:
    job = JobObj().condition("Complete", at="2026-01-01T02:05:00+02:00").build()
    seen = observe(job, [], gpu=False, previous_attempts=1, previous_started_at=None)
    assert seen.finished_at == "2026-01-01T00:05:00Z"


def test_a_container_that_cannot_start_says_why() -> None:
    pod = PodObj("p1").on("cpu-0").build()
    pod["status"]["containerStatuses"] = [
        {
            "name": "job",
            "state": {
                "waiting": {
                    "reason": "CreateContainerConfigError",
                    "message": 'secret "supabase" not found',
                }
            },
        }
    ]
    seen = observe(
        JobObj().build(), [pod], gpu=False, previous_attempts=0, previous_started_at=None
    )
    assert (seen.phase, seen.reason) == (Phase.PENDING, "ContainerNotStarting")
    assert seen.message == (
        'the container cannot start on cpu-0: CreateContainerConfigError: secret "supabase" '
        "not found"
    )
    assert seen.pending_since is not None  # the pending timeout still applies


def test_a_permanent_failure_quotes_the_containers_last_line() -> None:
    log = "[  5%] downloading\nerror: not an audio file (text/plain): speech.txt\n\n"
    seen = observe(
        JobObj().condition("Failed", "PodFailurePolicy").counts(failed=1).build(),
        [PodObj("p1").failed(65, message=log).build()],
        gpu=False,
        previous_attempts=0,
        previous_started_at=None,
    )
    assert (seen.phase, seen.reason) == (Phase.FAILED, "PermanentFailure")
    assert seen.message == (
        "failed permanently with exit code 65: error: not an audio file (text/plain): "
        "speech.txt (bad input or unsupported media); not retried"
    )


def test_a_retry_quotes_the_last_line_shortened() -> None:
    seen = observe(
        JobObj().counts(failed=1).build(),
        [PodObj("p1").failed(75, message="x" * 1000).build()],
        gpu=False,
        previous_attempts=0,
        previous_started_at=None,
    )
    assert seen.reason == "Retrying"
    assert seen.message.startswith("attempt 1 failed with exit code 75: xxx")
    assert seen.message.endswith("…; retrying")
    assert len(seen.message) < 400
